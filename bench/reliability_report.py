"""Render the figures of the last reliability run (bench/results/reliability.json, written by the
tests in tests/reliability/) into the table of docs/reliability.md, between its two markers.

    python -m bench.reliability_report        (run by `make test-reliability`)
"""

from __future__ import annotations

import json
import sys

from .common import REPO, RESULTS

DOC = REPO / "docs" / "reliability.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"
SKIP = {"test", "at", "machine", "scenario", "proves", "expected", "got"}


def render(data: dict) -> str:
    lines = ["| scenario | last run (UTC) | figures |", "|---|---|---|"]
    for key, item in sorted(data.get("scenarios", {}).items()):
        figures = "; ".join(f"{k}={v}" for k, v in item.items() if k not in SKIP and v is not None)
        machine = item.get("machine", {})
        lines.append(
            f"| {item.get('scenario', key)} | {item.get('at', '')} ({machine.get('cpu_count')} CPUs) | {figures} |"
        )
    return "\n".join(lines)


def main() -> int:
    source = RESULTS / "reliability.json"
    if not source.exists():
        print(f"no {source.relative_to(REPO)}: run `make test-reliability` first", file=sys.stderr)
        return 1
    text = DOC.read_text()
    if START not in text or END not in text:
        print(f"{DOC.relative_to(REPO)} has no {START} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{render(json.loads(source.read_text()))}\n{END}{tail}")
    print(f"figures written to {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
