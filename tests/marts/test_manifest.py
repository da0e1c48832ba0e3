"""xpkit.io.manifest: code version, package versions and input digests."""

from __future__ import annotations

import subprocess
from datetime import datetime
from importlib import metadata

import pandas as pd

from xpkit.io.manifest import PACKAGES, build_manifest, git_commit


def _git(directory, *args):
    subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True)


def test_git_commit_reports_head_and_dirty_tree(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(
        tmp_path,
        "-c",
        "user.email=t@example.com",
        "-c",
        "user.name=t",
        "commit",
        "-qm",
        "first",
    )
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert git_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("two")
    assert git_commit(tmp_path) == f"{head}-dirty"


def test_git_commit_outside_a_repository_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"


def test_build_manifest_rows_and_types():
    digests = pd.DataFrame(
        {
            "item_type": ["raw_table", "registry_table"],
            "item_name": ["raw.events", "metrics"],
            "row_count": [12, 3],
            "digest": ["123456789012345678901234567890", "42"],
        }
    )
    built_at = datetime(2025, 1, 2, 3, 4, 5)
    manifest = build_manifest(digests, as_of="", built_at=built_at, commit="abc")
    rows = {(r.item_type, r.item_name): r for r in manifest.itertuples(index=False)}
    assert rows[("code", "git_commit")].value == "abc"
    for name in PACKAGES:
        assert rows[("package", name)].value == metadata.version(name)
    events = rows[("raw_table", "raw.events")]
    assert (events.value, events.row_count) == ("123456789012345678901234567890", 12)
    assert rows[("build", "built_at")].value == "2025-01-02T03:04:05"
    assert rows[("build", "as_of")].value == "now"
    assert str(manifest["row_count"].dtype) == "Int64"
    assert manifest["value"].notna().all()
