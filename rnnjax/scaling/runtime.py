"""Process-level setup: host devices for every core, the compilation cache, the seed mesh.

Importing rnnjax changes nothing; `use_all_cores()` is called by the scripts' `main` and by
the Python API's first computation (`run`, `run_study`, `train`), before or after jax is
imported, as long as JAX has not computed anything yet. One XLA CPU computation of this size
keeps one core busy, so on CPU the seeds axis is sharded over one host device per core.
RNNJAX_HOST_DEVICES=N sets the count (1 turns sharding off); an XLA_FLAGS or
jax_num_cpu_devices that already names a count is left alone.
"""

import functools
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
HOST_DEVICES_ENV = "RNNJAX_HOST_DEVICES"
CACHE_ENV = "RNNJAX_COMPILATION_CACHE"
MAX_HOST_DEVICES = 1024  # a folder, or 0 to turn the cache off


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def host_devices_setting() -> int | None:
    """RNNJAX_HOST_DEVICES as a count (None: not set), or a ValueError naming the bad value."""
    wanted = os.environ.get(HOST_DEVICES_ENV)
    if wanted is None or not wanted.strip():
        return None
    if not (wanted.strip().isascii() and wanted.strip().isdigit()) or not 1 <= int(wanted) <= MAX_HOST_DEVICES:
        raise ValueError(
            f"{HOST_DEVICES_ENV}={wanted!r} is not allowed: must be an integer >= 1 and <= {MAX_HOST_DEVICES} "
            "(1: no sharding)"
        )
    return int(wanted)


X64_ENV = "JAX_ENABLE_X64"


def xla_flags_setting() -> None:
    """A ValueError if XLA_FLAGS sets a host device count that is not an integer >= 1, or a
    flag XLA does not know: XLA would abort the process (with its whole flag list, or a C++
    log line) when the backend starts."""
    flags = os.environ.get("XLA_FLAGS", "")
    for value in re.findall(re.escape(DEVICE_COUNT_FLAG) + r"=?(\S*)", flags):
        if not (value.isascii() and value.isdigit() and int(value) >= 1):
            raise ValueError(
                f"XLA_FLAGS={flags!r} is not allowed: {DEVICE_COUNT_FLAG} must be an integer >= 1 (it is {value!r})"
            )
    others = " ".join(f for f in flags.split() if not f.startswith(DEVICE_COUNT_FLAG))
    refused = _xla_refuses(others) if others else None
    if refused:
        raise ValueError(f"XLA_FLAGS={flags!r} is not allowed: XLA refuses it ({refused})")


@functools.cache
def _xla_refuses(flags: str) -> str | None:
    """XLA's own complaint about these flags, from a process that starts a CPU backend under
    them (XLA aborts on a flag it does not know; only asked when flags besides the device
    count are set), or None."""
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    code = "import jax; jax.devices('cpu')"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode == 0:
        return None
    said = [line for line in proc.stderr.splitlines() if "XLA_FLAGS" in line or "flag" in line.lower()]
    return said[0].split("] ", 1)[-1].strip() if said else None  # another failure is not the flags' to blame


def libraries_or_exit() -> None:
    """Import JAX and matplotlib now, or exit 2 in one line: a value they refuse in an
    environment variable they read at import (JAX_DEFAULT_MATMUL_PRECISION=bogus,
    MPLBACKEND=nonexistent) raised a ValueError traceback from the scripts' imports. For a
    script's first lines; a library user gets the libraries' own error."""
    try:
        import jax  # noqa: F401
        import matplotlib  # noqa: F401
    except ValueError as err:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(
            f"error: {text[:300]} (an environment variable JAX or matplotlib reads): unset or correct it",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def backend_problem() -> str | None:
    """Why JAX's backend cannot start here (an unavailable JAX_PLATFORMS: a platform whose
    plugin is missing or finds no device), in one line; None once it has started."""
    import jax

    try:
        jax.devices()
    except (RuntimeError, AssertionError) as err:
        platforms = os.environ.get("JAX_PLATFORMS", "")
        why = str(err).strip().splitlines()[0] if str(err).strip() else "no such device or plugin here"
        return (
            f"JAX_PLATFORMS={platforms!r} cannot start JAX's backend on this machine ({why}); unset it to use the CPU"
        )
    return None


def precision_setting() -> None:
    """A ValueError if JAX computes in 64 bits (JAX_ENABLE_X64, or jax_enable_x64 set in
    Python): rnnjax trains in float32 as Keras does, and under x64 every number would change
    (parameters stored as a mix of float64 and float32) without a record saying so."""
    wanted = os.environ.get(X64_ENV, "")
    on = wanted.strip().lower() in ("1", "true", "yes", "on")
    if "jax" in sys.modules:
        import jax

        on = on or bool(jax.config.jax_enable_x64)
    if on:
        raise ValueError(
            f"{X64_ENV}={wanted or 'on (jax_enable_x64)'} is not allowed: rnnjax trains in float32, as Keras "
            "does, and 64-bit mode would change every number; unset it (or jax.config.update('jax_enable_x64', False))"
        )


def warn_bad_setting() -> None:
    """A bad RNNJAX_HOST_DEVICES, said once where Python code trains (it used every core)."""
    global _warned
    try:
        host_devices_setting()
    except ValueError as err:
        if not _warned:
            warnings.warn(f"rnnjax: {err}; one host device per core was used instead", stacklevel=3)
            _warned = True


_warned = False


def use_all_cores() -> int | None:
    """Ask XLA for one CPU host device per usable core; returns the count set, or None.

    Before jax is imported this goes through XLA_FLAGS; after, through the
    `jax_num_cpu_devices` option, which works until JAX's first computation. A count already
    set either way is left alone, so that calling this again is cheap and changes nothing.
    Where the CPU backend is already running with fewer devices, a warning says so once, with
    the fix.
    """
    global _told_running
    flags = os.environ.get("XLA_FLAGS", "")
    if DEVICE_COUNT_FLAG in flags:
        return None
    try:
        count = host_devices_setting() or usable_cores()
    except ValueError:  # the scripts refuse it (exit 2); training from Python warns (warn_bad_setting)
        count = usable_cores()
    if count <= 1:
        return count
    if "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = f"{flags} {DEVICE_COUNT_FLAG}={count}".strip()
        return count
    import jax

    if jax.config.jax_num_cpu_devices >= 0:  # set by an earlier call, or by the user
        return None
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # the backends have started
        running = len(jax.devices("cpu"))
        if running < count and jax.default_backend() == "cpu" and not _told_running:
            warnings.warn(
                f"rnnjax: JAX was already running on {running} CPU device(s), so rnnjax uses {running} of "
                f"{count} cores; call rnnjax.scaling.runtime.use_all_cores() before the first JAX "
                f"computation, or set XLA_FLAGS={DEVICE_COUNT_FLAG}={count}",
                stacklevel=2,
            )
            _told_running = True
        return None
    return count


_told_running = False


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "rnnjax" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """JAX's persistent compilation cache, so a second run of the same program does not
    recompile. RNNJAX_COMPILATION_CACHE=0 turns it off; =DIR puts it elsewhere."""
    import jax

    setting = os.environ.get(CACHE_ENV, "")
    if setting == "0":
        return None
    folder = Path(path or setting or default_cache_dir())
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return folder
