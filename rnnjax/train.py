"""Training as one pure, jit-compiled function of a PRNG key: SGD on MSE with Keras's
`fit(batch_size, shuffle=True, validation_split)` semantics, vmapped over seeds."""

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rnnjax import data as data_lib
from rnnjax.config import Config
from rnnjax.model import Regressor, init_params, make_model


class TrainState(NamedTuple):
    """The carry of the epoch scan."""

    params: Any
    opt_state: Any
    key: jax.Array  # split once per epoch for that epoch's shuffle


class StepState(NamedTuple):
    """The carry of the minibatch scan."""

    params: Any
    opt_state: Any


class Batch(NamedTuple):
    x_BxTxI: jax.Array
    y_BxTxI: jax.Array
    mask_B: jax.Array  # 1 for real samples, 0 for the padding of the last partial batch


class History(NamedTuple):
    """Per-epoch losses as Keras reports them: [epochs] per seed, [seeds, epochs] over seeds."""

    loss: jax.Array  # mean over the epoch's training samples of the loss at their step
    val_loss: jax.Array  # validation MSE after the epoch's updates


class TrainResult(NamedTuple):
    params: Any
    history: History


def seed_key(base_seed: int, i) -> jax.Array:
    """Seed i's key depends on (base_seed, i) alone, so it trains the same in any batch."""
    return jax.random.fold_in(jax.random.key(base_seed), i)


def sample_losses(model: Regressor, params, x_BxTxI, y_BxTxI) -> jax.Array:
    """Per-sample MSE over all time steps and features: [B]."""
    pred = jax.vmap(lambda x: model.apply({"params": params}, x))(x_BxTxI)
    return jnp.mean((pred - y_BxTxI) ** 2, axis=(1, 2))


def batch_loss(model: Regressor, params, batch: Batch) -> jax.Array:
    """Mean over the batch's real samples (the padding of a partial batch does not count)."""
    losses = sample_losses(model, params, batch.x_BxTxI, batch.y_BxTxI)
    return jnp.sum(batch.mask_B * losses) / jnp.sum(batch.mask_B)


def epoch_batches(cfg: Config, windows: data_lib.Windows, order) -> Batch:
    """The epoch's minibatches in `order`, padded to [steps, batch, ...] with a mask."""
    padded = cfg.steps_per_epoch * cfg.batch_size
    real = jnp.arange(padded) < cfg.n_train
    idx = jnp.where(real, jnp.pad(order, (0, padded - cfg.n_train)), 0)
    shape = (cfg.steps_per_epoch, cfg.batch_size)
    x = jnp.asarray(windows.x_train)[idx]
    y = jnp.asarray(windows.y_train)[idx]
    return Batch(x.reshape(*shape, *x.shape[1:]), y.reshape(*shape, *y.shape[1:]), real.reshape(shape).astype(x.dtype))


def make_fit(cfg: Config, model: Regressor, windows: data_lib.Windows):
    """fit(params, key) -> TrainResult for one seed: cfg.epochs epochs in one lax.scan."""
    optimizer = optax.sgd(cfg.lr)
    loss_and_grad = jax.value_and_grad(partial(batch_loss, model))

    def minibatch(state: StepState, batch: Batch):
        loss, grads = loss_and_grad(state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return StepState(optax.apply_updates(state.params, updates), opt_state), loss * jnp.sum(batch.mask_B)

    def epoch(state: TrainState, _):
        key, k_order = jax.random.split(state.key)
        order = jax.random.permutation(k_order, cfg.n_train) if cfg.shuffle else jnp.arange(cfg.n_train)
        steps, loss_sums = jax.lax.scan(
            minibatch, StepState(state.params, state.opt_state), epoch_batches(cfg, windows, order)
        )
        val = jnp.mean(sample_losses(model, steps.params, windows.x_val, windows.y_val))
        return TrainState(steps.params, steps.opt_state, key), History(jnp.sum(loss_sums) / cfg.n_train, val)

    def fit(params, key) -> TrainResult:
        state = TrainState(params, optimizer.init(params), key)
        state, history = jax.lax.scan(epoch, state, None, length=cfg.epochs)
        return TrainResult(state.params, history)

    return fit


def seed_keys(cfg: Config, seeds=None) -> tuple[jax.Array, jax.Array]:
    """(init keys, fit keys), each [len(seeds)], for seed indices `seeds` (default 0..cfg.seeds-1)."""
    seeds = jnp.arange(cfg.seeds) if seeds is None else jnp.asarray(seeds)
    keys = jax.vmap(lambda i: jax.random.split(seed_key(cfg.seed, i)))(seeds)
    return keys[:, 0], keys[:, 1]


def init_seeds(cfg: Config, init_keys: jax.Array):
    """Parameters for each seed, [seeds, ...] leaves; compiled apart from training."""
    model = make_model(cfg)
    return jax.jit(jax.vmap(lambda k: init_params(model, k, cfg.window)))(init_keys)


def train(cfg: Config, seeds=None) -> TrainResult:
    """Train cfg.seeds seeds (or the seed indices given) at once; leaves gain a leading seed axis."""
    init_keys, fit_keys = seed_keys(cfg, seeds)
    model = make_model(cfg)
    fit = make_fit(cfg, model, data_lib.split(cfg))
    return jax.jit(jax.vmap(fit))(init_seeds(cfg, init_keys), fit_keys)
