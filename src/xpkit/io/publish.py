"""Build, check, then publish: ``python -m xpkit.io.publish load|build|publish``.

``make load``, ``make build``, ``make refresh``, ``make run`` and ``make publish``
call this module. Readers (BI tools, ``make query``, notebooks) open the
*published* files; every write goes to a *build file* first, and the published
files are replaced only when the build is complete and its gates passed.

Files, for a published warehouse ``P`` (``$DUCKDB_PATH``, default
``warehouse.duckdb``):

* ``P`` (``warehouse.duckdb``): the full published warehouse (every schema), the
  file analysts open read-only. Replaced atomically at publish.
* ``P.bi`` (``warehouse.bi.duckdb``): the marts only, small-cell suppressed,
  written with ``storage_compatibility_version`` ``v1.4.0`` so that DuckDB 1.4
  clients (Evidence, older notebooks) open it. Replaced atomically at publish.
* ``P.build/`` (``warehouse.duckdb.build/``): the build folder. It holds the
  build file ``warehouse.duckdb`` (what ``make load`` writes and dbt builds; it
  persists between builds, so incremental models find their previous state),
  ``state.json`` and, during a salted build, dbt's compiled SQL (deleted
  afterwards, and at the next start when a build was killed).
* ``P.lock`` (``warehouse.duckdb.lock``): the writer lock (``flock``). One
  load, build, refresh or publish runs at a time; a second one waits
  ``XP_LOCK_TIMEOUT`` seconds (default 0) and then stops with one sentence
  naming the running process.

A build: lock; finish or clean up an interrupted publish; dbt build on the build
file; the gates (``python -m xpkit.io.validate``) and the report (``python -m
xpkit.report``) into a staging folder next to the report folder; three rows
``build/status``, ``build/gates``, ``build/published_at`` appended to
``marts.build_manifest``; the BI file; then the publish: a checkpointed copy of
the build file and the BI file are renamed onto ``P`` and ``P.bi``
(``os.replace``), and the staged report folder is exchanged with the report
folder in one ``renameat2(RENAME_EXCHANGE)`` call (two renames where the kernel
lacks it). A journal written just before the first rename lets the next
command finish a publish killed halfway (roll forward); before it, a kill leaves
the published files and the report exactly as they were.

A reader that opened ``P`` before a publish keeps reading the old file (Linux
keeps a renamed-over file alive while it is open); the next reader gets the new
one. Readers never block a build: nothing writes ``P`` in place.

Test hooks (environment): ``XP_PUBLISH_HOLD=<step>`` makes the command print
``hold: <step>`` and sleep before that step (``publish``: every file staged,
nothing renamed; ``publish-renames``: the journal written, after the first
rename), so that tests can kill it there.

Size: one protocol (lock, recovery, build file, staging, journal, renames) whose
steps must be read together to see that every kill point leaves the published
files whole; it moves into ``xpkit.io`` with the other I/O modules.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from xpkit.io import progress

__all__ = [
    "BI_STORAGE_VERSION",
    "Paths",
    "PublishError",
    "SUPPRESSED_TABLES",
    "main",
    "parse_as_of",
    "write_bi_file",
]

REPO = Path(__file__).resolve().parents[3]
DBT_LOG = REPO / "logs" / "dbt-build.log"
BIN = Path(sys.executable).parent
# DuckDB 1.4 and later read files written with this storage version.
BI_STORAGE_VERSION = "v1.4.0"
STATE_FILE = "state.json"
JOURNAL_FILE = "publish.json"
SALTED_TARGET = "dbt-target"
BUILD_ID_FILE = ".build-id"

# Every table the BI file may hold, by the count columns whose cells are the
# per-group unit counts. A row where any of them is between 1 and
# min_segment_units - 1 has every DOUBLE column (sums, means, statistics) and
# every derived text column nulled, and is_suppressed set. A marts table that
# is in neither SUPPRESSED_TABLES nor UNSUPPRESSED_TABLES is not published in
# the BI file (a warning names it), so a new mart never leaks by default.
SUPPRESSED_TABLES: dict[str, tuple[str, ...]] = {
    "arm_metrics": ("n_units",),
    "arm_metrics_by_compliance": ("n_units", "eligible_units"),
    "arm_metrics_by_segment": ("n_units",),
    "arm_metrics_daily": ("n_units",),
    "assignment_balance": ("units",),
    "bandit_allocations": ("n_units",),
    "compliance_results": ("n_control", "n_treatment"),
    "daily_results": ("n_control", "n_treatment"),
    "experiment_cate": ("units", "treated_units", "control_units"),
    "experiment_cohorts": ("units", "treatment_arm_units"),
    "experiment_decisions": ("units_analysed",),
    "experiment_decisions_history": ("units_analysed",),
    "experiment_health": ("units_exposed", "units_analysed", "multi_variant_units"),
    "experiment_meta_analysis": ("n_control", "n_treatment", "min_arm_units"),
    "experiment_portfolio": ("units",),
    "experiment_power": ("min_arm_units", "baseline_units"),
    "experiment_results": ("n_control", "n_treatment"),
    "experiment_results_history": ("n_control", "n_treatment"),
    "experiment_value": ("n_control", "n_treatment"),
    "holdout_results": ("n_control", "n_treatment"),
    "planned_assignment_balance": ("units",),
    "segment_results": (
        "n_control",
        "n_treatment",
        "rest_n_control",
        "rest_n_treatment",
    ),
}
# Text columns that quote figures (summaries, rationales): nulled with them.
DERIVED_TEXT = frozenset(
    {
        "summary",
        "rationale",
        "analysis_summary",
        "harm_summary",
        "direction",
        "guardrail_status",
        "guardrail_statuses",
        "segment_winners",
    }
)
# Marts without per-group counts: published as they are.
UNSUPPRESSED_TABLES = frozenset({"build_manifest"})
# Schemas the BI file can add on request (XP_BI_SCHEMAS=raw,quarantine,...):
# unit-level tables, copied unsuppressed; never by default.
EXTRA_BI_SCHEMAS = ("registry", "raw", "staging", "intermediate", "quarantine")
NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "HUGEINT")

_AS_OF_CHARS = re.compile(r"\d{4}-\d{2}-\d{2}([ T][0-9:.+Z-]{2,20})?")


class PublishError(Exception):
    """A build or publish that cannot go on; the message is one sentence
    naming the file, the cause and the fix."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------- paths


