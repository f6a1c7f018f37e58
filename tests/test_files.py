"""Atomic files: whole or absent, no temporary left behind, and the permissions of any new file."""

from __future__ import annotations

import os
import stat

import pytest

from winit_bench import files


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "f.txt"
    files.atomic_write_text(p, "one")
    files.atomic_write_text(p, "two")
    assert p.read_text() == "two"
    with pytest.raises(RuntimeError):
        files.atomic_save(tmp_path / "g.csv", lambda tmp: (_ for _ in ()).throw(RuntimeError("boom")))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["f.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_respect_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        files.atomic_write_text(tmp_path / "r.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.md").stat().st_mode) == 0o666 & ~umask


def test_remove_temporaries_clears_killed_writes_only(tmp_path):
    (tmp_path / "plots").mkdir()
    left = tmp_path / "plots" / f"{files.TEMP_PREFIX}backprop.png.abc.png"
    left.write_bytes(b"half")
    keep = tmp_path / "plots" / "backprop.png"
    keep.write_bytes(b"whole")
    assert files.remove_temporaries(tmp_path) == [left]
    assert keep.exists() and not left.exists()
