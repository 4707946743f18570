"""Where the front-end packages are: `make install` installs htmx.org (npm, pinned) into
.venv/console-assets; CONSOLE_ASSETS_DIR points elsewhere (the image)."""

from __future__ import annotations

import sys
from pathlib import Path

from .settings import Settings

HTMX_VERSION = "2.0.11"


def assets_dir(settings: Settings) -> Path:
    if settings.assets_dir:
        return Path(settings.assets_dir)
    return Path(sys.prefix) / "console-assets" / "node_modules" / "htmx.org" / "dist"
