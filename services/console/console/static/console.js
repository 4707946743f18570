// The console's one script (CSP: script-src 'self', no inline scripts): select-all boxes, print,
// and the keyboard: "/" focuses the search box, j/k move through the rows of the list (the row's
// first link takes the focus, so Enter opens it), x ticks the row's box, "?" shows the shortcuts.
document.addEventListener("click", function (event) {
  var target = event.target;
  if (target.matches("[data-select-all]")) {
    var boxes = document.querySelectorAll("input[type=checkbox][name='" + target.getAttribute("data-select-all") + "']");
    boxes.forEach(function (box) { box.checked = target.checked; });
  }
  if (target.matches("[data-print]")) {
    window.print();
  }
  if (target.matches("[data-shortcuts-open]")) {
    showShortcuts();
  }
});

function showShortcuts() {
  var dialog = document.getElementById("shortcuts");
  if (dialog && !dialog.open) { dialog.showModal(); }
}

function listRows() {
  return Array.prototype.slice.call(document.querySelectorAll("main table tbody tr[data-testid]"));
}

function moveRow(step) {
  var rows = listRows();
  if (!rows.length) { return; }
  var index = rows.findIndex(function (row) { return row.classList.contains("current"); });
  index = index < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, index + step));
  rows.forEach(function (row) { row.classList.remove("current"); row.removeAttribute("aria-current"); });
  var row = rows[index];
  row.classList.add("current");
  row.setAttribute("aria-current", "true");
  var link = row.querySelector("a[href]");
  if (link) {
    link.focus();
  } else {
    row.setAttribute("tabindex", "-1");
    row.focus();
  }
  row.scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey) { return; }
  var target = event.target;
  if (target.closest("input, textarea, select, [contenteditable]") || document.querySelector("dialog[open]")) {
    return;
  }
  if (event.key === "/") {
    var search = document.querySelector("[data-shortcut=search]");
    if (search) { event.preventDefault(); search.focus(); search.select(); }
  } else if (event.key === "j") {
    moveRow(1);
  } else if (event.key === "k") {
    moveRow(-1);
  } else if (event.key === "x") {
    var current = document.querySelector("main tr.current input[type=checkbox]");
    if (current) { current.click(); }
  } else if (event.key === "?") {
    event.preventDefault();
    showShortcuts();
  }
});

// htmx swapped the list: no row is current any more
document.addEventListener("htmx:afterSwap", function () {
  listRows().forEach(function (row) { row.classList.remove("current"); });
});
