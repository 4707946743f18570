"""CODEOWNERS gives every service its team and the shared kernel to the platform group, and names only
paths that exist (a moved folder would silently lose its reviewers)."""

from pathlib import Path

import pytest

from ecom_common.config import SERVICES

ROOT = Path(__file__).resolve().parents[3]
CODEOWNERS = ROOT / ".github" / "CODEOWNERS"
PLATFORM = "@ecom/platform"


def rules() -> list[tuple[str, list[str]]]:
    out = []
    for line in CODEOWNERS.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            out.append((pattern, owners))
    return out


def owners_of(path: str) -> list[str]:
    """GitHub's rule for the patterns this file uses (`*`, `/folder/`, `/file`): the last match wins."""
    found: list[str] = []
    for pattern, owners in rules():
        anchored = pattern.lstrip("/")
        if pattern == "*" or path == anchored or path.startswith(anchored.rstrip("/") + "/"):
            found = owners
    return found


def test_only_the_pattern_forms_the_matcher_here_understands():
    assert [p for p, _ in rules() if p != "*" and (not p.startswith("/") or "*" in p or "?" in p)] == []


def test_every_pattern_names_a_path_that_exists():
    assert [p for p, _ in rules() if p != "*" and not (ROOT / p.lstrip("/")).exists()] == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_is_reviewed_by_its_team(service):
    for path in (
        f"services/{service}/README.md",
        f"services/{service}/{service}/operations.py",
        f"services/{service}/tests/conftest.py",
    ):
        assert owners_of(path) == [f"@ecom/{service}-team"], path


def test_every_folder_under_services_has_a_team():
    folders = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())
    assert {f: owners_of(f"services/{f}/pyproject.toml") for f in folders} == {f: [f"@ecom/{f}-team"] for f in folders}


@pytest.mark.parametrize(
    "path",
    [
        "libs/common/ecom_common/topology.py",
        "deploy/Dockerfile",
        "tests/integration/conftest.py",
        "tests/reliability/conftest.py",
        "Makefile",
        ".ci/run",
        "README.md",
        "pytest.ini",
    ],
)
def test_the_shared_kernel_and_the_platform_files_are_the_platform_groups(path):
    assert owners_of(path) == [PLATFORM]