@dataclass(frozen=True)
class Paths:
    """Where a published warehouse, its BI copy, build folder and lock live."""

    published: Path
    report_dir: Path
    docs_dir: Path

    @classmethod
    def of(cls, published: Path, report_dir: Path, docs_dir: Path) -> Paths:
        return cls(
            Path(os.path.abspath(published)),
            Path(os.path.abspath(report_dir)),
            Path(os.path.abspath(docs_dir)),
        )

    @property
    def bi(self) -> Path:
        p = self.published
        suffix = p.suffix or ".duckdb"
        return p.with_name(f"{p.stem}.bi{suffix}")

    @property
    def build_dir(self) -> Path:
        return self.published.with_name(self.published.name + ".build")

    @property
    def working(self) -> Path:
        return self.build_dir / self.published.name

    @property
    def lock(self) -> Path:
        return self.published.with_name(self.published.name + ".lock")

    @property
    def state(self) -> Path:
        return self.build_dir / STATE_FILE

    @property
    def journal(self) -> Path:
        return self.build_dir / JOURNAL_FILE

    @property
    def salted_target(self) -> Path:
        return self.build_dir / SALTED_TARGET

    @property
    def staged_report(self) -> Path:
        return self.report_dir.with_name(f".{self.report_dir.name}.staging")

    @property
    def staged_docs(self) -> Path:
        """Where the gates write their data docs during a build."""
        if self.docs_dir.is_relative_to(self.report_dir):
            return self.staged_report / self.docs_dir.relative_to(self.report_dir)
        return self.docs_dir.with_name(f".{self.docs_dir.name}.staging")

    @property
    def staged_full(self) -> Path:
        return self.published.with_name(f".{self.published.name}.publishing")

    @property
    def staged_bi(self) -> Path:
        return self.bi.with_name(f".{self.bi.name}.publishing")

    def folders(self) -> list[tuple[Path, Path]]:
        """(staged, published) report folders swapped at publish."""
        pairs = [(self.staged_report, self.report_dir)]
        if not self.docs_dir.is_relative_to(self.report_dir):
            pairs.append((self.staged_docs, self.docs_dir))
        return pairs


# ------------------------------------------------------------ error messages


