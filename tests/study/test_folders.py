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


def test_the_environment_names_what_produced_the_numbers():
    import tomllib
    from pathlib import Path

    root = Path(folders.__file__).resolve().parents[2]
    env = folders.environment()
    assert env["versions"]["rnnjax"] == tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    assert set(folders.PACKAGES) >= {"statsmodels", "tqdm"} and set(env["versions"]) > set(folders.PACKAGES)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    checkout = head.returncode == 0 and (root / ".git").exists()
    assert env["git"]["commit"] == (head.stdout.strip() if checkout else None)
    assert isinstance(env["git"]["dirty"], bool) if checkout else env["git"]["dirty"] is None
    assert env["device_kind"] and isinstance(env["device_kind"], str)


def test_a_resume_elsewhere_is_told_what_differs_in_what_shapes_the_numbers(monkeypatch):
    """A resume under another JAX, backend or XLA flags mixed two sets of numbers, unrecorded."""
    here = folders.environment()
    assert here["settings"]["xla_flags"].count("device_count") == 0  # the device count: recorded as devices
    assert folders.environment_change(here) is None
    older = {k: v for k, v in here.items() if k != "settings"}  # a folder of an older rnnjax: not compared
    assert folders.environment_change(older) is None
    moved = here | {"backend": "gpu", "versions": here["versions"] | {"jax": "0.4.0", "scipy": "0.1"}}
    jax_now = here["versions"]["jax"]
    assert folders.environment_change(moved) == (
        f"backend {here['backend']!r} here, 'gpu' in the run; jax {jax_now!r} here, '0.4.0' in the run"
    )  # scipy (statistics, after training) is not compared
    flags = here["settings"]["xla_flags"]
    monkeypatch.setenv("XLA_FLAGS", f"{flags} --xla_cpu_enable_fast_math=true --xla_force_host_platform_device_count=2")
    assert "in the run" in folders.environment_change(here) and "fast_math" in folders.environment_change(here)


def test_no_git_or_no_checkout_is_null_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git to run
    assert folders.git_state() == {"commit": None, "dirty": None}
    monkeypatch.undo()
    monkeypatch.setattr(folders, "PACKAGE_DIR", tmp_path / "rnnjax")  # a package outside any checkout
    (tmp_path / "rnnjax").mkdir()
    assert folders.git_state() == {"commit": None, "dirty": None}


def test_text_naming_a_path_that_is_not_utf8_is_written(tmp_path):
    """A run folder or data file whose name is not UTF-8 appears in the report's command: it
    is written as its escape (it failed after training, and again on every resume)."""
    from rnnjax.study import folders

    path = folders.write_text(tmp_path / "report.md", "`--out /tmp/nu\udcff`\n")
    assert path.read_bytes() == b"`--out /tmp/nu\\udcff`\n"
    assert folders.write_text(tmp_path / "plain.md", "caf\u00e9\n").read_bytes() == "caf\u00e9\n".encode()
