"""Training as pure functions of a PRNG key: SGD on MSE with Keras's
`fit(batch_size, shuffle=True, validation_split)` semantics, for one run; vmap them over
runs (seeds, grid points). Placing runs on devices and compiling chunks of epochs is
`rnnjax.scaling.sharding`'s job."""

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnjax.core import data as data_lib
from rnnjax.core.config import Config
from rnnjax.core.model import Regressor, init_params, make_model, predict_batch

# A finite loss this many times the MSE of predicting zero (the mean square of the training
# targets) counts as diverged too: predictions ~1000x the signal have left the task (8e25 was
# seen at lr 1.0), and their statistics would be noise.
DIVERGED_ABOVE = 1e6


class TrainState(NamedTuple):
    """The carry of the epoch scan."""

    params: Any
    opt_state: Any
    key: jax.Array  # split once per epoch for that epoch's shuffle
    epoch: jax.Array  # epochs done
    diverged_epoch: jax.Array  # 0 while finite, else the (1-based) epoch whose loss or params were not


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
    diverged_epoch: jax.Array  # [seeds]; 0 for a seed that never diverged


def seed_key(base_seed: int, i) -> jax.Array:
    """Seed i's key depends on (base_seed, i) alone, so it trains the same in any batch."""
    return jax.random.fold_in(jax.random.key(base_seed), i)


def sample_losses(model: Regressor, params, x_BxTxI, y_BxTxI) -> jax.Array:
    """Per-sample MSE over all time steps and features: [B]."""
    pred = predict_batch(model, params, x_BxTxI)
    return jnp.mean((pred - y_BxTxI) ** 2, axis=(1, 2))


def batch_loss(model: Regressor, params, batch: Batch) -> jax.Array:
    """Mean over the batch's real samples (the padding of a partial batch does not count)."""
    losses = sample_losses(model, params, batch.x_BxTxI, batch.y_BxTxI)
    return jnp.sum(batch.mask_B * losses) / jnp.sum(batch.mask_B)


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def epoch_batches(cfg: Config, windows: data_lib.Windows, order) -> Batch:
    """The epoch's minibatches in `order`, padded to [steps, batch, ...] with a mask."""
    padded = cfg.steps_per_epoch * cfg.batch_size
    real = jnp.arange(padded) < cfg.n_train
    idx = jnp.where(real, jnp.pad(order, (0, padded - cfg.n_train)), 0)
    shape = (cfg.steps_per_epoch, cfg.batch_size)
    x = jnp.asarray(windows.x_train)[idx]
    y = jnp.asarray(windows.y_train)[idx]
    return Batch(x.reshape(*shape, *x.shape[1:]), y.reshape(*shape, *y.shape[1:]), real.reshape(shape).astype(x.dtype))


class Hyper(NamedTuple):
    """The optimiser's scalar hyperparameters of one run (arrays of them, vmapped, in a grid)."""

    lr: Any
    momentum: Any  # None: plain SGD, no momentum trace in the state


def make_optimizer(hyper: Hyper) -> optax.GradientTransformation:
    """SGD whose hyperparameters live in its state (optax.inject_hyperparams), so that runs
    with different values are one vmapped program. Without momentum it computes what
    optax.sgd(lr) does; a momentum trace (even at momentum 0) is a params-sized buffer more."""
    return optax.inject_hyperparams(optax.sgd)(learning_rate=hyper.lr, momentum=hyper.momentum)


def _hyper(cfg: Config, momentum: bool) -> Hyper:
    return Hyper(cfg.lr, cfg.momentum if momentum else None)


class Trainer(NamedTuple):
    """One run's training as pure functions; vmap them over runs (seeds, grid points)."""

    init: Callable[..., TrainState]  # (params, key[, Hyper]) -> state at epoch 0
    epochs: Callable[[TrainState, data_lib.Windows, int], tuple[TrainState, History]]  # n epochs on these windows


