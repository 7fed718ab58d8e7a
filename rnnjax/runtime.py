"""Process-level setup: host devices for every core, the compilation cache, the seed mesh.

`use_all_cores()` must run before jax is imported (rnnjax/__init__.py calls it), since XLA
reads its flags once. One XLA CPU computation of this size keeps one core busy, so on CPU
the seeds axis is sharded over one host device per core. RNNJAX_HOST_DEVICES=N sets the
count (1 turns sharding off); an XLA_FLAGS that already names a count is left alone.
"""

import os
import sys
from pathlib import Path

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
HOST_DEVICES_ENV = "RNNJAX_HOST_DEVICES"
CACHE_ENV = "RNNJAX_COMPILATION_CACHE"  # a folder, or 0 to turn the cache off


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def use_all_cores() -> int | None:
    """Ask XLA for one CPU host device per usable core; returns the count set, or None."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or DEVICE_COUNT_FLAG in flags:
        return None
    wanted = os.environ.get(HOST_DEVICES_ENV, "").strip()
    count = int(wanted) if wanted.isdigit() and int(wanted) > 0 else usable_cores()
    if count > 1:
        os.environ["XLA_FLAGS"] = f"{flags} {DEVICE_COUNT_FLAG}={count}".strip()
    return count


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
