"""Keras 3's optimisers, learning-rate schedules and gradient clipping, as optax gradient
transformations that compute what Keras computes, in its order and in float32.

Plain SGD (Keras's default: constant learning rate, no clipping) is `optax.sgd`, as it
always was. Every other combination is `keras(...)`: one transformation whose state holds
Keras's `iterations`, the run's numeric hyperparameters and the per-variable slots. The
numeric hyperparameters (lr, beta_1, ...) live in each run's state, so that runs with
different values are one vmapped program; the optimiser's kind, its schedule and the kind of
clipping are the program's.

    sgd       v = m v - lr g;  w += v            (m = 0: w -= g lr)
    adam      a = lr sqrt(1 - b2^t) / (1 - b1^t);  m += (g - m)(1 - b1);  v += (g² - v)(1 - b2)
              w -= m a / (sqrt(v) + eps)         (eps on sqrt(v), not on optax's bias-corrected one)
    adamw     w -= w wd lr, then adam's step     (decoupled decay at the current lr)
    rmsprop   v = rho v + (1 - rho) g²;  w -= lr g / sqrt(v + eps)
    adagrad   a += g² (a starts at 0.1);  w -= lr g / sqrt(a + eps)

t counts updates from 1; a schedule sees Keras's `iterations` (0 at the first update).
"""

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "cosine", "exponential", "warmup_cosine")
ADAGRAD_INITIAL_ACCUMULATOR = 0.1  # Keras's initial_accumulator_value

# The Config fields each optimiser and schedule reads: a value given to one that does not
# read it is refused (config validation), never silently ignored.
OPTIMIZER_READS = {
    "sgd": ("momentum",),
    "adam": ("beta_1", "beta_2", "epsilon"),
    "adamw": ("beta_1", "beta_2", "epsilon", "weight_decay"),
    "rmsprop": ("rho", "epsilon"),
    "adagrad": ("epsilon",),
}
SCHEDULE_READS = {
    "constant": (),
    "cosine": ("decay_steps", "alpha"),
    "exponential": ("decay_steps", "decay_rate"),
    "warmup_cosine": ("decay_steps", "alpha", "warmup_steps"),
}
# The vmapped hyperparameters each optimiser keeps in a run's state, besides lr (and
# clipnorm, where some run clips): Config RUN knobs of the same names
STATE_HYPER = {
    "sgd": ("momentum",),
    "adam": ("beta_1", "beta_2"),
    "adamw": ("beta_1", "beta_2", "weight_decay"),
    "rmsprop": ("rho",),
    "adagrad": (),
}


# Keras writes `1 - self.beta_1` in Python: the complement is taken in float64 and then
# rounded to float32, which is not 1 - float32(beta_1) (for beta_2 = 0.999 they differ by
# 1e-5 relative). So each is held as its own value, computed on the host (`with_complements`).
COMPLEMENTS = ("beta_1", "beta_2", "rho")


def with_complements(values: dict) -> dict:
    """Knob values with `1-<name>` for each of COMPLEMENTS present, computed in float64."""
    extra = {f"1-{k}": 1.0 - np.asarray(values[k], np.float64) for k in COMPLEMENTS if k in values}
    return values | extra


class Schedule(NamedTuple):
    """A learning-rate schedule as Keras's: lr_t = lr * factor(t) (static parameters)."""

    kind: str = "constant"
    decay_steps: int = 1
    alpha: float = 0.0
    decay_rate: float = 1.0
    warmup_steps: int = 0

    def lr(self, lr, step):
        """Keras's CosineDecay / ExponentialDecay(initial_learning_rate=lr)(step), float32."""
        step = jnp.asarray(step, jnp.float32)
        if self.kind == "constant":
            return lr
        if self.kind == "exponential":
            return lr * jnp.power(jnp.float32(self.decay_rate), step / self.decay_steps)
        if self.kind == "cosine":
            return _cosine(lr, jnp.minimum(step, self.decay_steps), self.decay_steps, self.alpha)
        # warmup_cosine: Keras's CosineDecay(0.0, decay_steps, alpha, warmup_target=lr, warmup_steps)
        step = jnp.minimum(step, self.warmup_steps + self.decay_steps)
        warm = lr * (step / self.warmup_steps)
        return jnp.where(
            step < self.warmup_steps, warm, _cosine(lr, step - self.warmup_steps, self.decay_steps, self.alpha)
        )


