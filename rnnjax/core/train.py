"""Training as pure functions of a PRNG key: SGD on MSE with Keras's
`fit(batch_size, shuffle=True, validation_split)` semantics, for one run; vmap them over
runs (seeds, grid points), each run's knobs in `Runs`. What a run's training state is on
the host (`Progress`), for saving and resuming. Running many runs as compiled chunks of
epochs over every device is the driver's job: `rnnjax.study.train`."""

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnjax.core import data as data_lib
from rnnjax.core import model as model_lib
from rnnjax.core import optim
from rnnjax.core.config import RUN, Config, knobs
from rnnjax.core.model import Regressor, init_params, make_model, predict_batch

# A finite loss this many times the MSE of predicting zero (the mean square of the training
# targets) counts as diverged too: predictions ~1000x the signal have left the task (8e25 was
# seen at lr 1.0), and their statistics would be noise.
DIVERGED_ABOVE = 1e6


class EarlyStop(NamedTuple):
    """Keras's EarlyStopping(monitor="val_loss") of one run, in the epoch carry."""

    best: jax.Array  # the best validation loss so far (inf before the first epoch)
    best_epoch: jax.Array  # its (1-based) epoch; 0 before the first
    wait: jax.Array  # epochs since the last improvement
    stopped_epoch: jax.Array  # the (1-based) last epoch the run trained; 0 while it trains
    params: Any  # the best epoch's parameters (restore_best), else None


class TrainState(NamedTuple):
    """The carry of the epoch scan."""

    params: Any
    opt_state: Any
    key: jax.Array  # split once per epoch for that epoch's shuffle
    epoch: jax.Array  # epochs done
    diverged_epoch: jax.Array  # 0 while finite, else the (1-based) epoch whose loss or params were not
    stop: EarlyStop | None = None  # early stopping (cfg.patience > 0), else None
    dropout: Any = None  # (rate, recurrent rate) of this run when some run drops out, else None


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
    params: Any  # the parameters each run ends with: its best epoch's where early stopping restores them
    history: History  # NaN after a run stopped early or diverged
    diverged_epoch: jax.Array  # [seeds]; 0 for a seed that never diverged
    stopped_epoch: Any = None  # [seeds] the last epoch an early-stopped run trained (0: it never stopped)
    best_epoch: Any = None  # [seeds] the epoch of its best validation loss (early stopping only)


def seed_key(base_seed: int, i) -> jax.Array:
    """Seed i's key depends on (base_seed, i) alone, so it trains the same in any batch."""
    return jax.random.fold_in(jax.random.key(base_seed), i)


def sample_losses(model: Regressor, params, x_BxTxI, y_BxTxI, dropout=None) -> jax.Array:
    """Per-sample MSE over all time steps and features: [B] (dropout: a model.Dropout, training's masks)."""
    pred = predict_batch(model, params, x_BxTxI) if dropout is None else predict_batch(model, params, x_BxTxI, dropout)
    return jnp.mean((pred - y_BxTxI) ** 2, axis=(1, 2))


def batch_loss(model: Regressor, params, batch: Batch, dropout=None) -> jax.Array:
    """Mean over the batch's real samples (the padding of a partial batch does not count)."""
    losses = sample_losses(model, params, batch.x_BxTxI, batch.y_BxTxI, dropout)
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


# RUN knobs that, when some run of a program sets them, add to its state: a momentum trace,
# per-run clip norms, dropout rates and keys. A program without them is the plain one.
TRAITS = ("momentum", "clipnorm", "dropout")


def traits_of(values) -> frozenset[str]:
    """The optional parts a program's runs need, from their knob values ({knob: [R] or scalar})."""
    on = {
        k: bool(np.any(np.asarray(values.get(k, 0)) > 0))
        for k in ("momentum", "clipnorm", "dropout", "recurrent_dropout")
    }
    on["dropout"] = on["dropout"] or on.pop("recurrent_dropout")
    return frozenset(k for k in TRAITS if on[k])