def os_error_sentence(error: OSError, path: Path | str, doing: str) -> str:
    """One sentence for a file-system error: the file, the cause and the fix."""
    where = str(path)
    if error.filename and str(error.filename) != where:
        where = f"{where} ({error.filename})"
    code = error.errno
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"cannot {doing} {where}: permission denied; make it writable by this "
            "user (chmod/chown) or set DUCKDB_PATH to a folder you can write."
        )
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"cannot {doing} {where}: the disk is full; free space on that file "
            "system (a build needs about three times the warehouse file) and run "
            "the command again."
        )
    if code == errno.EROFS:
        return (
            f"cannot {doing} {where}: the file system is read-only; set "
            "DUCKDB_PATH (and REPORT_DIR) to a writable folder."
        )
    cause = (error.strerror or str(error)).lower()
    return f"cannot {doing} {where}: {cause}; check the path (DUCKDB_PATH, REPORT_DIR)."


def duckdb_error_sentence(error: duckdb.Error, path: Path, doing: str) -> str:
    text = str(error)
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    lowered = text.lower()
    if "lock" in lowered:
        return (
            f"cannot {doing} {path}: another program holds it open for writing "
            f"({first}); close that program (readers should open the published "
            "file) and run the command again."
        )
    if "no space" in lowered or "disk is full" in lowered:
        return (
            f"cannot {doing} {path}: the disk is full ({first}); free space and "
            "run the command again."
        )
    if "permission" in lowered or "read-only file system" in lowered:
        return (
            f"cannot {doing} {path}: {first}; make the folder writable or set "
            "DUCKDB_PATH to a writable folder."
        )
    return f"cannot {doing} {path}: {first}."


# --------------------------------------------------------------------- input


def parse_as_of(text: str) -> str:
    """Normalise XP_AS_OF to 'YYYY-MM-DD HH:MM:SS' in UTC, or refuse it.

    Accepted: ISO 8601 dates and times such as ``2024-11-01``,
    ``2024-11-01 12:00``, ``2024-11-01T12:00:00`` or ``2024-11-01 14:00:00+02:00``
    (an offset is converted to UTC; no offset means UTC), in whole seconds.
    Anything else stops the build before it reaches SQL.
    """
    stripped = text.strip()
    problem = None
    if not _AS_OF_CHARS.fullmatch(stripped):
        problem = "it is not a date and time such as 2024-11-01 12:00:00"
    else:
        try:
            moment = datetime.fromisoformat(stripped)
        except ValueError as error:
            problem = f"it is not a real date and time ({error})"
        else:
            if moment.microsecond:
                problem = "it has fractions of a second"
            else:
                if moment.tzinfo is not None:
                    moment = moment.astimezone(UTC).replace(tzinfo=None)
                return moment.strftime("%Y-%m-%d %H:%M:%S")
    raise PublishError(
        f"XP_AS_OF={text!r} is refused: {problem}; set it to a UTC time such as "
        "'2024-11-01 12:00:00', or leave it empty for the build time."
    )


def lock_timeout() -> float:
    raw = os.environ.get("XP_LOCK_TIMEOUT", "0").strip() or "0"
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise PublishError(
            f"XP_LOCK_TIMEOUT={raw!r} is refused: it must be a number of seconds "
            "between 0 and 86400 (0 = do not wait)."
        )
    return value


# ---------------------------------------------------------------------- lock


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return (
        f"process {info.get('pid', '?')} (`{info.get('command', '?')}`, "
        f"since {info.get('since', '?')} UTC)"
    )


