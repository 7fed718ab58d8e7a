import numpy as np
import pytest

from rnnjax.core import data
from rnnjax.core.config import Config

# printed in the seed notebook
SEED_X10 = [
    0.0,
    0.07893449,
    0.15786898,
    0.23680347,
    0.31573796,
    0.39467244,
    0.47360693,
    0.55254142,
    0.63147591,
    0.7104104,
]
SEED_Y10 = [
    1.0,
    0.98127212,
    0.9568705,
    0.92712705,
    0.89239742,
    0.85305798,
    0.80950282,
    0.76214062,
    0.71139167,
    0.65768474,
]


def test_series_matches_seed_printout():
    cfg = Config()
    x, y = data.grid(cfg), data.series(cfg)
    assert x.shape == (200,) and y.shape == (200,)
    np.testing.assert_allclose(x[:10], SEED_X10, atol=5e-9)
    np.testing.assert_allclose(y[:10], SEED_Y10, atol=5e-9)
    np.testing.assert_allclose(x, np.linspace(0, 5 * np.pi, 200), rtol=0, atol=1e-12)


def test_windows_match_seed_loop():
    y = data.series(Config())
    r_x, r_y = data.windows(y, 20)
    assert r_x.shape == (180, 20, 1) and r_y.shape == (180, 20, 1)
    for i in (0, 1, 97, 179):  # the notebook's loop
        np.testing.assert_array_equal(r_x[i, :, 0], y[i : i + 20])
        np.testing.assert_array_equal(r_y[i, :, 0], y[i + 1 : i + 21])


def test_keras_validation_split_takes_the_last_tenth():
    cfg = Config()
    w = data.split(cfg)
    assert (cfg.n_train, cfg.n_val, cfg.steps_per_epoch) == (162, 18, 17)
    assert w.x_train.shape == (162, 20, 1) and w.x_val.shape == (18, 20, 1)
    r_x, r_y = data.windows(data.series(cfg), 20)
    np.testing.assert_array_equal(w.x_val, r_x[162:].astype(np.float32))
    np.testing.assert_array_equal(w.y_train, r_y[:162].astype(np.float32))


def test_forecast_truth_continues_the_series():
    cfg = Config()
    context, truth = data.forecast_truth(cfg)
    y = data.series(cfg)
    np.testing.assert_array_equal(context, y[1:21])  # the first target window
    assert truth.shape == (180,)
    np.testing.assert_allclose(truth[:179], y[21:200], atol=1e-12)
    x200 = 200 * 5 * np.pi / 199  # one step past the stored points
    np.testing.assert_allclose(truth[179], np.exp(-x200 / 5) * np.cos(x200), atol=1e-12)


def test_series_parameters():
    cfg = Config(n_points=50, x_start=1.0, x_stop=3.0, tau=2.0, window=5, val_fraction=0.2)
    x = np.linspace(1.0, 3.0, 50)
    np.testing.assert_allclose(data.series(cfg), np.exp(-x / 2.0) * np.cos(x), atol=1e-12)
    w = data.split(cfg)
    assert len(w.x_train) == 36 and len(w.x_val) == 9


def test_series_registry():
    cfg = Config(series="damped_sin")
    x = data.grid(cfg)
    np.testing.assert_allclose(data.series(cfg), np.exp(-x / 5) * np.sin(x), atol=1e-12)


def test_holdout_keeps_the_test_span_from_everything_the_models_see():
    """Windows, validation, scaling and the forecast's context end before the test span;
    the forecast is scored on it; changing its values changes nothing else."""
    y = np.sin(np.arange(150) / 5.0) * 3 + 7
    cfg = Config(data=y, protocol="holdout", test=30, window=10, normalize="standard")
    assert (cfg.seen, cfg.steps, cfg.origin, cfg.n_windows) == (120, 30, 120, 110)
    context, truth = data.forecast_truth(cfg)
    np.testing.assert_array_equal(context, y[110:120])
    np.testing.assert_array_equal(truth, y[120:150])
    other = y.copy()
    other[120:] = -100.0  # any test span
    cfg_other = cfg.replace(data=other)
    for a, b in zip(data.split(cfg), data.split(cfg_other), strict=True):
        np.testing.assert_array_equal(a, b)
    assert data.scale(cfg) == data.scale(cfg_other)
    np.testing.assert_array_equal(data.forecast_truth(cfg_other)[0], context)
    assert data.split(cfg).y_val[-1, -1, 0] == pytest.approx((y[119] - data.scale(cfg).mean) / data.scale(cfg).sd)
    # defaults: the horizon is the test span, the test span the horizon, else 10% of the series
    assert Config(data=y, protocol="holdout", horizon=12).test_span == 12
    assert Config(data=y, protocol="holdout").steps == 15
    assert Config(data=y, protocol="holdout", test=30, horizon=5).steps == 5


@pytest.mark.parametrize(
    "fields, named",
    [
        (
            {"protocol": "holdout", "test": 30, "horizon": 31},
            "horizon=31 is not allowed: must be at most the test span",
        ),
        ({"protocol": "holdout", "test": 130}, "test=130 is not allowed: leaves 20 of 150 values"),
        ({"protocol": "holdout", "season": 1}, "season=1 is not allowed: must be from 2"),
        ({"protocol": "holdout", "season": 200}, "season=200 is not allowed"),
        ({"test": 30, "protocol": "notebook"}, "test=30 is not allowed: is used with protocol='holdout' only"),
        ({"season": 12, "protocol": "notebook"}, "season=12 is not allowed: is used with protocol='holdout' only"),
        ({"protocol": "future"}, "protocol='future' is not allowed: must be one of auto, notebook, holdout, backtest"),
    ],
)
def test_bad_holdout_settings_are_one_line(fields, named):
    from rnnjax.core.config import ConfigError

    y = np.sin(np.arange(150) / 5.0)
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        Config(data=y, window=10, **fields)


def test_each_backtest_origin_sees_only_the_values_before_it():
    """Origins `stride` apart, the last `horizon` before the end; every origin's training span
    has one length and ends at its origin; values after it change nothing it sees."""
    y = np.sin(np.arange(150) / 5.0) * 3 + 7
    cfg = Config(data=y, protocol="backtest", origins=3, horizon=10, stride=15, window=10)
    assert [cfg.replace(fold=f).origin for f in range(3)] == [110, 125, 140] and cfg.seen == 110
    for f in range(3):
        fold = cfg.replace(fold=f)
        other = y.copy()
        other[fold.origin :] = -50.0  # any future
        for a, b in zip(data.split(fold), data.split(fold.replace(data=other)), strict=True):
            np.testing.assert_array_equal(a, b)
        context, truth = data.forecast_truth(fold)
        np.testing.assert_array_equal(context, y[fold.origin - 10 : fold.origin])
        np.testing.assert_array_equal(truth, y[fold.origin : fold.origin + 10])
        assert data.split(fold).x_train[0, 0, 0] == pytest.approx(
            (y[15 * f] - data.scale(fold).mean) / data.scale(fold).sd
        )
    from rnnjax.core.config import ConfigError

    with pytest.raises(ConfigError, match="origins=20 is not allowed: do not fit the series"):
        Config(data=y, protocol="backtest", origins=20, horizon=10, window=10)
    with pytest.raises(ConfigError, match="fold=3 is not allowed: must be less than origins=3"):
        cfg.replace(fold=3)
    with pytest.raises(ConfigError, match="origins=2 is not allowed: is used with protocol='backtest' only"):
        Config(data=y, origins=2)
