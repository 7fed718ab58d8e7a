"""Hyperparameter grids vmapped in one program: each run equals its config trained alone,
and momentum follows Keras's SGD equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from training import fit

from rnnjax.core import data, train
from rnnjax.core.config import Config
from rnnjax.core.model import init_params, make_model
from rnnjax.study import train as driver

TINY = Config(hidden=6, epochs=3, seeds=2)


def test_every_run_of_a_grid_equals_its_config_trained_alone():
    runs = train.Runs(
        seed=np.array([0, 1, 0, 1, 1]),
        knobs={
            "lr": np.array([0.01, 0.01, 0.05, 0.05, 0.02]),
            "momentum": np.array([0.0, 0.0, 0.9, 0.9, 0.5]),
            "tau": np.array([5.0, 5.0, 5.0, 5.0, 2.0]),
            "noise": np.array([0.0, 0.0, 0.0, 0.1, 0.1]),
        },
    )
    grid = driver.train(TINY, runs=runs)
    assert grid.history.loss.shape == (5, 3)
    for r in range(runs.count):
        cfg = TINY.replace(
            lr=float(runs.lr[r]),
            momentum=float(runs.momentum[r]),
            tau=float(runs.tau[r]),
            seeds=1,
            noise=float(runs.noise[r]),
        )
        alone = driver.train(cfg, seeds=[int(runs.seed[r])])
        np.testing.assert_allclose(grid.history.loss[r], alone.history.loss[0], rtol=1e-5)
        np.testing.assert_allclose(grid.history.val_loss[r], alone.history.val_loss[0], rtol=1e-5)
        for a, b in zip(jax.tree.leaves(grid.params), jax.tree.leaves(alone.params), strict=True):
            np.testing.assert_allclose(a[r], b[0], atol=1e-6)
    # the same seed starts from the same parameters whatever the learning rate, and then differs
    assert not np.allclose(grid.history.loss[0], grid.history.loss[2])


def test_runs_with_different_tau_or_noise_train_on_their_own_series():
    runs = train.Runs(
        np.arange(4),
        {
            "lr": np.full(4, 0.01),
            "momentum": np.zeros(4),
            "tau": np.array([5.0, 2.0, 5.0, 5.0]),
            "noise": np.array([0, 0, 0, 0.1]),
        },
    )
    windows, axis = train.run_windows(TINY, runs)
    assert axis == 0 and windows.x_train.shape == (4, TINY.n_train, TINY.window, 1)
    np.testing.assert_array_equal(windows.x_train[1], data.split(TINY.replace(tau=2.0)).x_train)
    np.testing.assert_array_equal(windows.x_train[2], data.split(TINY).x_train)
    np.testing.assert_array_equal(windows.x_train[3], data.split(TINY.replace(noise=0.1)).x_train)
    assert not np.array_equal(windows.x_train[3], windows.x_train[2])
    shared, axis = train.run_windows(TINY, train.seed_runs(TINY))
    assert axis is None and shared.x_train.shape == (TINY.n_train, TINY.window, 1)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_momentum_follows_keras_sgd_equations(momentum):
    """Keras SGD: v = m v - lr g; w = w + v, over the unshuffled minibatches (partial batch last)."""
    cfg = Config(hidden=5, epochs=2, seeds=1, shuffle=False, lr=0.05, momentum=momentum)
    model = make_model(cfg)
    init_keys, fit_keys = train.seed_keys(cfg)
    params = init_params(model, init_keys[0], cfg.window)
    got = fit(cfg, model, params, fit_keys[0])

    w = data.split(cfg)

    def mse(p, x, y):
        return jnp.mean((jax.vmap(lambda xi: model.apply({"params": p}, xi))(x) - y) ** 2)

    grad = jax.jit(jax.grad(mse))
    velocity = jax.tree.map(jnp.zeros_like, params)
    for _ in range(cfg.epochs):
        for start in range(0, cfg.n_train, cfg.batch_size):
            g = grad(params, w.x_train[start : start + 10], w.y_train[start : start + 10])
            velocity = jax.tree.map(lambda v, gi: momentum * v - cfg.lr * gi, velocity, g)
            params = jax.tree.map(lambda p, v: p + v, params, velocity)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2e-6), got.params, params)


def test_momentum_adds_state_only_when_used():
    plain = jax.tree.structure(train.host_state_shapes(TINY, train.seed_runs(TINY)))
    with_momentum = jax.tree.structure(train.host_state_shapes(TINY, train.seed_runs(TINY.replace(momentum=0.9))))
    assert with_momentum.num_leaves > plain.num_leaves
