"""Run folders: created fresh, never overwritten, written by one process at a time (a lock
the OS drops when the process dies); every file written to a unique temporary name and
renamed, so an interrupted run leaves the old file or the new one, never half of one."""

import csv
import fcntl
import io
import json
import os
import platform
import secrets
import subprocess
import tempfile
import time
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np

RUNS_ROOT = Path("runs")
# every package that shapes a run's numbers, figures or outputs (statsmodels: the ARIMA and ETS
# baselines, the sunspots series; None where it is not installed)
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "matplotlib", "statsmodels", "tqdm")
PACKAGE_DIR = Path(__file__).resolve().parents[1]


class RunDirError(ValueError):
    """A run folder that cannot be used; the message is one line."""


LOCK = ".lock"
_held: dict[Path, int] = {}  # folder -> open descriptor whose lock this process holds until it exits


def claim(folder: Path) -> None:
    """Take `folder`'s write lock for the rest of this process (flock: the OS drops it when
    the process ends, even by SIGKILL, so a killed run can be resumed), or a RunDirError
    naming the process that holds it."""
    folder = Path(folder).resolve()
    if folder in _held:
        return
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)  # the OS applies the umask, as open() does
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunDirError(f"{str(folder)!r} is in use by {holder}: one run writes a folder at a time") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"process {os.getpid()} on {platform.node()}".encode())
    _held[folder] = fd
    _clean_temporaries(folder)


def _clean_temporaries(folder: Path) -> None:
    """Remove the temporary files of `write_bytes` that a killed writer left (`.name.hex.tmp`):
    with the lock held, no writer of this folder is alive to own them."""
    for tmp in [*folder.glob(".*.tmp"), *folder.glob("checkpoints/**/.*.tmp")]:
        if tmp.is_file():
            tmp.unlink(missing_ok=True)


def release(folder: Path) -> None:
    """Give up `folder`'s lock before this process ends (a long-lived process, a test)."""
    fd = _held.pop(Path(folder).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the flock


def make_run_dir(out: str | os.PathLike | None, root: Path = RUNS_ROOT) -> Path:
    """`out` if it is new or empty, else a refusal; without `out`, a new time-stamped folder."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path, n = root / stamp, 1
        while path.exists():
            n += 1
            path = root / f"{stamp}-{n}"
    else:
        path = Path(out)
        try:
            if not str(out):
                raise RunDirError("--out '' is not allowed: give a new or empty folder")
            if path.exists() and not path.is_dir():
                raise RunDirError(f"--out {str(path)!r} is a file: give a new or empty folder")
            if path.is_dir() and any(p.name != LOCK for p in path.iterdir()):  # a lock alone: nothing written
                raise RunDirError(
                    f"--out {str(path)!r} is not empty: give a new or empty folder (nothing is overwritten)"
                )
        except OSError as err:
            raise RunDirError(f"--out {str(path)[:80]!r} cannot be used: {err.strerror}") from None
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as err:
        raise RunDirError(f"--out {str(path)!r} cannot be written: {err.strerror}") from None
    claim(path)
    if any(p.name != LOCK for p in path.iterdir()):  # another run got there between the check and the claim
        raise RunDirError(f"--out {str(path)!r} is not empty: give a new or empty folder (nothing is overwritten)")
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    """Atomic write: a temporary file in the same folder, flushed, then renamed over `path`.
    The temporary name is random and created exclusively (no two writers share one), with
    the mode open() gives: 0o666 less the umask, which the OS applies."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    """UTF-8; a path that is not (a file name's undecodable bytes, as Python holds them) is
    written as its escape, \\udcff, rather than failing after the training it reports on."""
    return write_bytes(path, text.encode("utf-8", "backslashreplace"))


def write_json(path: Path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def write_csv(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buf.getvalue())


def write_npz(path: Path, **arrays) -> Path:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return write_bytes(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def environment() -> dict:
    """What produced the numbers: rnnjax's version and git commit, package versions, backend,
    devices and their kind, PRNG implementation."""
    import jax

    versions = {"python": platform.python_version(), "rnnjax": rnnjax_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "versions": versions,
        "git": git_state(),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "prng_impl": str(jax.config.jax_default_prng_impl),
        "settings": settings(),
        "platform": platform.platform(),
    }


def settings() -> dict:
    """The JAX and XLA settings that change the numbers besides the versions and devices:
    XLA_FLAGS (less the host device count, recorded as `devices`), the default matmul
    precision and whether the PRNG is partitionable (the initial weights)."""
    import jax

    flags = os.environ.get("XLA_FLAGS", "").split()
    return {
        "xla_flags": " ".join(f for f in flags if not f.startswith("--xla_force_host_platform_device_count")),
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
        "threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
    }


# what a run's numbers depend on besides its config: resuming under others would mix two sets
NUMBERS_PACKAGES = ("rnnjax", "jax", "jaxlib", "flax", "optax", "numpy")


def environment_change(recorded: dict) -> str | None:
    """How this process differs from a run's recorded environment in what shapes its numbers
    (backend, device kind, PRNG, settings, the versions of rnnjax and the packages that
    compute), as "jax 0.10.3 here, 0.10.2 in the run; ..."; None when alike. What the record
    lacks (a folder of an older rnnjax) is not compared."""
    now = environment()
    pairs = [(k, now[k], recorded.get(k)) for k in ("backend", "device_kind", "prng_impl")]
    pairs += [
        (p, now["versions"].get(p), recorded.get("versions", {}).get(p, now["versions"].get(p)))
        for p in NUMBERS_PACKAGES
    ]
    pairs += [(k, v, recorded.get("settings", {}).get(k, v)) for k, v in now["settings"].items()]
    differ = [
        f"{name} {here!r} here, {there!r} in the run"
        for name, here, there in pairs
        if there is not None and here != there
    ]
    return "; ".join(differ) or None


def rnnjax_version() -> str | None:
    """The installed version, else (a checkout on the path, not installed) pyproject's."""
    try:
        return metadata.version("rnnjax")
    except metadata.PackageNotFoundError:
        pass
    try:
        return tomllib.loads((PACKAGE_DIR.parent / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None


def _git(*args: str) -> str | None:
    # --no-optional-locks: `git status` must not write the checkout's index (under a file-size
    # limit or a full disk, the run's own trouble, it left a stale .git/index.lock behind)
    try:
        proc = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=PACKAGE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_state() -> dict:
    """The commit of the checkout rnnjax runs from, and whether its tracked files differ from
    it (`dirty`); both None when rnnjax is not run from a git checkout of its own (an
    installed package, git absent)."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != PACKAGE_DIR.parent:  # e.g. site-packages inside another repo
        return {"commit": None, "dirty": None}
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}
