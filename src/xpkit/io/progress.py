"""Build output a person can follow: one line per stage with its elapsed time,
dbt's per-node log in a file with a one-line summary on the terminal, and a
closing headline.

``make run`` / ``make build`` (``python -m xpkit.publish build``) print, per
stage (install, load, dbt, gates, report, publish), a line when it starts and
one when it ends with its elapsed time. dbt's own output (a line per node,
with colour codes) goes to ``logs/dbt-build.log``; the terminal gets
``dbt: PASS=350 WARN=0 ERROR=0 SKIP=0 (log: logs/dbt-build.log)`` and, when a
node fails, the failing nodes and the log path. ``VERBOSE=1`` (environment)
shows dbt's full output as well.

The parsing and formatting functions are pure (tests/io/test_progress.py);
``run_logged`` is the one function that runs a process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = [
    "DbtSummary",
    "decision_headline",
    "elapsed",
    "run_logged",
    "stage",
    "strip_ansi",
    "summarise_dbt",
    "verbose",
]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_DONE = re.compile(
    r"Done\. PASS=(?P<passed>\d+) WARN=(?P<warned>\d+) ERROR=(?P<errors>\d+)"
    r"(?: SKIP=(?P<skipped>\d+))?"
)
# "12 of 361 ERROR creating sql table model marts.x ..... [ERROR in 0.1s]",
# "300 of 361 FAIL 3 not_null_x_id ..... [FAIL 3 in 0.05s]"
_NODE = re.compile(r"\b\d+ of \d+ (?P<status>ERROR|FAIL|WARN)\b.*?(?P<node>\S+) \.{3,}")
DECISION_ORDER = ("scale", "iterate", "keep_running", "stop", "do_not_start")


def strip_ansi(line: str) -> str:
    """A terminal line without its colour codes."""
    return _ANSI.sub("", line)


def verbose(environ: Mapping[str, str] | None = None) -> bool:
    """VERBOSE=1 (or any value but "", 0, false, no) shows dbt's full output."""
    value = (os.environ if environ is None else environ).get("VERBOSE", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def elapsed(seconds: float) -> str:
    """``4.2 s`` below a minute, ``1 min 05 s`` from one."""
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


@dataclass(frozen=True)
class DbtSummary:
    """What a dbt build's output says: its counts and the nodes that failed."""

    passed: int | None = None
    warned: int | None = None
    errors: int | None = None
    skipped: int | None = None
    failing: tuple[str, ...] = field(default_factory=tuple)
    warning: tuple[str, ...] = field(default_factory=tuple)

    def line(self, log: str) -> str:
        """``dbt: PASS=350 WARN=0 ERROR=0 SKIP=0 (log: logs/dbt-build.log)``."""
        if self.passed is None:
            return f"dbt: no summary line in its output (log: {log})"
        counts = (
            f"PASS={self.passed} WARN={self.warned} ERROR={self.errors} "
            f"SKIP={self.skipped or 0}"
        )
        return f"dbt: {counts} (log: {log})"


def summarise_dbt(lines: Iterable[str]) -> DbtSummary:
    """The counts of dbt's ``Done.`` line and the nodes reported ERROR/FAIL
    (and WARN) on their own lines, in order, without repeats."""
    counts: dict[str, int] = {}
    failing: list[str] = []
    warning: list[str] = []
    for raw in lines:
        line = strip_ansi(raw)
        done = _DONE.search(line)
        if done:
            counts = {k: int(v) for k, v in done.groupdict().items() if v is not None}
            continue
        node = _NODE.search(line)
        if node:
            target = warning if node["status"] == "WARN" else failing
            if node["node"] not in target:
                target.append(node["node"])
    return DbtSummary(
        passed=counts.get("passed"),
        warned=counts.get("warned"),
        errors=counts.get("errors"),
        skipped=counts.get("skipped"),
        failing=tuple(failing),
        warning=tuple(warning),
    )


def decision_headline(decisions: Iterable[str | None], report: str) -> str:
    """``5 experiments: 2 scale, 2 iterate, 1 do not start; report: <path>``."""
    counts = Counter(d or "no decision" for d in decisions)
    total = sum(counts.values())
    order = [d for d in DECISION_ORDER if d in counts]
    order += sorted(d for d in counts if d not in DECISION_ORDER)
    parts = ", ".join(f"{counts[d]} {d.replace('_', ' ')}" for d in order)
    noun = "experiment" if total == 1 else "experiments"
    return f"{total} {noun}: {parts or 'none'}; report: {report}"


@contextmanager
def stage(
    name: str,
    detail: str = "",
    out: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Print ``==> <name>: <detail>`` at the start and ``    <name> done in
    4.2 s`` at the end (``failed after`` when the block raises)."""
    out(f"==> {name}{': ' + detail if detail else ''}")
    started = clock()
    try:
        yield
    except BaseException:
        out(f"    {name} failed after {elapsed(clock() - started)}")
        raise
    out(f"    {name} done in {elapsed(clock() - started)}")


def run_logged(
    command: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    show: bool = False,
    terminal: IO[str] | None = None,
) -> tuple[int, DbtSummary]:
    """Run ``command``, its output (stdout and stderr) into ``log_path``
    without colour codes (and to the terminal too when ``show``); return its
    exit code and the summary of what it printed."""
    terminal = terminal or sys.stdout
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    with (
        log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            clean = strip_ansi(line)
            log.write(clean)
            lines.append(clean)
            if show:
                terminal.write(line)
                terminal.flush()
        code = process.wait()
    return code, summarise_dbt(lines)
