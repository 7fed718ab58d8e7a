"""Hyperparameter sweeps: a grid of scalar knobs (learning rate, momentum, tau) x seeds,
per model, trained as one vmapped program (or in chunks of runs), then rolled out.

Scalar knobs (VMAPPED) vary inside one compiled program (train.Runs); shape-changing knobs
(SEPARATE: hidden size, window; and the cell, one model each) get one program per value. A
new scalar knob is a Config field added to VMAPPED and to train.Runs.
"""

import itertools
import time
from typing import NamedTuple

import jax
import numpy as np

from rnnjax import data as data_lib
from rnnjax import forecast as forecast_lib
from rnnjax import train as train_lib
from rnnjax.config import Config
from rnnjax.experiment import ModelRun, Timing, default_chunk
from rnnjax.model import count_params, init_params, make_model

VMAPPED = ("lr", "momentum", "tau")
SEPARATE = ("hidden", "window")
GRID_FIELDS = SEPARATE + VMAPPED  # points are ordered so that each shape's points are contiguous
FREE_MEMORY_USED = 0.8  # share of a GPU's free memory an automatic chunk of runs may take


class Grid(NamedTuple):
    points: list[dict]  # every combination, {field: value} for each of GRID_FIELDS
    swept: tuple[str, ...]  # the fields given more than one value, in GRID_FIELDS order


def make_grid(cfg: Config, values: dict[str, list[float]]) -> Grid:
    """The product of the given values; a field not given keeps the config's value.
    Each point is validated as a Config (ConfigError names a bad value)."""
    axes = {f: list(values.get(f) or [getattr(cfg, f)]) for f in GRID_FIELDS}
    points = [dict(zip(GRID_FIELDS, combo, strict=True)) for combo in itertools.product(*axes.values())]
    for point in points:
        cfg.replace(**point)
    return Grid(points, tuple(f for f in GRID_FIELDS if len(axes[f]) > 1))


def grid_runs(grid: Grid, seeds: int) -> train_lib.Runs:
    """Point-major runs: run g * seeds + s is seed s at grid point g."""
    point = np.repeat(np.arange(len(grid.points)), seeds)
    seed = np.tile(np.arange(seeds), len(grid.points))
    values = {f: np.array([grid.points[g][f] for g in point], dtype=np.float64) for f in VMAPPED}
    return train_lib.Runs(seed=seed, **values)


def shape_of(point: dict) -> dict:
    return {f: point[f] for f in SEPARATE}


class RunOutputs(NamedTuple):
    """What the runs produced, as NumPy arrays with a leading run axis."""

    loss: np.ndarray  # [R, epochs]
    val_loss: np.ndarray  # [R, epochs]
    diverged_epoch: np.ndarray  # [R]
    forecast: np.ndarray  # [R, horizon]

    def take(self, idx) -> "RunOutputs":
        return RunOutputs(*(a[idx] for a in self))


def concat(parts: list[RunOutputs]) -> RunOutputs:
    return RunOutputs(*(np.concatenate(a) for a in zip(*parts, strict=True)))


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


def auto_chunk(cfg: Config, runs: train_lib.Runs, devices, probe: int = 64) -> int:
    """All runs at once where the backend reports no memory (CPU); on a GPU, as many as fit,
    from the memory XLA plans for `probe` runs of one training chunk."""
    free = free_device_bytes(devices)
    if free is None:
        return runs.count
    per_run = train_lib.program_mb(cfg, probe, default_chunk(cfg.epochs), runs.has_momentum) * 2**20 / probe
    return chunk_size(per_run * len(devices), free * len(devices), runs.count, len(devices))


def forecasts(cfg: Config, params_R, tau_R: np.ndarray) -> np.ndarray:
    """Closed-loop forecasts [R, horizon], each from its own series' context."""
    model = make_model(cfg)
    out = np.empty((len(tau_R), cfg.horizon), np.float32)
    for tau in np.unique(tau_R):
        idx = np.flatnonzero(tau_R == tau)
        context, _ = data_lib.forecast_truth(cfg.replace(tau=float(tau)))
        mine = jax.tree.map(lambda a, i=idx: a[i], params_R)
        out[idx] = np.asarray(forecast_lib.forecast_seeds(model, mine, context, cfg.horizon, cfg.forecast_mode))
    return out


