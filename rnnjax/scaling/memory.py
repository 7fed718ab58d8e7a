"""How many runs fit in one program: on a GPU, from XLA's memory plan of a probe program
and the device's free memory; on a CPU (which reports no free memory), all of them."""

from rnnjax.core.config import Config
from rnnjax.core.train import Runs
from rnnjax.scaling.sharding import program_mb

FREE_MEMORY_USED = 0.8  # share of a GPU's free memory an automatic chunk of runs may take


def chunk_size(per_run_bytes: float, free_bytes: float, n_runs: int, n_devices: int) -> int:
    """Runs per chunk that fit in FREE_MEMORY_USED of the free memory, a multiple of the
    device count (at least one run per device), and no more than all runs (padded)."""
    fit = int(FREE_MEMORY_USED * free_bytes // max(per_run_bytes, 1.0))
    padded = -(-n_runs // n_devices) * n_devices
    return min(padded, max(n_devices, fit // n_devices * n_devices))


def free_device_bytes(devices) -> float | None:
    """The smallest free memory over `devices`, where the backend reports it (GPUs), else None."""
    free = []
    for device in devices:
        stats = device.memory_stats() if hasattr(device, "memory_stats") else None
        if not stats or "bytes_limit" not in stats:
            return None
        free.append(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return float(min(free)) if free else None


def auto_chunk(cfg: Config, runs: Runs, devices, epochs_per_chunk: int, probe: int = 64) -> int:
    """All runs at once where the backend reports no memory (CPU) or they are no more than
    `probe` per device; else as many as fit, from the memory XLA plans for `probe` runs of
    one `epochs_per_chunk`-epoch program."""
    free = free_device_bytes(devices)
    if free is None or runs.count <= probe * len(devices):  # no report, or no bigger than the probe
        return runs.count
    per_run = program_mb(cfg, probe, epochs_per_chunk, runs.has_momentum) * 2**20 / probe
    return chunk_size(per_run * len(devices), free * len(devices), runs.count, len(devices))
