"""How many runs fit in one program: on a GPU, from XLA's memory plan of a probe program
and the device's free memory; on a CPU (which reports no free memory), all of them."""

import math
import os
from functools import partial

import jax

from rnnjax.core import data as data_lib
from rnnjax.core.config import Config
from rnnjax.core.model import make_model
from rnnjax.core.train import Runs, make_trainer, state_shape, with_runs

FREE_MEMORY_USED = 0.8  # share of a GPU's free memory an automatic block of runs may take


def block_size(per_run_bytes: float, free_bytes: float, n_runs: int, n_devices: int) -> int:
    """Runs per block that fit in FREE_MEMORY_USED of the free memory, a multiple of the
    device count (at least one run per device), and no more than all runs (padded)."""
    fit = int(FREE_MEMORY_USED * free_bytes // max(per_run_bytes, 1.0))
    padded = -(-n_runs // n_devices) * n_devices
    return min(padded, max(n_devices, fit // n_devices * n_devices))


def compiled_mb(compiled) -> float:
    """XLA's memory plan of a compiled program (MB): arguments + outputs + temporaries, less
    what aliases (donated buffers)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return float("nan")
    total = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    return (total - stats.alias_size_in_bytes) / 2**20


def program_mb(cfg: Config, runs: int, epochs: int, traits: frozenset = frozenset()) -> float:
    """XLA's memory plan (MB) for `runs` runs of an `epochs`-epoch chunk on one device,
    compiled but not run: sizes automatic blocks of runs on a GPU."""
    trainer = make_trainer(cfg, make_model(cfg), traits)
    state = with_runs(state_shape(cfg, traits), runs)
    program = jax.jit(jax.vmap(partial(trainer.epochs, n=epochs), in_axes=(0, None)))
    return compiled_mb(program.lower(state, data_lib.split(cfg)).compile())


def free_device_bytes(devices) -> float | None:
    """The smallest free memory over `devices`, where the backend reports it (GPUs), else None."""
    free = []
    for device in devices:
        stats = device.memory_stats() if hasattr(device, "memory_stats") else None
        if not stats or "bytes_limit" not in stats:
            return None
        free.append(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return float(min(free)) if free else None


def runs_that_fit(cfg: Config, runs: Runs, devices, epochs_per_chunk: int, probe: int = 64) -> int:
    """All runs at once where the backend reports no memory (CPU) or they are no more than
    `probe` per device; else as many as fit, from the memory XLA plans for `probe` runs of
    one `epochs_per_chunk`-epoch program."""
    free = free_device_bytes(devices)
    if free is None or runs.count <= probe * len(devices):  # no report, or no bigger than the probe
        return runs.count
    per_run = program_mb(cfg, probe, epochs_per_chunk, runs.traits) * 2**20 / probe
    return block_size(per_run * len(devices), free * len(devices), runs.count, len(devices))


class TooBig(ValueError):
    """A study that would not fit in memory; the message is one line."""


def available_bytes(devices) -> float:
    """Free memory where the runs will live: the smallest GPU's free memory, else the host's
    MemAvailable (Linux), else the physical memory."""
    free = free_device_bytes(devices)
    if free is not None:
        return free
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def estimate_bytes(cfg: Config, runs: int, traits: frozenset) -> float:
    """Memory for `runs` runs of cfg trained in one program, from shapes alone (nothing is
    allocated or compiled): the training state three times (host copy, device state,
    donated update), the backward pass's activations of one minibatch per run, the
    histories and forecasts (scored in float64), and the series and its windows to the end of
    the forecast (`data_bytes`)."""
    return sum(estimate_parts(cfg, runs, traits).values())


def run_bytes(cfg: Config, traits: frozenset) -> tuple[int, int]:
    """One run's training state and its parameters, in bytes, from shapes alone."""
    # shapes alone: the per-backend defaults of unroll and time_scan would ask for (and start) the backend
    one = state_shape(cfg.replace(unroll=1, time_scan="sequential"), traits)
    state = sum(math.prod(s.shape) * s.dtype.itemsize for s in jax.tree.leaves(one))
    params = sum(math.prod(s.shape) * s.dtype.itemsize for s in jax.tree.leaves(one.params))
    return state, params


def estimate_parts(cfg: Config, runs: int, traits: frozenset) -> dict[str, float]:
    """`estimate_bytes` by part, each named by the flags that set its size."""
    state, params = run_bytes(cfg, traits)
    # about G: [H + 2, G H] floats in layer 0, [2 H + 1, G H] in each layer above
    rows = cfg.hidden + 2 + (cfg.layers - 1) * (2 * cfg.hidden + 1)
    gates = max(1, params // max(1, 4 * cfg.hidden * rows))
    activations = 4 * cfg.batch_size * cfg.window * cfg.hidden * (gates + 2) * 4 * cfg.layers
    histories = 2 * cfg.epochs * 4
    return {
        "the training state (--seeds, --hidden, --layers)": runs * 3 * state,
        "the activations (--seeds, --hidden, --layers, --batch-size, --window)": runs * activations,
        "the histories and forecasts (--seeds, --epochs, --horizon)": runs * (histories + cfg.steps * FORECAST_BYTES),
        "the series and its windows (--n-points, --horizon, --window)": data_bytes(cfg),
    }


# Measured peaks (tracemalloc; tests/scaling/test_memory.py checks them at a moderate size):
# the data preparation holds 48 bytes per sample of the series it computes, to the end of the
# forecast's horizon (float64 grid, clean and observed values; the forecast's and the Result's
# truth and context, views that keep the whole arrays), and 32 per value of the windows (their
# int64 index, float64 inputs and targets, float32 copies); scoring a forecast takes 29 bytes
# per run and step, measured (its float32 array and the metrics' float64 errors), 32 with a margin.
SAMPLE_BYTES = 48
WINDOW_BYTES = 32
FORECAST_BYTES = 32


def data_bytes(cfg: Config) -> int:
    """The data preparation's peak, from shapes: every channel's samples up to the forecast's
    end (the horizon runs past the stored points under the notebook's protocol) and the
    training and validation windows."""
    from rnnjax.core.series import channels

    samples = max(cfg.length, cfg.origin + cfg.steps)
    return len(channels(cfg)) * (samples * SAMPLE_BYTES + cfg.n_windows * cfg.window * WINDOW_BYTES)


def check_fits(cfg: Config, runs: int, traits: frozenset, devices, what: str) -> float:
    """The estimate, or TooBig naming it, the memory available and what to reduce."""
    parts, have = estimate_parts(cfg, runs, traits), available_bytes(devices)
    need = sum(parts.values())
    if need > FREE_MEMORY_USED * have:
        most = max(parts, key=parts.get)  # the cause, so that the advice names its flags
        raise TooBig(
            f"{what} needs about {need / 2**30:.3g} GiB ({runs} runs at once), more than the "
            f"{have / 2**30:.3g} GiB available; {parts[most] / need:.0%} of it is {most}: reduce those"
        )
    return need