@contextmanager
def writer_lock(paths: Paths, command: str) -> Iterator[None]:
    """Hold the warehouse's writer lock; wait up to XP_LOCK_TIMEOUT seconds."""
    import fcntl

    timeout = lock_timeout()
    lock_path = paths.lock
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise PublishError(
            os_error_sentence(error, lock_path, "create the lock file")
        ) from error
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" after waiting {timeout:g} s" if timeout else ""
                    raise PublishError(
                        f"{paths.published} is being written by "
                        f"{_holder(lock_path)}{waited} (lock {lock_path}); wait "
                        "for it to finish, or set XP_LOCK_TIMEOUT=<seconds> to "
                        "wait for it.",
                        code=3,
                    ) from None
                time.sleep(0.2)
        info = {
            "pid": os.getpid(),
            "command": command,
            "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --------------------------------------------------------------------- state


def _identity(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def read_state(paths: Paths) -> dict:
    try:
        return json.loads(paths.state.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_state(paths: Paths, **changes: object) -> dict:
    state = {**read_state(paths), **changes}
    _write_json(paths.state, state)
    return state


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _hold(step: str) -> None:
    if os.environ.get("XP_PUBLISH_HOLD") == step:
        print(f"hold: {step}", flush=True)
        while True:
            time.sleep(1)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------ recovery


def _exchange(staged: Path, target: Path) -> None:
    """Swap two folders in one step (renameat2 RENAME_EXCHANGE), or rename the
    staged one into place when the target is missing."""
    if not target.exists():
        os.rename(staged, target)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        result = renameat2(
            at_fdcwd,
            os.fsencode(staged),
            at_fdcwd,
            os.fsencode(target),
            rename_exchange,
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(target))
    # No atomic exchange on this file system: two renames.
    aside = target.with_name(f".{target.name}.old")
    _remove(aside)
    os.rename(target, aside)
    os.rename(staged, target)
    os.rename(aside, staged)


def _folder_pending(staged: Path, build_id: str) -> bool:
    marker = staged / BUILD_ID_FILE
    try:
        return marker.read_text().strip() == build_id
    except OSError:
        return False


def _apply_journal(paths: Paths, journal: dict) -> None:
    for source, target in journal["files"]:
        if Path(source).exists():
            os.replace(source, target)
            _fsync_dir(Path(target).parent)
        if journal["files"][0] == [source, target]:
            _hold("publish-renames")
    for staged, target in journal["folders"]:
        staged, target = Path(staged), Path(target)
        if _folder_pending(staged, journal["build_id"]):
            _exchange(staged, target)
            _fsync_dir(target.parent)
        _remove(staged)
    write_state(
        paths,
        stage="published",
        published_identity=_identity(paths.published),
        published_build=journal["build_id"],
        published_at=journal["published_at"],
    )
    paths.journal.unlink(missing_ok=True)


def recover(paths: Paths) -> None:
    """Finish a publish killed halfway; drop every leftover of a killed build
    (staged files, and dbt's compiled SQL of a salted build)."""
    if paths.journal.exists():
        try:
            journal = json.loads(paths.journal.read_text())
        except ValueError:
            journal = None
        if journal:
            print(
                f"==> Finishing the interrupted publish of build {journal['build_id']}"
            )
            _apply_journal(paths, journal)
        else:
            paths.journal.unlink(missing_ok=True)
    leftovers = [paths.salted_target, paths.staged_full, paths.staged_bi]
    leftovers += [staged for staged, _ in paths.folders()]
    leftovers += [
        target.with_name(f".{target.name}.old") for _, target in paths.folders()
    ]
    for leftover in leftovers:
        if leftover.exists():
            _remove(leftover)
    for stray in paths.build_dir.glob("*.tmp") if paths.build_dir.exists() else ():
        _remove(stray)


def _copy_file(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.copying")
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_working(paths: Paths, *, create: bool) -> None:
    """Make sure the build file exists, seeded from the published file.

    The build file persists between builds. It is (re)seeded from the
    published file when it is missing, or when the published file was changed
    by something other than a publish (then a load not yet built would be
    overwritten: that stops with a message instead).
    """
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    state = read_state(paths)
    published = paths.published
    changed_outside = (
        published.exists()
        and paths.working.exists()
        and state.get("published_identity") is not None
        and state["published_identity"] != _identity(published)
    )
    if changed_outside:
        if state.get("stage") == "loaded":
            raise PublishError(
                f"{published} was changed outside `make build` since the last "
                f"publish, and {paths.working} holds a load not yet built; run "
                "`make load` again (the build file then starts from the "
                f"published file), or delete {published} to keep the load."
            )
        print(
            f"note: {published} was changed outside `make build`; the build "
            "file starts again from it."
        )
    if paths.working.exists() and not changed_outside:
        return
    if published.exists():
        print(f"==> Build file {paths.working} <- {published}")
        _copy_file(published, paths.working)
        # A write-ahead log beside the published file (a file written in place
        # by an older version or by dbt directly) holds committed data: keep it.
        wal = Path(f"{published}.wal")
        if wal.exists():
            _copy_file(wal, Path(f"{paths.working}.wal"))
        else:
            Path(f"{paths.working}.wal").unlink(missing_ok=True)
        write_state(paths, stage="seeded", published_identity=_identity(published))
    elif not create:
        raise PublishError(
            f"no raw data to build: neither {published} nor {paths.working} "
            "exists; run `make load DATA=<dir>` (or `make run` for the demo) first."
        )


# ------------------------------------------------------------------ the steps


def _run(command: Sequence[str], env: dict[str, str], what: str) -> int:
    print(f"==> {what}", flush=True)
    started = time.monotonic()
    try:
        code = subprocess.run(list(command), env=env, cwd=REPO, check=False).returncode
    except OSError as error:
        raise PublishError(os_error_sentence(error, command[0], "run")) from error
    outcome = "done" if code == 0 else f"exit {code}"
    took = progress.elapsed(time.monotonic() - started)
    print(f"    {outcome} in {took}", flush=True)
    return code


def _run_dbt_logged(
    command: Sequence[str], env: dict[str, str], what: str, salted: bool
) -> int:
    """dbt with its per-node lines in logs/dbt-build.log and a one-line summary
    here (the failing nodes and the log path on error); VERBOSE=1 shows all.
    A salted build writes no log file (its messages could quote the salt)."""
    if progress.verbose() or salted:
        return _run(command, env, what)
    # Beside dbt's own log when DBT_LOG_PATH moves it (tests, CI).
    log_file = DBT_LOG
    if env.get("DBT_LOG_PATH"):
        log_file = Path(env["DBT_LOG_PATH"]) / DBT_LOG.name
    log = _relative(log_file)
    print(f"==> {what} (per-node log: {log})", flush=True)
    started = time.monotonic()
    try:
        code, summary = progress.run_logged(command, env, REPO, log_file)
    except OSError as error:
        raise PublishError(os_error_sentence(error, command[0], "run")) from error
    print(
        f"    {summary.line(log)} in {progress.elapsed(time.monotonic() - started)}",
        flush=True,
    )
    for node in summary.warning:
        print(f"    warning: {node}", flush=True)
    if code != 0:
        print(f"dbt build failed (exit {code}); failing nodes:", file=sys.stderr)
        for node in summary.failing or ("(none named: see the log)",):
            print(f"  {node}", file=sys.stderr)
        print(f"dbt's full output: {log_file}", file=sys.stderr)
        tail = log_file.read_text(encoding="utf-8").splitlines()[-15:]
        for line in tail:
            print(f"  | {line}", file=sys.stderr)
    return code


def _environment(paths: Paths) -> dict[str, str]:
    env = {**os.environ, "DUCKDB_PATH": str(paths.working)}
    as_of = os.environ.get("XP_AS_OF", "")
    env["XP_AS_OF"] = parse_as_of(as_of) if as_of.strip() else ""
    return env


def _nothing_published(paths: Paths) -> str:
    return (
        f"nothing was published: {paths.published}, {paths.bi.name} and "
        f"{paths.report_dir} are unchanged"
    )


def run_dbt(paths: Paths, dbt_args: Sequence[str]) -> None:
    env = _environment(paths)
    command = [str(BIN / "dbt"), "build", "--profiles-dir", str(REPO), *dbt_args]
    salted = bool(env.get("XP_UNIT_ID_SALT"))
    if salted:
        # dbt's compiled SQL holds the salt: keep it in the build folder, delete
        # it afterwards (recover() deletes it after a killed build), no file log.
        env["DBT_TARGET_PATH"] = str(paths.salted_target)
        command.append("--log-level-file")
        command.append("none")
    described = f" as of {env['XP_AS_OF']}" if env["XP_AS_OF"] else ""
    # The history marts record the build id; the publish stamps the same one
    # into build_manifest (stage_and_publish).
    build_id = uuid.uuid4().hex[:12]
    env["XP_BUILD_ID"] = build_id
    write_state(paths, stage="building", dbt_build_id=build_id)
    try:
        code = _run_dbt_logged(
            command, env, f"dbt build on {paths.working}{described}", salted
        )
    finally:
        if salted:
            _remove(paths.salted_target)
    if code != 0:
        raise PublishError(
            f"dbt build failed (exit {code}, see above): {_nothing_published(paths)}; "
            "fix the error and run `make build` again.",
            code=1,
        )
    write_state(paths, stage="built")


def _quiet() -> list[str]:
    """``--quiet`` for the gates and the report (their header is ours, and
    only what needs attention is printed) unless VERBOSE=1."""
    return [] if progress.verbose() else ["--quiet"]


def run_gates(paths: Paths) -> bool:
    env = _environment(paths)
    staged = paths.staged_docs
    staged.mkdir(parents=True, exist_ok=True)
    code = _run(
        [
            str(BIN / "python"),
            "-m",
            "xpkit.io.validate",
            "--database",
            str(paths.working),
            "--docs-dir",
            str(staged),
            *_quiet(),
        ],
        env,
        f"Validation gates on {paths.working}",
    )
    if code == 2:
        raise PublishError(
            f"the validation gates could not run (exit 2, see above): "
            f"{_nothing_published(paths)}; fix the configuration and run "
            "`make build` again.",
            code=1,
        )
    return code == 0


def run_report(paths: Paths) -> None:
    env = _environment(paths)
    staged = paths.staged_report
    code = _run(
        [
            str(BIN / "python"),
            "-m",
            "xpkit.report",
            "--database",
            str(paths.working),
            "--out",
            str(staged),
            "--project-dir",
            str(REPO),
            *_quiet(),
        ],
        env,
        f"Report into {staged} (swapped into {paths.report_dir} at publish)",
    )
    if code != 0:
        raise PublishError(
            f"the report failed (exit {code}, see above): {_nothing_published(paths)}; "
            "fix the error and run `make build` again.",
            code=1,
        )
    # The pages name the warehouse they were made from: the published file.
    before = html.escape(str(paths.working))
    after = html.escape(str(paths.published))
    for page in staged.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if before in text:
            page.write_text(text.replace(before, after), encoding="utf-8")


def stamp_manifest(
    paths: Paths, build_id: str, status: str, gates: str, published_at: str
) -> None:
    """Append the build's status rows to marts.build_manifest (written last)."""
    con = _connect(paths.working)
    try:
        con.execute(
            "delete from marts.build_manifest where item_type = 'build' "
            "and item_name in ('build_id', 'status', 'gates', 'published_at')"
        )
        con.executemany(
            "insert into marts.build_manifest (item_type, item_name, value) "
            "values ('build', ?, ?)",
            [
                ["build_id", build_id],
                ["status", status],
                ["gates", gates],
                ["published_at", published_at],
            ],
        )
        con.execute("checkpoint")
    except duckdb.Error as error:
        raise PublishError(
            duckdb_error_sentence(error, paths.working, "write build_manifest in")
        ) from error
    finally:
        con.close()


def _connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as error:
        raise PublishError(duckdb_error_sentence(error, path, "open")) from error


# ---------------------------------------------------------------- the BI file


def min_segment_units(project_dir: Path = REPO) -> int:
    """The suppression threshold: var min_segment_units of dbt_project.yml
    (overridable with XP_MIN_SEGMENT_UNITS, as --vars would be)."""
    override = os.environ.get("XP_MIN_SEGMENT_UNITS", "").strip()
    if override:
        text, source = override, "XP_MIN_SEGMENT_UNITS"
    else:
        import yaml

        project = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
        text = str(project.get("vars", {}).get("min_segment_units", 10))
        source = f"{project_dir / 'dbt_project.yml'} var min_segment_units"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise PublishError(
            f"{source}={text!r} is refused: the suppression threshold must be a "
            "whole number of units, at least 1."
        )
    return value


def _bi_schemas() -> list[str]:
    raw = os.environ.get("XP_BI_SCHEMAS", "").strip()
    extra = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in extra if name not in EXTRA_BI_SCHEMAS]
    if unknown:
        raise PublishError(
            f"XP_BI_SCHEMAS={raw!r} is refused: {', '.join(unknown)} is not one of "
            f"{', '.join(EXTRA_BI_SCHEMAS)}."
        )
    return extra


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _suppressed_select(
    con: duckdb.DuckDBPyConnection, table: str, counts: Sequence[str], k: int
) -> str:
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = 'work' and table_schema = 'marts' and table_name = ? "
        "order by ordinal_position",
        [table],
    ).fetchall()
    names = [name for name, _ in columns]
    present = [count for count in counts if count in names]
    if not present:
        raise PublishError(
            f"marts.{table} has none of its count columns ({', '.join(counts)}); "
            "update SUPPRESSED_TABLES in src/xpkit/publish.py to its new columns."
        )
    small = " or ".join(f"({_q(c)} > 0 and {_q(c)} < {k})" for c in present)
    small = f"coalesce({small}, false)"
    selects = []
    for name, data_type in columns:
        nulled = name in DERIVED_TEXT or data_type.upper().startswith(NUMERIC_TYPES)
        if name == "is_suppressed":
            selects.append(f"(coalesce({_q(name)}, false) or {small}) as {_q(name)}")
        elif nulled and name not in present:
            selects.append(
                f"case when {small} then null else {_q(name)} end as {_q(name)}"
            )
        else:
            selects.append(_q(name))
    if "is_suppressed" not in names:
        selects.append(f"{small} as is_suppressed")
    return f"select {', '.join(selects)} from work.marts.{_q(table)}"


def write_bi_file(
    working: Path, target: Path, k: int, extra_schemas: Sequence[str] = ()
) -> list[str]:
    """Write the marts of `working` into a new BI file `target` (storage
    version v1.4.0), suppressing cells below `k` units. Returns warnings."""
    target.unlink(missing_ok=True)
    warnings = []
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {_lit(str(working))} as work (read_only)")
        con.execute(
            f"attach {_lit(str(target))} as bi (storage_version '{BI_STORAGE_VERSION}')"
        )
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = 'work' order by 1, 2"
        ).fetchall()
        con.execute("create schema bi.marts")
        for schema in extra_schemas:
            con.execute(f"create schema if not exists bi.{_q(schema)}")
        for schema, table in tables:
            if schema == "marts":
                if table in SUPPRESSED_TABLES:
                    select = _suppressed_select(con, table, SUPPRESSED_TABLES[table], k)
                elif table in UNSUPPRESSED_TABLES:
                    select = f"select * from work.marts.{_q(table)}"
                else:
                    warnings.append(
                        f"marts.{table} is not in the BI file: it is unit-level or "
                        "not reviewed for small-cell suppression (SUPPRESSED_TABLES "
                        "in src/xpkit/publish.py)."
                    )
                    continue
            elif schema in extra_schemas:
                select = f"select * from work.{_q(schema)}.{_q(table)}"
            else:
                continue
            con.execute(f"create table bi.{_q(schema)}.{_q(table)} as {select}")
        con.execute("detach bi")
    finally:
        con.close()
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())
    return warnings


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ------------------------------------------------------------------- publish