def config_knobs(cfg: Config) -> dict:
    """The config's own value of every RUN knob: what a run of it alone has."""
    return {k: getattr(cfg, k) for k in knobs(type(cfg), RUN)}


def _run_hyper(cfg: Config, traits: frozenset) -> dict:
    """The config's own values of what a run's optimiser state holds."""
    names = optim.hyper_names(optim.plan_of(cfg, "clipnorm" in traits), "momentum" in traits)
    values = optim.with_complements(config_knobs(cfg))
    return {k: values[k] for k in names}


class Trainer(NamedTuple):
    """One run's training as pure functions; vmap them over runs (seeds, grid points)."""

    init: Callable[..., TrainState]  # (params, key[, {knob: value}]) -> state at epoch 0
    epochs: Callable[[TrainState, data_lib.Windows, int], tuple[TrainState, History]]  # n epochs on these windows


def _early_stop(cfg: Config, stop: EarlyStop, epoch, val, params) -> EarlyStop:
    """Keras's EarlyStopping.on_epoch_end for val_loss: an epoch improves when
    val + min_delta < best; the run stops once `patience` epochs in a row have not (never
    at the first epoch); the best epoch's parameters are kept to be restored at the end."""
    wait = stop.wait + 1
    better = (stop.best_epoch == 0) | (val + cfg.min_delta < stop.best)  # Keras: the first epoch always is
    wait = jnp.where(better, 0, wait)
    stopped = (~better) & (wait >= cfg.patience) & (epoch > 1)
    kept = None
    if stop.params is not None:
        kept = jax.tree.map(lambda new, old: jnp.where(better, new, old), params, stop.params)
    return EarlyStop(
        jnp.where(better, val, stop.best),
        jnp.where(better, epoch, stop.best_epoch),
        wait,
        jnp.where(stopped, epoch, stop.stopped_epoch),
        kept,
    )


def make_trainer(cfg: Config, model: Regressor, traits: frozenset | None = None) -> Trainer:
    """Minibatch updates of the masked MSE with Keras's optimiser (core.optim); an epoch is
    a lax.scan over its minibatches. Each run's hyperparameters are read from its optimiser
    state; `traits` (default: the config's own, `traits_of`) says which optional parts the
    runs' states have."""
    traits = traits_of(config_knobs(cfg)) if traits is None else traits
    plan = optim.plan_of(cfg, "clipnorm" in traits)
    optimizer = optim.make_optimizer(plan, _run_hyper(cfg, traits))
    loss_and_grad = jax.value_and_grad(partial(batch_loss, model))

    def minibatch(rates, state: StepState, step):
        batch, key = step
        dropout = None if rates is None else model_lib.Dropout(key, *rates)
        loss, grads = loss_and_grad(state.params, batch, dropout)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return StepState(optax.apply_updates(state.params, updates), opt_state), loss * jnp.sum(batch.mask_B)

    def epoch(windows: data_lib.Windows, state: TrainState, _):
        key, k_order = jax.random.split(state.key)
        order = jax.random.permutation(k_order, cfg.n_train) if cfg.shuffle else jnp.arange(cfg.n_train)
        batches = epoch_batches(cfg, windows, order)
        # dropout keys come from the shuffle's key, so that a run without dropout draws
        # exactly what it always did, and each run's masks depend on its own key alone
        keys = None if state.dropout is None else jax.random.split(jax.random.fold_in(k_order, 1), cfg.steps_per_epoch)
        steps, loss_sums = jax.lax.scan(
            partial(minibatch, state.dropout), StepState(state.params, state.opt_state), (batches, keys)
        )
        val = jnp.mean(sample_losses(model, steps.params, windows.x_val, windows.y_val))
        loss = jnp.sum(loss_sums) / cfg.n_train
        # a seed whose loss or parameters stop being finite, or whose loss passes
        # DIVERGED_ABOVE x the loss of predicting zero, is frozen at its last good state
        # from then on; its later losses read NaN. A run that stopped early is frozen too.
        epoch = state.epoch + 1
        limit = DIVERGED_ABOVE * jnp.mean(jnp.square(windows.y_train))
        finite = jnp.isfinite(loss) & jnp.isfinite(val) & _all_finite(steps.params)
        sane = finite & (loss <= limit) & (val <= limit)
        training = True if state.stop is None else state.stop.stopped_epoch == 0
        diverged_epoch = jnp.where((state.diverged_epoch == 0) & ~sane & training, epoch, state.diverged_epoch)
        live = (diverged_epoch == 0) & training
        params, opt_state = jax.tree.map(
            lambda new, old: jnp.where(live, new, old),
            (steps.params, steps.opt_state),
            (state.params, state.opt_state),
        )
        stop = state.stop
        if stop is not None:
            stop = jax.tree.map(
                lambda new, old: jnp.where(live, new, old), _early_stop(cfg, stop, epoch, val, params), stop
            )
        history = History(jnp.where(live, loss, jnp.nan), jnp.where(live, val, jnp.nan))
        return TrainState(params, opt_state, key, epoch, diverged_epoch, stop, state.dropout), history

    def init(params, key, knobs: dict | None = None) -> TrainState:
        """A run at epoch 0; `knobs`: its values of the RUN knobs (default: the config's)."""
        knobs = knobs or optim.with_complements(config_knobs(cfg))
        zero = jnp.zeros((), jnp.int32)
        hyper = {k: knobs[k] for k in _run_hyper(cfg, traits)}
        opt_state = optim.make_optimizer(plan, hyper).init(params)
        stop = None
        if cfg.patience > 0:
            best = params if cfg.restore_best else None
            stop = EarlyStop(jnp.asarray(jnp.inf, jnp.float32), zero, zero, zero, best)
        dropout = None
        if "dropout" in traits:
            dropout = tuple(jnp.asarray(knobs[k], jnp.float32) for k in ("dropout", "recurrent_dropout"))
        return TrainState(params, opt_state, key, zero, zero, stop, dropout)

    def epochs(state: TrainState, windows: data_lib.Windows, n: int) -> tuple[TrainState, History]:
        return jax.lax.scan(partial(epoch, windows), state, None, length=n)

    return Trainer(init, epochs)


