"""The runs axis sharded over devices (GPUs, TPU cores, or CPU host devices), and training
run there as compiled chunks of epochs.

Runs never talk to each other, so a program vmapped over runs and given inputs sharded
along that axis runs each device's slice independently (jax.jit follows the input
shardings). The run count is padded to a multiple of the device count with repeats of
real runs, whose results are dropped.
"""

import time
from functools import partial
from typing import NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rnnjax.core import data as data_lib
from rnnjax.core.config import Config
from rnnjax.core.model import make_model
from rnnjax.core.train import (
    History,
    Runs,
    Trainer,
    TrainResult,
    TrainState,
    init_seeds,
    make_trainer,
    run_windows,
    seed_keys,
    seed_runs,
    state_shape,
)
from rnnjax.scaling import runtime

AXIS = "seeds"


def seed_mesh(devices=None) -> Mesh:
    """A 1-D mesh over `devices` (default: every local device)."""
    return Mesh(np.asarray(jax.local_devices() if devices is None else devices), (AXIS,))


def pad_seeds(seeds: np.ndarray, n_devices: int) -> np.ndarray:
    """`seeds` repeated cyclically up to the next multiple of n_devices."""
    size = -(-len(seeds) // n_devices) * n_devices
    return np.resize(np.asarray(seeds), size)


def shard_seeds(tree, mesh: Mesh):
    """Place every leaf with its leading (seeds) axis split over the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec(AXIS)))


def replicate(tree, mesh: Mesh):
    """Place every leaf whole on every device of the mesh (data all runs share)."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def train(cfg: Config, seeds=None, devices=None, runs: Runs | None = None) -> TrainResult:
    """Train cfg.seeds seeds (or the seed indices given, or `runs`) at once, in one program,
    sharded over `devices` (default: all local devices); leaves gain a leading run axis."""
    return train_chunked(cfg, cfg.epochs, seeds=seeds, devices=devices, runs=runs).result


def _cat_epochs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([a, b], axis=1)


def chunk_lengths(epochs: int, chunk: int) -> list[int]:
    """Split `epochs` into compiled chunks of `chunk` epochs and one shorter remainder."""
    return [chunk] * (epochs // chunk) + ([epochs % chunk] if epochs % chunk else [])


class ChunkedTraining(NamedTuple):
    result: TrainResult
    compile_s: float  # tracing and compiling the (at most two) chunk programs
    train_s: float  # running every chunk (with a resumed run's earlier time)
    program_mb: float  # XLA's memory analysis of the largest chunk program, all devices


def _program_mb(compiled) -> float:
    """Arguments + outputs + temporaries, less what aliases (donated buffers)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return float("nan")
    total = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    return (total - stats.alias_size_in_bytes) / 2**20


def program_mb(cfg: Config, runs: int, epochs: int, momentum: bool = False) -> float:
    """XLA's memory plan (MB) for `runs` runs of an `epochs`-epoch chunk on one device,
    compiled but not run: sizes automatic chunks of runs on a GPU."""
    trainer = make_trainer(cfg, make_model(cfg), momentum)
    one = state_shape(cfg, trainer)
    state = jax.tree.map(lambda s: jax.ShapeDtypeStruct((runs, *s.shape), s.dtype), one)
    program = jax.jit(jax.vmap(partial(trainer.epochs, n=epochs), in_axes=(0, None)))
    return _program_mb(program.lower(state, data_lib.split(cfg)).compile())


class Progress(NamedTuple):
    """What `train_chunked` reports after each chunk; enough to resume from."""

    epoch: int  # epochs done
    history: History  # [runs, epoch] NumPy arrays
    state: TrainState  # real runs only, on the host: NumPy leaves, the key as key data
    train_s: float  # training time so far


def state_structure(cfg: Config, momentum: bool | None = None):
    """The pytree structure of one run's TrainState (for restoring saved leaves)."""
    return jax.tree.structure(state_shape(cfg, make_trainer(cfg, make_model(cfg), momentum)))


def state_structure_shapes(cfg: Config, runs: Runs) -> TrainState:
    """`host_state`'s shapes and dtypes for these runs: what a checkpoint must hold."""
    one = state_shape(cfg, make_trainer(cfg, make_model(cfg), runs.has_momentum))
    one = one._replace(key=jax.eval_shape(jax.random.key_data, one.key))
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((runs.count, *s.shape), s.dtype), one)


def host_state(state: TrainState, n_runs: int) -> TrainState:
    """The first n_runs runs' state as NumPy arrays (keys as raw key data)."""
    state = state._replace(key=jax.random.key_data(state.key))
    return jax.tree.map(lambda a: np.asarray(a)[:n_runs], state)


def device_state(host: TrainState, mesh) -> TrainState:
    """`host_state` back on the devices, padded with repeated rows as the runs are padded."""
    rows = pad_seeds(np.arange(len(host.epoch)), mesh.size)
    state = jax.tree.map(lambda a: np.asarray(a)[rows], host)
    return shard_seeds(state._replace(key=jax.random.wrap_key_data(state.key)), mesh)


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
    and saved.

    Each run's result is the same as from one program: every chunk continues the same
    scan carry (params, optimiser state, shuffle key, epoch). `on_chunk(Progress)` is called
    after each chunk. `resume` (a Progress from an earlier run of the same runs) continues
    from there, with the same result as an uninterrupted run. The runs axis is sharded over
    `devices` (default: all local devices), padded to a multiple of their count; the padding
    is dropped from every output.
    """
    runtime.use_all_cores()  # the API's first computation may be this one
    runtime.warn_bad_setting()
    runs = seed_runs(cfg, seeds) if runs is None else runs
    mesh = seed_mesh(devices)
    padded = runs.take(pad_seeds(np.arange(runs.count), mesh.size))
    trainer: Trainer = make_trainer(cfg, make_model(cfg), padded.has_momentum)
    windows, windows_axis = run_windows(cfg, padded)
    windows = (shard_seeds if windows_axis == 0 else replicate)(windows, mesh)
    if resume is None:
        init_keys, fit_keys = seed_keys(cfg, padded.seed)
        # initialised outside the sharded program: an orthogonal init (QR through LAPACK)
        # inside a program sharded over CPU host devices has been seen to hang
        state = jax.jit(jax.vmap(trainer.init))(init_seeds(cfg, init_keys), fit_keys, padded.hyper())
        state = shard_seeds(jax.block_until_ready(state), mesh)
        history, done, before_s = None, 0, 0.0
    else:
        state = device_state(resume.state, mesh)
        history, done, before_s = resume.history, resume.epoch, resume.train_s

    lengths = chunk_lengths(cfg.epochs - done, chunk)
    t0 = time.perf_counter()
    programs = {
        n: jax.jit(jax.vmap(partial(trainer.epochs, n=n), in_axes=(0, windows_axis)), donate_argnums=0)
        .lower(state, windows)
        .compile()
        for n in set(lengths)
    }
    t1 = time.perf_counter()
    for n in lengths:
        state, part = programs[n](state, windows)
        part = jax.tree.map(lambda a: np.asarray(a)[: runs.count], part)  # waits for the chunk
        history = part if history is None else jax.tree.map(_cat_epochs, history, part)
        done += n
        if on_chunk is not None:
            on_chunk(Progress(done, history, host_state(state, runs.count), before_s + time.perf_counter() - t1))
    t2 = time.perf_counter()
    params = jax.tree.map(lambda a: np.asarray(a)[: runs.count], state.params)
    diverged_epoch = np.asarray(state.diverged_epoch)[: runs.count]
    program_mb = max((_program_mb(p) for p in programs.values()), default=0.0)
    return ChunkedTraining(TrainResult(params, history, diverged_epoch), t1 - t0, before_s + t2 - t1, program_mb)