def make_trainer(cfg: Config, model: Regressor, momentum: bool | None = None) -> Trainer:
    """SGD on the masked minibatch MSE; an epoch is a lax.scan over its minibatches. The
    learning rate and momentum are read from each run's optimiser state; `momentum` says
    whether the runs have a momentum trace (default: cfg.momentum > 0)."""
    momentum = cfg.momentum > 0 if momentum is None else momentum
    optimizer = make_optimizer(_hyper(cfg, momentum))
    loss_and_grad = jax.value_and_grad(partial(batch_loss, model))

    def minibatch(state: StepState, batch: Batch):
        loss, grads = loss_and_grad(state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return StepState(optax.apply_updates(state.params, updates), opt_state), loss * jnp.sum(batch.mask_B)

    def epoch(windows: data_lib.Windows, state: TrainState, _):
        key, k_order = jax.random.split(state.key)
        order = jax.random.permutation(k_order, cfg.n_train) if cfg.shuffle else jnp.arange(cfg.n_train)
        steps, loss_sums = jax.lax.scan(
            minibatch, StepState(state.params, state.opt_state), epoch_batches(cfg, windows, order)
        )
        val = jnp.mean(sample_losses(model, steps.params, windows.x_val, windows.y_val))
        loss = jnp.sum(loss_sums) / cfg.n_train
        # a seed whose loss or parameters stop being finite, or whose loss passes
        # DIVERGED_ABOVE x the loss of predicting zero, is frozen at its last good state
        # from then on; its later losses read NaN
        epoch = state.epoch + 1
        limit = DIVERGED_ABOVE * jnp.mean(jnp.square(windows.y_train))
        finite = jnp.isfinite(loss) & jnp.isfinite(val) & _all_finite(steps.params)
        sane = finite & (loss <= limit) & (val <= limit)
        diverged_epoch = jnp.where((state.diverged_epoch == 0) & ~sane, epoch, state.diverged_epoch)
        live = diverged_epoch == 0
        params, opt_state = jax.tree.map(
            lambda new, old: jnp.where(live, new, old),
            (steps.params, steps.opt_state),
            (state.params, state.opt_state),
        )
        history = History(jnp.where(live, loss, jnp.nan), jnp.where(live, val, jnp.nan))
        return TrainState(params, opt_state, key, epoch, diverged_epoch), history

    def init(params, key, hyper: Hyper | None = None) -> TrainState:
        zero = jnp.zeros((), jnp.int32)
        opt_state = make_optimizer(hyper or _hyper(cfg, momentum)).init(params)
        return TrainState(params, opt_state, key, zero, zero)

    def epochs(state: TrainState, windows: data_lib.Windows, n: int) -> tuple[TrainState, History]:
        return jax.lax.scan(partial(epoch, windows), state, None, length=n)

    return Trainer(init, epochs)


def make_fit(cfg: Config, model: Regressor, windows: data_lib.Windows):
    """fit(params, key) -> TrainResult for one seed: cfg.epochs epochs in one lax.scan."""
    trainer = make_trainer(cfg, model)

    def fit(params, key) -> TrainResult:
        state, history = trainer.epochs(trainer.init(params, key), windows, cfg.epochs)
        return TrainResult(state.params, history, state.diverged_epoch)

    return fit


class Runs(NamedTuple):
    """What differs between the runs trained in one program: one entry per run, [R] arrays.
    Runs that share a seed index start from the same parameters and shuffle the same way,
    whatever their hyperparameters (common random numbers for comparisons across a grid)."""

    seed: np.ndarray  # seed index i: keys from fold_in(key(cfg.seed), i)
    lr: np.ndarray
    momentum: np.ndarray
    tau: np.ndarray  # the series' decay: each run trains on its own series' windows
    noise: np.ndarray  # the observation noise's sd: likewise

    @property
    def count(self) -> int:
        return len(self.seed)

    def take(self, idx) -> "Runs":
        return Runs(*(np.asarray(a)[idx] for a in self))

    @property
    def has_momentum(self) -> bool:
        """Whether the runs need a momentum trace in their optimiser state."""
        return bool(np.any(self.momentum > 0))

    def hyper(self) -> Hyper:
        """The optimiser's hyperparameters, [R] float32 arrays (no momentum: None)."""
        momentum = jnp.asarray(self.momentum, jnp.float32) if self.has_momentum else None
        return Hyper(jnp.asarray(self.lr, jnp.float32), momentum)


def seed_runs(cfg: Config, seeds=None) -> Runs:
    """Seed indices `seeds` (default 0..cfg.seeds-1), every one with the config's values."""
    seeds = np.arange(cfg.seeds) if seeds is None else np.asarray(seeds)
    full = partial(np.full, len(seeds))
    return Runs(seeds, full(cfg.lr), full(cfg.momentum), full(cfg.tau), full(cfg.noise))


def run_windows(cfg: Config, runs: Runs) -> tuple[data_lib.Windows, int | None]:
    """(windows, vmap axis): one shared set (axis None) when every run sees the same series
    (data.SERIES_KNOBS), else each run's own, stacked on a leading axis (0)."""
    groups = data_lib.series_groups(cfg, runs)
    if len(groups) == 1:
        return data_lib.split(groups[0][0]), None
    per_run = [None] * runs.count
    for cfg_g, idx in groups:
        windows = data_lib.split(cfg_g)
        for r in idx:
            per_run[r] = windows
    return jax.tree.map(lambda *a: np.stack(a), *per_run), 0


def seed_keys(cfg: Config, seeds=None) -> tuple[jax.Array, jax.Array]:
    """(init keys, fit keys), each [len(seeds)], for seed indices `seeds` (default 0..cfg.seeds-1)."""
    seeds = jnp.arange(cfg.seeds) if seeds is None else jnp.asarray(seeds)
    keys = jax.vmap(lambda i: jax.random.split(seed_key(cfg.seed, i)))(seeds)
    return keys[:, 0], keys[:, 1]


def init_seeds(cfg: Config, init_keys: jax.Array):
    """Parameters for each seed, [seeds, ...] leaves; compiled apart from training."""
    model = make_model(cfg)
    return jax.jit(jax.vmap(lambda k: init_params(model, k, cfg.window)))(init_keys)


def state_shape(cfg: Config, trainer: Trainer):
    """One run's TrainState as ShapeDtypeStructs, traced without computing anything."""
    model = make_model(cfg)

    def one_run():
        key = jax.random.key(0)
        return trainer.init(init_params(model, key, cfg.window), key)

    return jax.eval_shape(one_run)
