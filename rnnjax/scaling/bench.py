"""Measurements for experiments/benchmark.py: rnnjax's one-program training against the
naive loop a Flax tutorial would write (a jitted optimiser step called from Python, one
seed at a time). Timings are printed and saved by the script, never asserted in tests."""

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnjax.core import data as data_lib
from rnnjax.core.config import Config
from rnnjax.core.forecast import forecast
from rnnjax.core.model import init_params, make_model
from rnnjax.study.train import train_chunked


class Measurement(NamedTuple):
    compile_s: float
    train_s: float
    seed_epochs_per_s: float
    program_mb: float  # XLA's memory analysis of the training program: arguments + outputs + temporaries
    rollout_s: float  # compiling and running the closed-loop forecast of every seed


def measure(cfg: Config, devices) -> Measurement:
    """Compile and run cfg.seeds seeds for cfg.epochs epochs in one program over `devices`,
    then roll every seed out."""
    training = train_chunked(cfg, cfg.epochs, devices=devices)
    t0 = time.perf_counter()
    forecast(cfg, training.result.params)
    rollout_s = time.perf_counter() - t0
    throughput = cfg.seeds * cfg.epochs / training.train_s
    return Measurement(training.compile_s, training.train_s, throughput, training.program_mb, rollout_s)


def naive_seed_epochs_per_s(cfg: Config, epochs: int) -> float:
    """One seed, one jitted SGD step per minibatch called from a Python loop, NumPy shuffling,
    as in Flax's tutorials, always with the XLA cell: one baseline for either cfg.kernel.
    Compilation (full and partial batch) is excluded by a warm-up epoch."""
    model = make_model(cfg.replace(kernel="xla"))
    windows = data_lib.split(cfg)
    params = init_params(model, jax.random.key(cfg.seed), cfg.window)
    optimizer = optax.sgd(cfg.lr, cfg.momentum or None)  # the same updates as rnnjax's
    opt_state = optimizer.init(params)

    @jax.jit
    def train_step(params, opt_state, x, y):
        def loss_fn(p):
            pred = jax.vmap(lambda xi: model.apply({"params": p}, xi))(x)
            return jnp.mean((pred - y) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(cfg.seed)

    def epoch(params, opt_state):
        order = rng.permutation(cfg.n_train)
        for start in range(0, cfg.n_train, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            params, opt_state, loss = train_step(params, opt_state, windows.x_train[idx], windows.y_train[idx])
        loss.block_until_ready()
        return params, opt_state

    params, opt_state = epoch(params, opt_state)  # warm-up: compiles both batch shapes
    t0 = time.perf_counter()
    for _ in range(epochs):
        params, opt_state = epoch(params, opt_state)
    return epochs / (time.perf_counter() - t0)


class BacktestTiming(NamedTuple):
    one_program_s: float  # every origin x seed of the model in one study (one compiled program)
    separate_s: float  # the same origins as separate runs, one after another
    origins: int


def backtest_timing(cfg: Config) -> BacktestTiming:
    """Wall time of a `cfg.origins`-origin backtest of cfg.seeds seeds trained as one program
    (the origins a grid axis), against the same origins trained one at a time; the same
    numbers either way (each run equals its config alone)."""
    from rnnjax.study import runner
    from rnnjax.study.grid import Study, make_grid

    folds = list(range(cfg.origins))
    t0 = time.perf_counter()
    runner.run_study(Study({cfg.cell: cfg}, make_grid(cfg, {"fold": folds})))
    t1 = time.perf_counter()
    for f in folds:
        one = cfg.replace(fold=f)
        runner.run_study(Study({cfg.cell: one}, make_grid(one, {"fold": [f]})))
    return BacktestTiming(t1 - t0, time.perf_counter() - t1, cfg.origins)
