#!/usr/bin/env python3
"""Create deploy/env/*.env from the *.env.example files, with generated secrets.

Each __NAME__ placeholder becomes a random hex secret, the same value in every file that names it
(postgres.env and orders.env agree on the orders password). All files are created together or not
at all: if some exist and others do not, nothing is written (the secrets could not agree).

    python3 deploy/env/make_env.py [--dir deploy/env]
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from pathlib import Path

PLACEHOLDER = re.compile(r"__([A-Z][A-Z0-9_]*)__")


def render(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.setdefault(m.group(1), secrets.token_hex(32)), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    examples = sorted(args.dir.glob("*.env.example"))
    if not examples:
        print(f"no *.env.example in {args.dir}", file=sys.stderr)
        return 2
    targets = {ex: ex.with_name(ex.name[: -len(".example")]) for ex in examples}
    present = [t for t in targets.values() if t.exists()]
    if len(present) == len(targets):
        print(f"env files present in {args.dir}: kept")
        return 0
    if present:
        print(
            "some env files exist and others do not; their secrets would not agree. Create the missing "
            f"ones by hand from the examples, or remove all of them to regenerate: {[p.name for p in present]}",
            file=sys.stderr,
        )
        return 1
    values: dict[str, str] = {}
    for example, target in targets.items():
        target.write_text(render(example.read_text(), values))
        target.chmod(0o600)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