def stage_and_publish(paths: Paths, status: str, gates: str) -> str:
    """Stamp the manifest, write the BI file, copy the build file, then rename
    everything into place (journaled). Returns the build id: the one the dbt
    build recorded in the history marts (XP_BUILD_ID), once; a new one when the
    same dbt build is published again."""
    build_id = str(read_state(paths).get("dbt_build_id") or "") or uuid.uuid4().hex[:12]
    write_state(paths, dbt_build_id=None)
    published_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    stamp_manifest(paths, build_id, status, gates, published_at)
    print(f"==> BI file (marts, suppressed, storage {BI_STORAGE_VERSION}) {paths.bi}")
    k = min_segment_units()
    for warning in write_bi_file(paths.working, paths.staged_bi, k, _bi_schemas()):
        print(f"note: {warning}")
    wal = Path(f"{paths.working}.wal")
    if wal.exists():
        raise PublishError(
            f"{wal} is still there after a checkpoint: another program has "
            f"{paths.working} open; close it and run `make publish`."
        )
    _copy_file(paths.working, paths.staged_full)
    for staged, _ in paths.folders():
        staged.mkdir(parents=True, exist_ok=True)
        (staged / BUILD_ID_FILE).write_text(build_id + "\n")
    _hold("publish")
    # A stale write-ahead log beside the published file would be replayed
    # into the new file by the next reader: it belongs to the old file.
    Path(f"{paths.published}.wal").unlink(missing_ok=True)
    Path(f"{paths.bi}.wal").unlink(missing_ok=True)
    journal = {
        "build_id": build_id,
        "published_at": published_at,
        "files": [
            [str(paths.staged_full), str(paths.published)],
            [str(paths.staged_bi), str(paths.bi)],
        ],
        "folders": [[str(staged), str(target)] for staged, target in paths.folders()],
    }
    _write_json(paths.journal, journal)
    _apply_journal(paths, journal)
    print(
        f"==> Published build {build_id} ({status}): {paths.published}, "
        f"{paths.bi} and {paths.report_dir}"
    )
    return build_id


