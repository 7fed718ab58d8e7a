import numpy as np

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
