"""The training driver: many runs (seeds x grid points) trained as one compiled program,
vmapped over the runs and sharded over every device, run as chunks of epochs so that
progress can be shown and saved between them, and resumed from a saved `Progress`.

Each run's result is the same as from one program: every chunk continues the same scan
carry (params, optimiser state, shuffle key, epoch). Programs are cached by shape
(`core.train.ProgramKey`), so blocks of runs of the same shape compile once.
"""

import time
from collections import OrderedDict
from functools import partial
from typing import NamedTuple

import jax
import numpy as np

from rnnjax.core.config import Config
from rnnjax.core.model import make_model
from rnnjax.core.train import (
    ProgramKey,
    Progress,
    Runs,
    TrainResult,
    final_params,
    host_state,
    init_states,
    make_trainer,
    run_windows,
    seed_runs,
)
from rnnjax.scaling import memory, runtime
from rnnjax.scaling.sharding import device_state, pad_seeds, replicate, seed_mesh, shard_seeds

MAX_PROGRAMS = 32  # compiled chunk programs kept (one per shape, chunk length and placement)
_programs: OrderedDict = OrderedDict()


def train(cfg: Config, seeds=None, devices=None, runs: Runs | None = None) -> TrainResult:
    """Train cfg.seeds seeds (or the seed indices given, or `runs`) at once, in one program,
    sharded over `devices` (default: all local devices); leaves gain a leading run axis."""
    return train_chunked(cfg, cfg.epochs, seeds=seeds, devices=devices, runs=runs).result


def chunk_lengths(epochs: int, chunk: int) -> list[int]:
    """Split `epochs` into compiled chunks of `chunk` epochs and one shorter remainder."""
    return [chunk] * (epochs // chunk) + ([epochs % chunk] if epochs % chunk else [])


class ChunkedTraining(NamedTuple):
    result: TrainResult
    compile_s: float  # tracing and compiling the (at most two) chunk programs; 0 when cached
    train_s: float  # running every chunk (with a resumed run's earlier time)
    program_mb: float  # XLA's memory analysis of the largest chunk program, all devices


def _signature(tree) -> tuple:
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple((a.shape, a.dtype, a.sharding) for a in leaves)


def compiled_epochs(cfg: Config, traits: frozenset, n: int, windows_axis, state, windows):
    """The compiled program of `n` epochs for these runs' state and windows (their shapes
    and placement), built once and kept: a second block of the same shape reuses it."""
    key = (ProgramKey(cfg), traits, n, windows_axis, _signature((state, windows)))
    if key in _programs:
        _programs.move_to_end(key)
        return _programs[key]
    trainer = make_trainer(cfg, make_model(cfg), traits)
    program = jax.jit(jax.vmap(partial(trainer.epochs, n=n), in_axes=(0, windows_axis)), donate_argnums=0)
    _programs[key] = program.lower(state, windows).compile()
    if len(_programs) > MAX_PROGRAMS:
        _programs.popitem(last=False)
    return _programs[key]


def _all_stopped(state, n_runs: int) -> bool:
    """Every real run has stopped early or diverged: it is frozen for the epochs left."""
    if state.stop is None:
        return False
    stopped = np.asarray(state.stop.stopped_epoch)[:n_runs] > 0
    return bool(np.all(stopped | (np.asarray(state.diverged_epoch)[:n_runs] > 0)))


def train_chunked(
    cfg: Config,
    chunk: int,
    on_chunk=None,
    seeds=None,
    devices=None,
    resume: Progress | None = None,
    runs: Runs | None = None,
) -> ChunkedTraining:
    """`train`, run as jit-compiled chunks of `chunk` epochs so that progress can be shown
    and saved; `on_chunk(Progress)` is called after each chunk. `resume` (a Progress from an
    earlier run of the same runs) continues from there, with the same result as an
    uninterrupted run. The runs axis is sharded over `devices` (default: all local
    devices), padded to a multiple of their count; the padding is dropped from every output.
    """
    from rnnjax.study.runner import check_environment

    runtime.use_all_cores()  # the API's first computation may be this one
    check_environment()
    runtime.warn_bad_setting()
    runs = seed_runs(cfg, seeds) if runs is None else runs
    mesh = seed_mesh(devices)
    padded = runs.take(pad_seeds(np.arange(runs.count), mesh.size))
    windows, windows_axis = run_windows(cfg, padded)
    windows = (shard_seeds if windows_axis == 0 else replicate)(windows, mesh)
    if resume is None:
        # initialised outside the sharded program: an orthogonal init (QR through LAPACK)
        # inside a program sharded over CPU host devices has been seen to hang
        state = shard_seeds(jax.block_until_ready(init_states(cfg, padded)), mesh)
        history, done, before_s = None, 0, 0.0
    else:
        state = device_state(resume.state, mesh)
        history, done, before_s = resume.history, resume.epoch, resume.train_s

    lengths = chunk_lengths(cfg.epochs - done, chunk)
    t0 = time.perf_counter()
    programs = {n: compiled_epochs(cfg, padded.traits, n, windows_axis, state, windows) for n in set(lengths)}
    t1 = time.perf_counter()
    for n in lengths:
        state, part = programs[n](state, windows)
        part = jax.tree.map(lambda a: np.asarray(a)[: runs.count], part)  # waits for the chunk
        history = part if history is None else jax.tree.map(lambda a, b: np.concatenate([a, b], axis=1), history, part)
        done += n
        if on_chunk is not None:
            on_chunk(Progress(done, history, host_state(state, runs.count), before_s + time.perf_counter() - t1))
        if _all_stopped(state, runs.count):  # the epochs left would change nothing: NaN, as they would read
            left = ((0, 0), (0, cfg.epochs - done))
            history = jax.tree.map(lambda a, left=left: np.pad(a, left, constant_values=np.nan), history)
            break
    t2 = time.perf_counter()
    real = jax.tree.map(lambda a: np.asarray(a)[: runs.count], (final_params(state), state.diverged_epoch, state.stop))
    params, diverged_epoch, stop = real
    stopped = None if stop is None else (stop.stopped_epoch, stop.best_epoch)
    result = TrainResult(params, history, diverged_epoch, *(stopped or ()))
    program_mb = max((memory.compiled_mb(p) for p in programs.values()), default=0.0)
    return ChunkedTraining(result, t1 - t0, before_s + t2 - t1, program_mb)