def final_params(state: TrainState):
    """The parameters each run ends with: where early stopping restores them, the best
    epoch's (Keras restores them when training ends, stopped early or not). A run with no
    best epoch yet never trained a live epoch: its kept parameters are its initial ones,
    which are also its current ones."""
    if state.stop is None or state.stop.params is None:
        return state.params
    return state.stop.params


@dataclass(frozen=True)
class Runs:
    """What differs between the runs trained in one program: the seed index and every RUN
    knob of the config (`config.knobs(RUN)`), [R] arrays; `runs.lr` is a knob's values.
    Runs that share a seed index start from the same parameters and shuffle the same way,
    whatever their knobs (common random numbers for comparisons across a grid)."""

    seed: np.ndarray  # seed index i: keys from fold_in(key(cfg.seed), i)
    knobs: dict[str, np.ndarray]  # {knob: [R] values}, e.g. lr, momentum, tau, noise

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["knobs"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def count(self) -> int:
        return len(self.seed)

    def arrays(self) -> dict[str, np.ndarray]:
        """{"seed": ..., knob: ...}: every [R] array by name."""
        return {"seed": np.asarray(self.seed)} | {k: np.asarray(v) for k, v in self.knobs.items()}

    def take(self, idx) -> "Runs":
        return Runs(np.asarray(self.seed)[idx], {k: np.asarray(v)[idx] for k, v in self.knobs.items()})

    @property
    def traits(self) -> frozenset[str]:
        """The optional parts the runs' states need (a momentum trace, clip norms, dropout)."""
        return traits_of(self.knobs)

    def values(self) -> dict[str, jax.Array]:
        """Every RUN knob's values, [R] float32 arrays, for the runs' initial states (with
        the complements an optimiser needs computed first in float64, as Keras does)."""
        knobs = optim.with_complements({k: np.asarray(v, np.float64) for k, v in self.knobs.items()})
        return {k: jnp.asarray(v, jnp.float32) for k, v in knobs.items()}


def seed_runs(cfg: Config, seeds=None) -> Runs:
    """Seed indices `seeds` (default 0..cfg.seeds-1), every one with the config's values."""
    seeds = np.arange(cfg.seeds) if seeds is None else np.asarray(seeds)
    return Runs(seeds, {k: np.full(len(seeds), v) for k, v in config_knobs(cfg).items()})


def run_windows(cfg: Config, runs: Runs) -> tuple[data_lib.Windows, int | None]:
    """(windows, vmap axis): one shared set (axis None) when every run sees the same series
    (the same values of every series knob), else each run's own, stacked on a leading axis (0)."""
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


# Config fields no compiled program reads: they reach it as arrays (the RUN knobs, the seed
# keys) or stay on the host (the epoch count is each chunk's own length; the forecast's
# fields key its program apart)
NOT_COMPILED = ("seeds", "seed", "epochs", "noise_seed", "horizon", "forecast_mode")


class ProgramKey:
    """A config as its compiled programs see it: two keys are equal when every field that a
    program reads is, so that programs cached by it compile once per shape."""

    def __init__(self, cfg: Config):
        skip = set(knobs(type(cfg), RUN)) | set(NOT_COMPILED)
        self.cfg = cfg
        self.fields = (type(cfg), cfg.length) + tuple(  # length: recorded data's own when n_points is None
            (f.name, getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.name not in skip
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, ProgramKey) and other.fields == self.fields

    def __hash__(self) -> int:
        return hash(self.fields)


@functools.lru_cache(maxsize=32)
def _init_params_program(key: ProgramKey):
    model, window = make_model(key.cfg), key.cfg.window
    return jax.jit(jax.vmap(lambda k: init_params(model, k, window)))


@functools.lru_cache(maxsize=32)
def _init_state_program(key: ProgramKey, traits: frozenset):
    return jax.jit(jax.vmap(make_trainer(key.cfg, make_model(key.cfg), traits).init))


def init_seeds(cfg: Config, init_keys: jax.Array):
    """Parameters for each seed, [seeds, ...] leaves; compiled apart from training, once per shape."""
    return _init_params_program(ProgramKey(cfg))(init_keys)


def init_states(cfg: Config, runs: Runs) -> TrainState:
    """Every run's TrainState at epoch 0: its seed's parameters and shuffle key, its
    optimiser hyperparameters; [R] leaves, one compiled program per shape."""
    init_keys, fit_keys = seed_keys(cfg, runs.seed)
    program = _init_state_program(ProgramKey(cfg), runs.traits)
    return program(init_seeds(cfg, init_keys), fit_keys, runs.values())


def state_shape(cfg: Config, traits: frozenset):
    """One run's TrainState as ShapeDtypeStructs, traced without computing anything."""
    model = make_model(cfg)
    trainer = make_trainer(cfg, model, traits)

    def one_run():
        key = jax.random.key(0)
        return trainer.init(init_params(model, key, cfg.window), key)

    return jax.eval_shape(one_run)


def with_runs(shapes, runs: int):
    """ShapeDtypeStructs with a leading axis of `runs` runs."""
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((runs, *s.shape), s.dtype), shapes)


class Progress(NamedTuple):
    """Training so far, on the host: enough to show progress, save it and resume from it."""

    epoch: int  # epochs done
    history: History  # [runs, epoch] NumPy arrays
    state: TrainState  # real runs only: NumPy leaves, the key as raw key data
    train_s: float  # training time so far


def host_state(state: TrainState, n_runs: int) -> TrainState:
    """The first n_runs runs' state as NumPy arrays (keys as raw key data)."""
    state = state._replace(key=jax.random.key_data(state.key))
    return jax.tree.map(lambda a: np.asarray(a)[:n_runs], state)


def host_state_shapes(cfg: Config, runs: Runs) -> TrainState:
    """`host_state`'s shapes and dtypes for these runs: what a saved Progress must hold."""
    one = state_shape(cfg, runs.traits)
    return with_runs(one._replace(key=jax.eval_shape(jax.random.key_data, one.key)), runs.count)
