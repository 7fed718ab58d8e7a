import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnjax.core import data, forecast
from rnnjax.core.config import Config
from rnnjax.core.model import init_params, make_model

CFG = Config(hidden=8, window=6)


def setup(cell="gru"):
    cfg = CFG.replace(cell=cell)
    model = make_model(cfg)
    return model, init_params(model, jax.random.key(7), cfg.window)


SERIES = jnp.asarray(data.series(CFG)[:30], jnp.float32)


@pytest.mark.parametrize("cell", ["gru", "lstm", "flax_lstm"])
def test_teacher_forced_carry_rollout_equals_forward_pass(cell):
    model, params = setup(cell)
    T, N = CFG.window, 20
    out = forecast.rollout(model, params, SERIES[:T], N, "carry", teacher_N=SERIES[T : T + N])
    full = model.apply({"params": params}, SERIES[: T + N - 1, None])[:, 0]
    np.testing.assert_allclose(out, full[T - 1 :], atol=1e-5)


def test_teacher_forced_window_rollout_equals_forward_pass_on_each_window():
    model, params = setup()
    T, N = CFG.window, 20
    out = forecast.rollout(model, params, SERIES[:T], N, "window", teacher_N=SERIES[T : T + N])
    per_window = [model.apply({"params": params}, SERIES[k : k + T, None])[-1, 0] for k in range(N)]
    np.testing.assert_allclose(out, per_window, atol=1e-6)


def test_closed_loop_window_rollout_feeds_predictions_back():
    model, params = setup()
    T = CFG.window
    out = np.asarray(forecast.rollout(model, params, SERIES[:T], 5, "window"))
    window = np.asarray(SERIES[:T])
    for k in range(5):  # the notebook's Python loop
        pred = float(model.apply({"params": params}, jnp.asarray(window)[:, None])[-1, 0])
        np.testing.assert_allclose(out[k], pred, atol=1e-6)
        window = np.append(window[1:], pred)


def test_closed_loop_carry_rollout_feeds_predictions_back():
    model, params = setup("lstm")
    T = CFG.window
    closed = np.asarray(forecast.rollout(model, params, SERIES[:T], 6, "carry"))
    # teacher forcing with the model's own predictions is the closed loop
    forced = forecast.rollout(model, params, SERIES[:T], 6, "carry", teacher_N=jnp.asarray(closed))
    np.testing.assert_allclose(closed, forced, atol=1e-6)


def test_forecast_seeds_vmaps():
    model, params = setup()
    params_S = jax.tree.map(lambda a: jnp.stack([a, 2 * a]), params)
    pred = np.asarray(forecast.forecast_seeds(model, params_S, SERIES[: CFG.window], 9))
    assert pred.shape == (2, 9)
    np.testing.assert_allclose(pred[0], forecast.rollout(model, params, SERIES[: CFG.window], 9), atol=1e-6)


