"""The codebase's own checks, run by `make test`: ruff, lint and format, configured in ruff.toml, and
mypy, strict on the files mypy.ini names (the shared kernel and every service's domain.py). A failure
prints the tool's report: fix the code, or, where a rule is wrong for this codebase, say why in the
configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess:
    tool = BIN / argv[0]
    if not tool.exists():
        pytest.fail(f"{argv[0]} is not installed in {BIN}: `make install` installs requirements-dev.txt")
    return subprocess.run([str(tool), *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_check_is_clean():
    result = run("ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is():
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    result = run("mypy", "--config-file", "mypy.ini")
    assert result.returncode == 0, result.stdout + result.stderr
