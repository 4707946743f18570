"""The console's messages: English msgids, the zh_CN catalogue in zh/LC_MESSAGES/messages.po (Babel finds zh_CN there).
`compiled()` writes the .mo files Flask-Babel reads next to each .po when they are missing or older
(make install also runs it), so that no binary file is kept in the repository."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def compiled(directory: Path) -> Path:
    """`directory` with its .mo files up to date, or a private copy when it is not writable."""
    try:
        _compile_into(directory, directory)
        return directory
    except OSError:
        target = Path(tempfile.mkdtemp(prefix="console-translations-"))
        _compile_into(directory, target)
        return target


def _compile_into(source: Path, target: Path) -> None:
    for po in source.glob("*/LC_MESSAGES/messages.po"):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh)
        tmp = mo.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(mo)
