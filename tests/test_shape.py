"""The one shape of every service, checked (README, "Every service has the same shape" and "Names"):
a module past ~500 lines is split, no use case takes a long positional argument list, every service
has the same files, reads its settings through one `Settings`, and no module calls another's private
names. A failure names the file and what to do."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.parent.parent.name for p in ROOT.glob("services/*/*/app.py"))
MAX_LINES = 520  # "~500": a module past it becomes a package whose parts repeat the shape
MAX_PARAMETERS = 5  # beyond it, keyword-only arguments or a small value object


def production_modules() -> list[Path]:
    found = [*ROOT.glob("services/*/*/**/*.py"), *ROOT.glob("libs/common/ecom_common/*.py")]
    return sorted(p for p in found if "/tests/" not in str(p) and "/migrations/" not in str(p))


def test_every_service_has_the_same_rooms():
    for name in SERVICES:
        package = ROOT / "services" / name / name
        for room in ("domain.py", "models.py", "handlers.py", "settings.py", "app.py"):
            assert (package / room).exists(), f"services/{name}/{name}/{room} is missing"
        assert (package / "operations.py").exists() or (package / "operations").is_dir(), name
        assert (package / "api.py").exists() or (package / "api").is_dir(), name
        assert (ROOT / "services" / name / "tests" / "test_settings.py").exists(), f"{name}: tests/test_settings.py"


@pytest.mark.parametrize("path", production_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it into a package"


def test_no_service_function_takes_a_long_argument_list():
    long = []
    for path in production_modules():
        if "/services/" not in str(path):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args)]
                count = len(names) + len(a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
                count -= bool(names) and names[0] in ("self", "cls")
                if count > MAX_PARAMETERS:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({count})")
    assert long == [], "more than 5 parameters: take a ctx, keyword-only arguments or a value object"


def test_services_read_settings_only_through_their_settings_class():
    readers = [
        str(path.relative_to(ROOT))
        for path in production_modules()
        if "/services/" in str(path) and "config.setting(" in path.read_text(encoding="utf-8")
    ]
    assert readers == [], "read <SERVICE>_* variables as fields of settings.Settings"


def test_no_module_calls_another_modules_private_names():
    calls = []
    for path in production_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom | ast.Import)
            for alias in node.names
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in imported
            ):
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
    assert calls == [], "another module's private name: make it public or move the code"