def test_a_scaled_noisy_series_is_forecast_in_its_own_units():
    """Recorded data, standardized, with noise: the rollout runs from the scaled observed
    context, and comes back in the data's units."""
    from rnnjax.core.train import seed_keys

    y = 40.0 + 10.0 * np.sin(np.arange(120) / 4.0)
    cfg = Config(data=y, noise=0.5, hidden=4, seeds=2, horizon=30, protocol="notebook")
    model = make_model(cfg)
    params = jax.vmap(lambda k: init_params(model, k, cfg.window))(seed_keys(cfg)[0])
    context, truth = data.forecast_truth(cfg)
    scale = data.scale(cfg)
    np.testing.assert_array_equal(truth, y[cfg.window + 1 : cfg.window + 31])
    assert scale.sd > 5 and not np.array_equal(context, y[1 : cfg.window + 1])  # noisy context, data's scale
    want = forecast.forecast_seeds(model, params, (context - scale.mean) / scale.sd, 30) * scale.sd + scale.mean
    np.testing.assert_allclose(forecast.forecast(cfg, params), want, rtol=1e-6)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_two_layer_carry_rollout_keeps_every_layers_state(cell):
    """The closed loop by hand: NumPy steps through both layers, each keeping its own state,
    warmed up on the context, then each prediction fed back."""
    import reference

    cfg = CFG.replace(cell=cell, layers=2)
    model = make_model(cfg)
    params = init_params(model, jax.random.key(7), cfg.window)
    out = np.asarray(forecast.rollout(model, params, SERIES[: cfg.window], 6, "carry"))
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    states = [reference.zero_state(cell, cfg.hidden) for _ in ("cell", "cell_1")]

    def step(x):
        h = np.array([x])
        for k, name in enumerate(("cell", "cell_1")):
            states[k], h = reference.step(cell, p[name], states[k], h)
        return float((h @ p["head"]["kernel"] + p["head"]["bias"])[0])

    for x in np.asarray(SERIES[: cfg.window]):
        y = step(x)
    want = []
    for _ in range(6):
        want.append(y)
        y = step(y)
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_forecasts_ignore_the_dropout_knobs():
    """Dropout is for training only: a config's forecast is the same with it."""
    _, params = setup("lstm")
    params_S = jax.tree.map(lambda a: a[None], params)
    cfg = CFG.replace(cell="lstm", seeds=1, horizon=8)
    np.testing.assert_array_equal(
        forecast.forecast(cfg.replace(dropout=0.5, recurrent_dropout=0.5), params_S), forecast.forecast(cfg, params_S)
    )


def test_several_channels_feed_back_predictions_and_read_known_covariates():
    """The closed loop by hand: each step predicts channels 0 and 2 from every channel's
    window; the next input holds those predictions and channel 1's known value."""
    cfg = Config(series="lorenz", channels="x,y,z", targets="x,z", hidden=8, window=6)
    model = make_model(cfg)
    assert (model.in_features, model.out_features) == (3, 2)
    params = init_params(model, jax.random.key(7), cfg.window)
    rng = np.random.default_rng(1)
    context, known = rng.standard_normal((6, 3)), rng.standard_normal((5, 3))
    window, want = context.copy(), []
    for k in range(5):
        pred = np.asarray(model.apply({"params": params}, jnp.asarray(window, jnp.float32))[-1])
        want.append(pred)
        row = known[k].copy()
        row[[0, 2]] = pred
        window = np.vstack([window[1:], row])
    got = forecast.rollout(model, params, context, 5, "window", known_NxC=known, target=(0, 2))
    np.testing.assert_allclose(got, np.array(want), atol=1e-6)
    # the carry mode's loop, teacher-forced with its own predictions, is its closed loop
    closed = forecast.rollout(model, params, context, 5, "carry", known_NxC=known, target=(0, 2))
    forced = forecast.rollout(model, params, context, 5, "carry", teacher_N=closed, known_NxC=known, target=(0, 2))
    np.testing.assert_allclose(closed, forced, atol=1e-6)
    full = model.apply({"params": params}, jnp.asarray(context, jnp.float32))
    np.testing.assert_allclose(closed[0], full[-1], atol=1e-6)  # the first step is the context's last output


def test_forecast_of_several_channels_is_in_each_channels_units():
    cfg = Config(series="lorenz", channels="x,y,z", targets="y", hidden=4, window=5, seeds=2)
    model = make_model(cfg)
    params = jax.vmap(lambda k: init_params(model, k, cfg.window))(jax.random.split(jax.random.key(0), 2))
    got = forecast.forecast(cfg, params)
    scale = data.scale(cfg)
    context, _ = data.forecast_truth(cfg)
    known = (data.known(cfg) - scale.mean) / scale.sd
    want = forecast.forecast_seeds(
        model,
        params,
        (context - scale.mean) / scale.sd,
        cfg.steps,
        known_NxC=jnp.asarray(known, jnp.float32),
        target=(1,),
    )
    assert got.shape == (2, cfg.steps, 1)
    np.testing.assert_allclose(got, np.asarray(want) * scale.sd[1] + scale.mean[1], rtol=1e-5)
