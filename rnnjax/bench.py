"""Measurements for experiments/benchmark.py: rnnjax's one-program training against the
naive loop a Flax tutorial would write (a jitted optimiser step called from Python, one
seed at a time). Timings are printed and saved by the script, never asserted in tests."""

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnjax import data as data_lib
from rnnjax import forecast as forecast_lib
from rnnjax import sharding
from rnnjax import train as train_lib
from rnnjax.config import Config
from rnnjax.model import init_params, make_model


class Measurement(NamedTuple):
    compile_s: float
    train_s: float
    seed_epochs_per_s: float
    program_mb: float  # XLA's memory analysis of the training program: arguments + outputs + temporaries
    rollout_s: float  # compiling and running the closed-loop forecast of every seed


def _program_mb(compiled) -> float:
    stats = compiled.memory_analysis()
    if stats is None:
        return float("nan")
    total = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    return (total - stats.alias_size_in_bytes) / 2**20


def measure(cfg: Config, devices) -> Measurement:
    """Compile and run cfg.seeds seeds for cfg.epochs epochs in one program over `devices`."""
    mesh = sharding.seed_mesh(devices)
    seeds = sharding.pad_seeds(np.arange(cfg.seeds), mesh.size)
    init_keys, fit_keys = train_lib.seed_keys(cfg, seeds)
    model = make_model(cfg)
    trainer = train_lib.make_trainer(cfg, model, data_lib.split(cfg))
    state = jax.jit(jax.vmap(trainer.init))(train_lib.init_seeds(cfg, init_keys), fit_keys)
    state = sharding.shard_seeds(jax.block_until_ready(state), mesh)

    t0 = time.perf_counter()
    program = jax.jit(jax.vmap(lambda s: trainer.epochs(s, cfg.epochs)), donate_argnums=0)
    compiled = program.lower(state).compile()
    t1 = time.perf_counter()
    state, _ = jax.block_until_ready(compiled(state))
    t2 = time.perf_counter()
    context, _ = data_lib.forecast_truth(cfg)
    jax.block_until_ready(forecast_lib.forecast_seeds(model, state.params, context, cfg.horizon, cfg.forecast_mode))
    t3 = time.perf_counter()
    return Measurement(t1 - t0, t2 - t1, cfg.seeds * cfg.epochs / (t2 - t1), _program_mb(compiled), t3 - t2)


def naive_seed_epochs_per_s(cfg: Config, epochs: int) -> float:
    """One seed, one jitted SGD step per minibatch called from a Python loop, NumPy shuffling,
    as in Flax's tutorials. Compilation (full and partial batch) is excluded by a warm-up epoch."""
    model = make_model(cfg)
    windows = data_lib.split(cfg)
    params = init_params(model, jax.random.key(cfg.seed), cfg.window)
    optimizer = optax.sgd(cfg.lr)
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