def check_and_publish(paths: Paths, force: bool) -> int:
    """Gates, report, then publish (refused after failed gates unless force)."""
    passed = run_gates(paths)
    if not passed and not force:
        write_state(paths, stage="gates_failed")
        raise PublishError(
            f"the validation gates failed (see above): {_nothing_published(paths)}; "
            "fix the data or the registry and run `make build` again, or publish "
            "this build anyway with `make publish FORCE=1`.",
            code=1,
        )
    run_report(paths)
    if passed:
        status, gates = "complete", "passed"
    else:
        status, gates = "published with failed gates (FORCE)", "failed"
        print("warning: the gates failed; publishing anyway because FORCE was given.")
    stage_and_publish(paths, status, gates)
    summary = subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "xpkit.io.cli",
            "summary",
            "--database",
            str(paths.published),
        ],
        cwd=REPO,
        check=False,
    )
    print(_headline(paths), flush=True)
    return summary.returncode


def _relative(path: Path) -> str:
    """``path`` relative to the working directory when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _headline(paths: Paths) -> str:
    """``5 experiments: 2 scale, ...; report: reports/index.html``."""
    shown = _relative(paths.report_dir / "index.html")
    try:
        con = duckdb.connect(str(paths.published), read_only=True)
        try:
            decisions = [
                row[0]
                for row in con.execute(
                    "select decision from marts.experiment_decisions"
                ).fetchall()
            ]
        finally:
            con.close()
    except duckdb.Error:
        return f"==> Report: {shown}"
    return f"==> {progress.decision_headline(decisions, shown)}"


# ----------------------------------------------------------------- commands


def command_load(paths: Paths, data_dir: Path) -> int:
    from xpkit.io.load import LoadError, load_raw

    ensure_working(paths, create=True)
    print(f"==> Load {data_dir} into the build file {paths.working}", flush=True)
    started = time.monotonic()
    try:
        load_raw(data_dir, paths.working)
    except LoadError as error:
        print(f"error: {error}", file=sys.stderr)
        print(
            f"Nothing was loaded; the raw tables in {paths.working} and the "
            f"published {paths.published} are unchanged.",
            file=sys.stderr,
        )
        return 2
    write_state(paths, stage="loaded")
    print(
        f"    load done in {progress.elapsed(time.monotonic() - started)}", flush=True
    )
    print(
        f"The build file {paths.working} holds the new raw tables; `make build` "
        f"builds them and publishes {paths.published}."
    )
    return 0


def command_build(paths: Paths, dbt_args: Sequence[str], force: bool) -> int:
    _environment(paths)  # XP_AS_OF is checked before anything else
    ensure_working(paths, create=False)
    run_dbt(paths, dbt_args)
    return check_and_publish(paths, force)


def command_publish(paths: Paths, force: bool) -> int:
    _environment(paths)
    state = read_state(paths)
    if not paths.working.exists() or state.get("stage") not in (
        "built",
        "gates_failed",
        "published",
    ):
        raise PublishError(
            f"{paths.working} holds no finished dbt build (stage "
            f"{state.get('stage', 'none')!r}); run `make build` first."
        )
    return check_and_publish(paths, force)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xpkit.io.publish",
        description="Load, build, check and publish the warehouse (module docstring).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="load raw files into the build file")
    load.add_argument("data_dir", type=Path)
    build = commands.add_parser("build", help="dbt build, gates, report, publish")
    build.add_argument("--refresh", action="store_true", help="incremental refresh")
    build.add_argument("--dbt-args", default="", help="extra dbt build arguments")
    publish = commands.add_parser(
        "publish", help="gates, report, publish the build file"
    )
    recover_parser = commands.add_parser(
        "recover", help="finish an interrupted publish, remove a killed build's files"
    )
    for sub in (load, build, publish, recover_parser):
        sub.add_argument(
            "--database",
            type=Path,
            default=Path(os.environ.get("DUCKDB_PATH") or "warehouse.duckdb"),
            help="the published file (default: $DUCKDB_PATH, else warehouse.duckdb)",
        )
        sub.add_argument(
            "--report-dir",
            type=Path,
            default=Path(os.environ.get("REPORT_DIR") or "reports"),
        )
        sub.add_argument("--docs-dir", type=Path, default=None)
    for sub in (build, publish):
        sub.add_argument(
            "--force", action="store_true", help="publish even if a gate fails"
        )
    args = parser.parse_args(argv)
    docs_dir = args.docs_dir or Path(
        os.environ.get("DOCS_DIR") or args.report_dir / "data_docs"
    )
    paths = Paths.of(args.database, args.report_dir, docs_dir)
    label = " ".join(["xpkit.publish", *(argv if argv is not None else sys.argv[1:])])
    try:
        _environment(paths)  # XP_AS_OF is checked before anything is touched
        lock_timeout()
        with writer_lock(paths, label[:200]):
            recover(paths)
            if args.command == "recover":
                return 0
            if args.command == "load":
                return command_load(paths, args.data_dir)
            if args.command == "build":
                dbt_args = shlex.split(args.dbt_args)
                if args.refresh:
                    dbt_args += ["--vars", "{incremental_refresh: true}"]
                return command_build(paths, dbt_args, args.force)
            return command_publish(paths, args.force)
    except PublishError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.code
    except OSError as error:
        print(
            f"error: {os_error_sentence(error, paths.published, 'write')}",
            file=sys.stderr,
        )
        return 2
    except duckdb.Error as error:
        print(
            f"error: {duckdb_error_sentence(error, paths.working, 'write')}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            f"error: interrupted: {_nothing_published(paths)} unless a publish "
            "had begun (the next command finishes it).",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
