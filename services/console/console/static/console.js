// The console's one script (CSP: script-src 'self', no inline scripts): select-all boxes, print.
document.addEventListener("click", function (event) {
  var target = event.target;
  if (target.matches("[data-select-all]")) {
    var boxes = document.querySelectorAll("input[type=checkbox][name='" + target.getAttribute("data-select-all") + "']");
    boxes.forEach(function (box) { box.checked = target.checked; });
  }
  if (target.matches("[data-print]")) {
    window.print();
  }
});