def _cosine(lr, step, decay_steps: int, alpha: float):
    cosine = 0.5 * (1.0 + jnp.cos(jnp.float32(math.pi) * (step / decay_steps)))
    return lr * ((1.0 - alpha) * cosine + alpha)


def schedule_of(cfg) -> Schedule:
    """The config's schedule with its defaults resolved over the run's updates."""
    total = cfg.epochs * cfg.steps_per_epoch
    warmup = (cfg.warmup_steps or max(1, total // 10)) if cfg.schedule == "warmup_cosine" else 0
    decay = cfg.decay_steps or max(1, total - warmup)
    return Schedule(cfg.schedule, decay, cfg.alpha, cfg.decay_rate, warmup)


class Clip(NamedTuple):
    """Keras's gradient clipping (at most one kind): clipnorm is per run (vmapped, 0: off)."""

    per_variable: bool = False  # some run clips each variable's gradient by its own norm
    global_norm: float = 0.0
    value: float = 0.0


def clip_by_norm(g, clipnorm):
    """Keras's clip_by_norm of one variable's gradient: g * c / max(||g||, c)."""
    l2sum = jnp.sum(jnp.square(g))
    positive = l2sum > 0
    l2norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, l2sum, 1.0)), l2sum)
    return g * clipnorm / jnp.maximum(l2norm, clipnorm)


def clip_by_global_norm(grads, clipnorm: float):
    """Keras's clip_by_global_norm: every gradient times c * min(1 / norm, 1 / c)."""
    norm = jnp.sqrt(jnp.sum(jnp.stack([jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)])))
    scale = clipnorm * jnp.minimum(1.0 / norm, 1.0 / clipnorm)
    return jax.tree.map(lambda g: g * scale, grads)


def clip(grads, clipping: Clip, clipnorm):
    if clipping.per_variable:  # runs at clipnorm 0 keep their gradients
        return jax.tree.map(lambda g: jnp.where(clipnorm > 0, clip_by_norm(g, clipnorm), g), grads)
    if clipping.global_norm > 0:
        return clip_by_global_norm(grads, clipping.global_norm)
    if clipping.value > 0:
        return jax.tree.map(lambda g: jnp.clip(g, -clipping.value, clipping.value), grads)
    return grads


class KerasState(NamedTuple):
    """A run's optimiser state: Keras's update count, its hyperparameters, its slots."""

    iterations: jax.Array  # updates done (Keras's optimizer.iterations)
    hyper: dict  # {"lr": ..., "beta_1": ..., ...}: this run's values, [] each
    slots: Any  # per-variable accumulators: (m, v) for Adam, velocity, accumulator, momentum


