"""`python -m console.translations`: compile the .mo files (make install)."""

from pathlib import Path

from . import compiled

print(f"console translations compiled in {compiled(Path(__file__).parent)}")
