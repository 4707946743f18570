import pytest

from ecom_testkit.deploytools import K8S, OVERLAYS, render_kustomize


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """The overlays as kustomize renders them (kubectl's built-in kustomize)."""
    return {overlay: render_kustomize(K8S / "overlays" / overlay) for overlay in OVERLAYS}
