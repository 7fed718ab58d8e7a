"""Keras 3's optimisers, schedules, clipping and early stopping against NumPy transcriptions
of Keras's own formulas (tests/fixtures/keras: against Keras itself, test_keras_fixtures.py)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from training import fit

from rnnjax.core import optim, train
from rnnjax.core.config import Config
from rnnjax.core.model import init_params, make_model


def keras_schedule(kind, lr, step, decay_steps, alpha=0.0, decay_rate=1.0, warmup_steps=0):
    """Keras 3's CosineDecay / ExponentialDecay(lr, ...)(step), written from its docs."""
    if kind == "constant":
        return lr
    if kind == "exponential":
        return lr * decay_rate ** (step / decay_steps)

    def cosine(s):
        return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(s, decay_steps) / decay_steps)) + alpha)

    if kind == "cosine":
        return cosine(step)
    step = min(step, warmup_steps + decay_steps)
    return lr * step / warmup_steps if step < warmup_steps else cosine(step - warmup_steps)


def keras_clip(grads, clipnorm=0.0, global_clipnorm=0.0, clipvalue=0.0):
    if clipnorm:
        return [g * clipnorm / max(np.linalg.norm(g), clipnorm) for g in grads]
    if global_clipnorm:
        norm = math.sqrt(sum(float(np.sum(g**2)) for g in grads))
        return [g * global_clipnorm * min(1 / norm, 1 / global_clipnorm) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def keras_updates(kind, params, grad_steps, lr, schedule, clipping=None, **h):
    """The weights after each step, as Keras 3's update_step writes them, variable by variable."""
    w = [np.array(p, np.float64) for p in params]
    slots = {"m": [np.zeros_like(p) for p in w], "v": [np.zeros_like(p) for p in w]}
    slots["acc"] = [np.full_like(p, 0.1) for p in w]
    out = []
    for t, grads in enumerate(grad_steps):
        grads = keras_clip([np.asarray(g, np.float64) for g in grads], **(clipping or {}))
        lr_t = keras_schedule(lr=lr, step=t, **schedule)
        for i, g in enumerate(grads):
            if kind == "sgd":
                slots["m"][i] = h.get("momentum", 0.0) * slots["m"][i] - lr_t * g
                w[i] = w[i] + slots["m"][i]
            elif kind in ("adam", "adamw"):
                if kind == "adamw":
                    w[i] = w[i] - w[i] * h["weight_decay"] * lr_t
                b1, b2 = h["beta_1"], h["beta_2"]
                a = lr_t * math.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
                slots["m"][i] += (g - slots["m"][i]) * (1 - b1)
                slots["v"][i] += (g * g - slots["v"][i]) * (1 - b2)
                w[i] = w[i] - slots["m"][i] * a / (np.sqrt(slots["v"][i]) + 1e-7)
            elif kind == "rmsprop":
                slots["v"][i] = h["rho"] * slots["v"][i] + (1 - h["rho"]) * g * g
                w[i] = w[i] - lr_t * g / np.sqrt(slots["v"][i] + 1e-7)
            else:
                slots["acc"][i] += g * g
                w[i] = w[i] - lr_t * g / np.sqrt(slots["acc"][i] + 1e-7)
        out.append([p.copy() for p in w])
    return out


CASES = [
    ("sgd", {"momentum": 0.9}, {"kind": "cosine", "decay_steps": 4, "alpha": 0.1}, None),
    ("adam", {"beta_1": 0.9, "beta_2": 0.999}, {"kind": "constant", "decay_steps": 1}, None),
    ("adam", {"beta_1": 0.8, "beta_2": 0.99}, {"kind": "exponential", "decay_steps": 2, "decay_rate": 0.5}, None),
    ("adamw", {"beta_1": 0.9, "beta_2": 0.999, "weight_decay": 0.5}, {"kind": "constant", "decay_steps": 1}, None),
    ("rmsprop", {"rho": 0.9}, {"kind": "warmup_cosine", "decay_steps": 3, "warmup_steps": 2}, None),
    ("adagrad", {}, {"kind": "constant", "decay_steps": 1}, None),
    ("sgd", {}, {"kind": "constant", "decay_steps": 1}, {"clipnorm": 0.5}),
    ("adam", {"beta_1": 0.9, "beta_2": 0.999}, {"kind": "constant", "decay_steps": 1}, {"global_clipnorm": 0.5}),
    ("sgd", {}, {"kind": "constant", "decay_steps": 1}, {"clipvalue": 0.1}),
]


@pytest.mark.parametrize(("kind", "hyper", "schedule", "clipping"), CASES)
def test_update_rules_follow_keras_formulas(kind, hyper, schedule, clipping):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)]
    grad_steps = [[rng.normal(size=(3, 4)), rng.normal(size=4)] for _ in range(6)]
    clipping = clipping or {}
    clip = optim.Clip("clipnorm" in clipping, clipping.get("global_clipnorm", 0.0), clipping.get("clipvalue", 0.0))
    values = {"lr": 0.05, **hyper} | ({"clipnorm": clipping["clipnorm"]} if "clipnorm" in clipping else {})
    opt = optim.keras(kind, optim.Schedule(**schedule), clip, 1e-7, optim.with_complements(values))
    params = {"a": jnp.asarray(start[0]), "b": jnp.asarray(start[1])}
    state, got = opt.init(params), []
    for grads in grad_steps:
        g = {"a": jnp.asarray(grads[0], jnp.float32), "b": jnp.asarray(grads[1], jnp.float32)}
        updates, state = opt.update(g, state, params)
        params = optax.apply_updates(params, updates)
        got.append([np.asarray(params["a"]), np.asarray(params["b"])])
    grads32 = [[np.asarray(g, np.float32) for g in step] for step in grad_steps]
    want = keras_updates(kind, start, grads32, 0.05, schedule, clipping, **hyper)
    for step_got, step_want in zip(got, want, strict=True):
        for a, b in zip(step_got, step_want, strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    clipped = keras_clip([np.asarray(g, np.float64) for g in grads32[0]], **clipping)
    if clipping:  # the case clips: the clipped gradients are not the gradients
        assert not all(np.allclose(a, b) for a, b in zip(clipped, grads32[0], strict=True))


@pytest.mark.parametrize(
    "schedule",
    [
        {"kind": "cosine", "decay_steps": 100, "alpha": 0.1},
        {"kind": "exponential", "decay_steps": 20, "decay_rate": 0.5},
        {"kind": "warmup_cosine", "decay_steps": 100, "warmup_steps": 30},
    ],
)
def test_schedules_equal_keras_over_and_past_their_steps(schedule):
    sched = optim.Schedule(**schedule)
    steps = np.arange(0, 200, 7)
    got = np.array([float(sched.lr(jnp.float32(0.1), s)) for s in steps])
    want = np.array([keras_schedule(lr=0.1, step=int(s), **schedule) for s in steps])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


def test_schedule_defaults_span_the_whole_run():
    cfg = Config(epochs=10, schedule="warmup_cosine")  # 17 minibatches per epoch: 170 updates
    sched = optim.schedule_of(cfg)
    assert (sched.warmup_steps, sched.decay_steps) == (17, 153)
    assert optim.schedule_of(Config(epochs=10, schedule="cosine")).decay_steps == 170


def keras_early_stopping(val_loss, patience, min_delta=0.0):
    """Keras 3's EarlyStopping(monitor="val_loss") over a run's validation losses:
    (epochs trained, best epoch), 1-based."""
    best, best_epoch, wait = math.inf, 0, 0
    for epoch, current in enumerate(val_loss):
        wait += 1
        if current + min_delta < best:
            best, best_epoch, wait = current, epoch + 1, 0
            continue
        if wait >= patience and epoch > 0:
            return epoch + 1, best_epoch
    return len(val_loss), best_epoch


TINY = Config(hidden=4, epochs=40, seeds=3, n_points=60, window=5, optimizer="adam", lr=0.05)


@pytest.mark.parametrize(("patience", "min_delta", "restore"), [(3, 0.0, True), (2, 1e-3, False)])
def test_early_stopping_follows_keras_callback(patience, min_delta, restore):
    """Against the same run trained without stopping: its validation losses run through
    Keras's callback logic give the stop and best epochs; the history is that run's up to the
    stop and NaN after; the parameters are those after the best (or the stop) epoch."""
    model = make_model(TINY)
    init_keys, fit_keys = train.seed_keys(TINY)
    params = init_params(model, init_keys[0], TINY.window)
    free = fit(TINY, model, params, fit_keys[0])
    stopped, best = keras_early_stopping(np.asarray(free.history.val_loss, np.float64), patience, min_delta)
    assert stopped < TINY.epochs, "the case must stop early to test anything"
    cfg = TINY.replace(patience=patience, min_delta=min_delta, restore_best=restore)
    got = fit(cfg, model, params, fit_keys[0])
    assert (int(got.stopped_epoch), int(got.best_epoch)) == (stopped, best)
    np.testing.assert_array_equal(got.history.val_loss[:stopped], free.history.val_loss[:stopped])
    assert np.isnan(got.history.loss[stopped:]).all() and np.isnan(got.history.val_loss[stopped:]).all()
    kept = fit(TINY.replace(epochs=best if restore else stopped), model, params, fit_keys[0]).params
    jax.tree.map(np.testing.assert_array_equal, got.params, kept)


def test_runs_stop_on_their_own_in_one_program():
    """Every seed of a vmapped program stops where it stops when trained alone (and ends
    with the same parameters, to float32 rounding: programs of other batch sizes may fuse
    differently, as for plain SGD in test_train.py)."""
    from rnnjax.study.train import train as train_runs

    cfg = TINY.replace(patience=3)
    together = train_runs(cfg)
    assert len(set(together.stopped_epoch.tolist())) > 1, "the seeds should stop at different epochs"
    for i in range(cfg.seeds):
        alone = train_runs(cfg, seeds=[i])
        assert (alone.stopped_epoch[0], alone.best_epoch[0]) == (together.stopped_epoch[i], together.best_epoch[i])
        jax.tree.map(lambda a, b, i=i: np.testing.assert_allclose(a[0], b[i], atol=1e-6), alone.params, together.params)