def train_runs(cfg: Config, runs: train_lib.Runs, seed_chunk: int | None = None, devices=None, on_chunk=None):
    """(RunOutputs, Timing) of `runs`, trained `seed_chunk` runs at a time (default:
    auto_chunk) over `devices` (default: all local). Each run's result does not depend on
    the chunking: the runs never interact. `on_chunk(run_epochs_done)` follows the training."""
    devices = jax.local_devices() if devices is None else devices
    size = min(seed_chunk or auto_chunk(cfg, runs, devices), runs.count)
    parts, compile_s, train_s, forecast_s = [], 0.0, 0.0, 0.0
    for start in range(0, runs.count, size):
        n = min(size, runs.count - start)
        block = runs.take(np.resize(np.arange(start, start + n), size))  # the last one padded: one shape

        def progress(p: train_lib.Progress, start=start, n=n):
            if on_chunk is not None:
                on_chunk(start * cfg.epochs + p.epoch * n)

        training = train_lib.train_chunked(cfg, default_chunk(cfg.epochs), progress, devices=devices, runs=block)
        compile_s, train_s = compile_s + training.compile_s, train_s + training.train_s
        t0 = time.perf_counter()
        result = training.result
        pred = forecasts(cfg, result.params, block.tau)
        forecast_s += time.perf_counter() - t0
        outputs = RunOutputs(result.history.loss, result.history.val_loss, result.diverged_epoch, pred)
        parts.append(RunOutputs(*(np.asarray(a) for a in outputs)).take(np.arange(n)))
    return concat(parts), Timing(compile_s, train_s, forecast_s)


def no_outputs(cfg: Config) -> RunOutputs:
    """The outputs of zero runs (a process with no share of the runs)."""
    zeros = np.zeros((0, cfg.epochs), np.float32)
    return RunOutputs(zeros, zeros.copy(), np.zeros(0, np.int32), np.zeros((0, cfg.horizon), np.float32))


def train_grid(
    cfg: Config, grid: Grid, seeds: int, start: int = 0, stop: int | None = None, seed_chunk=None, on_chunk=None
):
    """(RunOutputs, Timing) of runs [start, stop) of grid_runs(grid, seeds) (default: all):
    one train_runs per stretch of runs that share a shape. `on_chunk(run_epochs_done)`."""
    runs = grid_runs(grid, seeds)
    stop = runs.count if stop is None else stop
    shapes = [shape_of(p) for p in grid.points]
    parts, timings, first = [no_outputs(cfg)], [Timing(0.0, 0.0, 0.0)], start
    while first < stop:
        shape = shapes[first // seeds]
        last = first
        while last < stop and shapes[last // seeds] == shape:
            last += 1

        def progress(done, before=(first - start) * cfg.epochs):
            if on_chunk is not None:
                on_chunk(before + done)

        out, timing = train_runs(cfg.replace(**shape), runs.take(np.arange(first, last)), seed_chunk, on_chunk=progress)
        parts.append(out)
        timings.append(timing)
        first = last
    return concat(parts), Timing(*(sum(t) for t in zip(*timings, strict=True)))


def model_runs(cfg: Config, grid: Grid, seeds: int, outputs: RunOutputs, timing: Timing) -> list[ModelRun]:
    """One ModelRun per grid point (its seeds), for the metrics and statistics of one model."""
    runs = []
    for g, point in enumerate(grid.points):
        mine = outputs.take(np.arange(g * seeds, (g + 1) * seeds))
        point_cfg = cfg.replace(**point, seeds=seeds)
        n_params = count_params(
            jax.eval_shape(lambda c=point_cfg: init_params(make_model(c), jax.random.key(0), c.window))
        )
        context, truth = data_lib.forecast_truth(point_cfg)
        runs.append(
            ModelRun(
                point_cfg,
                n_params,
                mine.loss,
                mine.val_loss,
                mine.forecast,
                context,
                truth,
                timing,
                mine.diverged_epoch,
            )
        )
    return runs
