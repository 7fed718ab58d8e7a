"""Run folders' files: written whole or not at all, with the modes open() would give."""

import os
import subprocess
import sys

import pytest

from rnnjax.study import folders


def test_files_and_the_lock_get_the_mode_open_gives_under_the_umask(tmp_path):
    code = f"""
import os
from pathlib import Path
from rnnjax.study import folders
os.umask(0o027)
out = Path({str(tmp_path)!r})
folders.write_text(out / "a.txt", "a")
folders.claim(out)
with open(out / "b.txt", "w"):
    pass
print(*(oct(os.stat(out / name).st_mode & 0o777) for name in ("a.txt", folders.LOCK, "b.txt")))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0o640", "0o640", "0o640"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = folders.write_text(tmp_path / "a.txt", "old")
    with pytest.raises(TypeError):
        folders.write_bytes(path, "not bytes")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]
