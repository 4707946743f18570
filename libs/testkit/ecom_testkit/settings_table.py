"""A service README's "## Settings" table against the service's `Settings` (ecom_common.settings).

The table has one row per variable, the variable in backticks in the first column and its default in
the second, written as an operator would type it: `30`, `0.5`, `true`, `新疆,西藏` (a list, comma
separated, no spaces). A setting whose default is None (unset: derived, generated or off) may say in
words what happens then. Each service's tests call `assert_readme_lists(Settings, README)`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROW = re.compile(r"^\|\s*`(?P<env>[A-Z][A-Z0-9_]+)`\s*\|\s*(?P<default>[^|]*?)\s*\|")


def written(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def readme_rows(readme: Path) -> dict[str, str]:
    text = readme.read_text(encoding="utf-8")
    section = text.split("\n## Settings", 1)
    assert len(section) == 2, f"{readme} has no '## Settings' section"
    body = section[1].split("\n## ", 1)[0]
    rows = {}
    for line in body.splitlines():
        m = ROW.match(line.strip())
        if m:
            rows[m["env"]] = m["default"].strip().strip("`")
    return rows


def assert_readme_lists(settings_cls: type, readme: Path) -> None:
    rows = readme_rows(readme)
    table = {row.env: row.default for row in settings_cls.table()}
    assert sorted(rows) == sorted(table), (
        f"{readme.name}'s settings table and {settings_cls.__module__}.{settings_cls.__name__} differ: "
        f"only in the README {sorted(set(rows) - set(table))}, only in the code {sorted(set(table) - set(rows))}"
    )
    wrong = {
        env: (rows[env], written(default))
        for env, default in table.items()
        if default is not None and rows[env] != written(default)
    }
    assert not wrong, f"defaults in {readme.name} (README, code): {wrong}"
