"""Documentation names what exists: every relative link of a Markdown file reaches its file (and its
heading), and every file a comment or docstring names is in the repository.

A file renamed or moved leaves behind the comments that send readers to it; this test fails on the
first such name instead of leaving it for a reader to discover.
"""

import ast
import io
import os
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SKIP_DIRS = {"__pycache__", "node_modules", "results"}
# The contract's documents sit beside the repository (shared/), not in it.
BESIDE = {"CONTRACTS.md", "MESSAGING-NOTES.md", "BUSINESS-RULES.md", "STYLE.md"}
# Files that exist only once something has run: the benchmarks' output (bench/results/).
WRITTEN_BY_RUNS = ("bench/results/",)
# Examples of a format, not references: "function (path/to/file.py:123)".
PLACEHOLDERS = ("path/to/", "file.py")

FILE_NAME = re.compile(
    r"(?<![\w/.:<>{*$-])((?:[\w.-]+/)*[\w-]+\.(?:py|md|ya?ml|toml|ini|sh|json|txt|cfg|conf|sql|j2|html))(?![\w.])"
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def repo_files() -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not (d.startswith(".") or d in SKIP_DIRS or d.endswith(".egg-info")))
        out += [Path(folder, f) for f in sorted(files)]
    return out


FILES = repo_files()
RELATIVE = {f.relative_to(ROOT).as_posix() for f in FILES}
BASENAMES = {f.name for f in FILES}


def named_file_exists(name: str, here: Path) -> bool:
    """A bare name is any file of that name; a path is relative to the root, to the naming file's
    folder, or the tail of a file's path (`ecom_common/events.py`)."""
    if name in BESIDE or name.startswith(WRITTEN_BY_RUNS + PLACEHOLDERS):
        return True
    if "/" not in name:
        return name in BASENAMES
    if (here.parent / name).resolve().is_file():
        return True
    return name in RELATIVE or any(r.endswith("/" + name) for r in RELATIVE)


def prose_of(path: Path):
    """(line, text) of each comment and docstring of a Python file; of each `#` comment otherwise."""
    source = path.read_text()
    if path.suffix != ".py":
        for n, line in enumerate(source.splitlines(), 1):
            if "#" in line and not line.lstrip().startswith(("#!", "http")):
                yield n, line.split("#", 1)[1]
        return
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                for i, line in enumerate(doc.splitlines()):
                    yield node.body[0].lineno + i, line


def has_prose(path: Path) -> bool:
    return path.suffix in (".py", ".sh", ".yml", ".yaml", ".toml", ".ini") or path.name in (
        "Makefile",
        "Dockerfile",
        "Procfile",
    )


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_comments_and_docstrings_name_files_that_exist():
    stale = []
    for path in filter(has_prose, FILES):
        # Tokenizing every file is slow on a busy machine: only a file naming something missing
        # anywhere in its text is read for where that name sits (prose, or code).
        if all(named_file_exists(name, path) for name in FILE_NAME.findall(path.read_text())):
            continue
        stale += [
            f"{path.relative_to(ROOT)}:{line}: {m.group(1)}"
            for line, text in prose_of(path)
            for m in FILE_NAME.finditer(text)
            if not named_file_exists(m.group(1), path)
        ]
    assert stale == []


def test_markdown_links_reach_their_file_and_heading():
    broken = []
    for path in (f for f in FILES if f.suffix == ".md"):
        for target in LINK.findall(path.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s):, mailto:
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.is_file():
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in {slug(h) for h in HEADING.findall(dest.read_text())}:
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []
