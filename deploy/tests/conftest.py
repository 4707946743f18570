import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploytools import K8S, OVERLAYS, render_kustomize  # noqa: E402


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """The overlays as kustomize renders them (kubectl's built-in kustomize)."""
    return {overlay: render_kustomize(K8S / "overlays" / overlay) for overlay in OVERLAYS}