def keras(kind: str, schedule: Schedule, clipping: Clip, epsilon: float, hyper: dict) -> optax.GradientTransformation:
    """Keras 3's `kind` optimiser, with `hyper` ({"lr": ..., ...}: this run's values) in its state."""
    eps = jnp.float32(epsilon)

    def init(params):  # `hyper` as `with_complements` gives it
        zeros = jax.tree.map(jnp.zeros_like, params)
        if kind in ("adam", "adamw"):
            slots = (zeros, jax.tree.map(jnp.zeros_like, params))
        elif kind == "adagrad":
            slots = jax.tree.map(lambda p: jnp.full_like(p, ADAGRAD_INITIAL_ACCUMULATOR), params)
        elif kind == "sgd" and "momentum" not in hyper:
            slots = None
        else:
            slots = zeros
        values = {k: jnp.asarray(v, jnp.float32) for k, v in hyper.items()}
        return KerasState(jnp.zeros((), jnp.int32), values, slots)

    def update(grads, state: KerasState, params):
        h = state.hyper
        grads = clip(grads, clipping, h.get("clipnorm"))
        lr = schedule.lr(h["lr"], state.iterations)
        step = (state.iterations + 1).astype(jnp.float32)
        if kind == "sgd":
            if state.slots is None:
                updates, slots = jax.tree.map(lambda g: -(g * lr), grads), None
            else:
                slots = jax.tree.map(lambda v, g: v * h["momentum"] - g * lr, state.slots, grads)
                updates = slots
        elif kind in ("adam", "adamw"):
            b1, b2 = h["beta_1"], h["beta_2"]
            a = lr * jnp.sqrt(1 - jnp.power(b2, step)) / (1 - jnp.power(b1, step))
            m = jax.tree.map(lambda m, g: m + (g - m) * h["1-beta_1"], state.slots[0], grads)
            v = jax.tree.map(lambda v, g: v + (jnp.square(g) - v) * h["1-beta_2"], state.slots[1], grads)
            updates = jax.tree.map(lambda m, v: -((m * a) / (jnp.sqrt(v) + eps)), m, v)
            if kind == "adamw":  # Keras decays first (w - w wd lr), then takes Adam's step
                updates = jax.tree.map(lambda u, w: u - w * h["weight_decay"] * lr, updates, params)
            slots = (m, v)
        elif kind == "rmsprop":
            rho = h["rho"]
            slots = jax.tree.map(lambda v, g: rho * v + h["1-rho"] * jnp.square(g), state.slots, grads)
            updates = jax.tree.map(lambda v, g: -((lr * g) / jnp.sqrt(v + eps)), slots, grads)
        else:  # adagrad
            slots = jax.tree.map(lambda a, g: a + jnp.square(g), state.slots, grads)
            updates = jax.tree.map(lambda a, g: -((lr * g) / jnp.sqrt(a + eps)), slots, grads)
        return updates, KerasState(state.iterations + 1, h, slots)

    return optax.GradientTransformation(init, update)


class Plan(NamedTuple):
    """What a program's optimiser is: static, the same for every run in it."""

    kind: str
    schedule: Schedule
    clipping: Clip
    epsilon: float

    @property
    def plain_sgd(self) -> bool:
        """Keras's default SGD: optax.sgd, whose numbers (and state) rnnjax always had."""
        return self.kind == "sgd" and self.schedule.kind == "constant" and self.clipping == Clip()


def plan_of(cfg, clipnorm: bool | None = None) -> Plan:
    """The config's optimiser; `clipnorm`: whether some run of the program clips per variable
    (default: the config's own clipnorm > 0)."""
    clipnorm = cfg.clipnorm > 0 if clipnorm is None else clipnorm
    return Plan(cfg.optimizer, schedule_of(cfg), Clip(clipnorm, cfg.global_clipnorm, cfg.clipvalue), cfg.epsilon)


def hyper_names(plan: Plan, momentum: bool) -> tuple[str, ...]:
    """The values a run's optimiser state holds (lr first): Config knobs and the complements
    of those Keras subtracts from 1 (`with_complements`)."""
    names = ("lr",) + tuple(k for k in STATE_HYPER[plan.kind] if k != "momentum" or momentum)
    names += tuple(f"1-{k}" for k in names if k in COMPLEMENTS)
    return names + (("clipnorm",) if plan.clipping.per_variable else ())


def make_optimizer(plan: Plan, hyper: dict) -> optax.GradientTransformation:
    """The optimiser of one run whose hyperparameters are `hyper` ({knob: value}, as named by
    `hyper_names`). Plain SGD is optax.sgd with its hyperparameters in its state
    (optax.inject_hyperparams); a momentum trace (even at momentum 0) is a params-sized buffer."""
    if plan.plain_sgd:
        return optax.inject_hyperparams(optax.sgd)(learning_rate=hyper["lr"], momentum=hyper.get("momentum"))
    return keras(plan.kind, plan.schedule, plan.clipping, plan.epsilon, hyper)
