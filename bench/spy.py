"""py-spy (pinned in requirements-dev.txt) on running service processes: sampled stacks of each process
(gunicorn's workers included) while a benchmark runs, summarised as the functions where the time goes.

    with Spy({"orders web": pid, ...}, RESULTS / "saga.pyspy") as spy:
        ... run the load ...
    print(spy.summary())        # also written to <out>.txt

py-spy needs to ptrace the processes (root, or kernel.yama.ptrace_scope 0). Samples include idle
threads only when `idle=True`; by default only threads running (or waiting on the GIL) count, which is
where CPU goes.
"""

from __future__ import annotations

import collections
import signal
import subprocess
from pathlib import Path

from .common import BIN


class Spy:
    def __init__(self, pids: dict[str, int], out: Path, rate: int = 67, idle: bool = False):
        self.pids = pids
        self.out = Path(out)
        self.rate = rate
        self.idle = idle
        self.procs: dict[str, subprocess.Popen] = {}
        self.files: dict[str, Path] = {}

    def __enter__(self):
        self.out.mkdir(parents=True, exist_ok=True)
        for label, pid in self.pids.items():
            path = self.out / f"{label.replace(' ', '-')}.collapsed.txt"
            cmd = [
                str(BIN / "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                str(self.rate),
                "--nonblocking",
                "-o",
                str(path),
            ]
            if self.idle:
                cmd.append("--idle")
            self.procs[label] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.files[label] = path
        return self

    def __exit__(self, *exc):
        for proc in self.procs.values():
            proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        (self.out.parent / (self.out.name + ".txt")).write_text(self.summary())

    @staticmethod
    def _frame(frame: str) -> str:
        # "function (path/to/file.py:123)" -> "function (file.py)"
        name, _, where = frame.partition(" (")
        file = where.rsplit(":", 1)[0].rsplit("/", 2)
        return f"{name} ({'/'.join(file[-2:])})"

    def summary(self, top: int = 30) -> str:
        out = []
        for label, path in self.files.items():
            if not path.exists():
                out.append(f"== {label}: no samples (py-spy could not attach?)")
                continue
            own: collections.Counter = collections.Counter()
            incl: collections.Counter = collections.Counter()
            total = 0
            for line in path.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if not stack or not count.isdigit():
                    continue
                n = int(count)
                frames = [self._frame(f) for f in stack.split(";")[1:]]  # first: process/thread
                if not frames:
                    continue
                total += n
                own[frames[-1]] += n
                for f in set(frames):
                    incl[f] += n
            out.append(f"== {label}: {total} samples (running threads)")
            out.append("  self:")
            out += [f"    {n * 100 / total:5.1f}%  {f}" for f, n in own.most_common(top)]
            out.append("  inclusive:")
            out += [f"    {n * 100 / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
        return "\n".join(out) + "\n"
