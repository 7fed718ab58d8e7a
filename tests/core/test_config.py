import dataclasses
import math

import numpy as np
import pytest

from rnnjax.core.config import Config, ConfigError

BAD = [
    ({"window": 200}, "window=200"),
    ({"window": 0}, "window=0"),
    ({"n_points": 1}, "n_points=1"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"batch_size": -3}, "batch_size=-3"),
    ({"epochs": 0}, "epochs=0"),
    ({"epochs": 2.5}, "epochs=2.5"),
    ({"epochs": True}, "epochs=True"),
    ({"seeds": 0}, "seeds=0"),
    ({"seed": -1}, "seed=-1"),
    ({"seed": 2**32}, "seed=4294967296"),
    ({"lr": 0.0}, "lr=0.0"),
    ({"lr": -0.1}, "lr=-0.1"),
    ({"lr": math.nan}, "lr=nan"),
    ({"lr": math.inf}, "lr=inf"),
    ({"lr": "fast"}, "lr='fast'"),
    ({"hidden": 0}, "hidden=0"),
    ({"cell": "transformer"}, "cell='transformer'"),
    ({"init": "he"}, "init='he'"),
    ({"forecast_mode": "teacher"}, "forecast_mode='teacher'"),
    ({"time_scan": "log"}, "time_scan='log'"),
    ({"horizon": 0}, "horizon=0"),
    ({"val_fraction": 0.0}, "val_fraction=0.0"),  # no validation window
    ({"val_fraction": 0.999}, "val_fraction=0.999"),  # no training window
    ({"val_fraction": 1.5}, "val_fraction=1.5"),
    ({"tau": 0.0}, "tau=0.0"),
    ({"x_stop": -1.0}, "x_stop=-1.0"),
    ({"x_start": math.inf}, "x_start=inf"),
    ({"shuffle": "yes"}, "shuffle='yes'"),
    ({"series": "square"}, "series='square'"),
    ({"unroll": -1}, "unroll=-1"),
    ({"momentum": 1.0}, "momentum=1.0"),
    ({"momentum": -0.1}, "momentum=-0.1"),
    ({"layers": 0}, "layers=0"),
    ({"layers": 1.5}, "layers=1.5"),
    ({"dropout": 1.0}, "dropout=1.0"),
    ({"dropout": -0.1}, "dropout=-0.1"),
    ({"recurrent_dropout": math.nan}, "recurrent_dropout=nan"),
    ({"cell": "lru", "recurrent_dropout": 0.1}, "recurrent_dropout=0.1"),  # no recurrent kernel
    ({"cell": "mingru", "recurrent_dropout": 0.2}, "cell='mingru'"),
    ({"cell": "flax_gru", "recurrent_dropout": 0.2}, "only gru, lstm, rnn, flax_lstm"),
    ({"kernel": "pallas", "recurrent_dropout": 0.2}, "kernel='pallas'"),
]


@pytest.mark.parametrize("changes, named", BAD)
def test_bad_values_are_refused_in_one_line_naming_the_value(changes, named):
    with pytest.raises(ConfigError) as err:
        Config(**changes)
    message = str(err.value)
    assert named in message and "\n" not in message
    assert "must" in message  # says what is allowed


def test_unknown_cell_lists_the_registry():
    with pytest.raises(ConfigError, match="gru, lstm, rnn, flax_gru, flax_lstm"):
        Config(cell="gruu")


def test_defaults_are_the_seed_notebook():
    cfg = Config()
    assert (cfg.length, cfg.window, cfg.hidden, cfg.batch_size, cfg.epochs, cfg.lr) == (200, 20, 40, 10, 1000, 0.01)
    assert (cfg.n_windows, cfg.n_train, cfg.n_val, cfg.steps_per_epoch, cfg.steps) == (180, 162, 18, 17, 180)


def test_config_is_frozen_and_replace_validates():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3
    assert cfg.replace(epochs=3).epochs == 3
    with pytest.raises(ConfigError):
        cfg.replace(epochs=-3)


def test_numpy_scalars_are_numbers_and_a_list_is_a_clear_error():
    import numpy as np

    cfg = Config(hidden=np.int64(8), lr=np.float32(0.01), shuffle=np.bool_(False), tau=np.float64(2.5))
    assert cfg.hidden == 8 and type(cfg.hidden) is int and cfg.lr == 0.01 and type(cfg.lr) is float
    assert cfg.shuffle is False and cfg.tau == 2.5
    assert dataclasses.asdict(cfg) == dataclasses.asdict(Config(hidden=8, lr=0.01, shuffle=False, tau=2.5))
    with pytest.raises(ConfigError, match=r"cell=\['gru'\] is not allowed"):
        Config(cell=["gru"])


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"series": "lorenz", "channels": "x,w"}, "'w' is not a channel of lorenz: x, y, z"),
        ({"series": "lorenz", "channels": "x,x"}, "names 'x' twice"),
        ({"channels": "x,y"}, "series='damped_cos' has one channel"),
        ({"series": "lorenz", "channels": "x,y", "targets": "z"}, "'z' is not among the input channels: x, y"),
        ({"series": "lorenz", "targets": "y"}, "'y' is not among the input channels: x"),
        ({"series": "lorenz", "channels": "x,y", "targets": "x,x"}, "names 'x' twice"),
        ({"columns": "a,b"}, "no data is given"),
        ({"data": np.zeros((50, 2)), "columns": "0"}, "data is an array"),
        ({"data": np.zeros((50, 2, 2))}, "shape (50, 2, 2)"),
        ({"data": np.ma.masked_invalid([1.0, np.nan, 2.0, 3.0])}, "masked values"),
    ],
)
def test_bad_channels_are_one_line(fields, named):
    with pytest.raises(ConfigError) as err:
        Config(**fields)
    assert named in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"seeds": 2**70}, "seeds=1180591620717411303424 is not allowed: must be an integer between 1 and 2147483647"),
        ({"epochs": 2**62}, "must be an integer between 1 and 2147483647"),
        ({"hidden": 2**40}, "hidden=1099511627776 is not allowed"),
        ({"lr": 10**400}, "lr=100000000000000000000000... (401 characters) is not allowed: must be a finite number"),
    ],
)
def test_numbers_past_int32_or_float_are_one_line(fields, named):
    with pytest.raises(ConfigError) as err:
        Config(**fields)
    assert named in str(err.value) and "\n" not in str(err.value)


def test_bad_registry_entries_are_one_line(monkeypatch):
    from rnnjax.core.cells import CELLS
    from rnnjax.core.series import SERIES

    monkeypatch.setitem(CELLS, "fn", lambda features, scheme: None)
    monkeypatch.setitem(SERIES, "wide", lambda x, tau: np.zeros((len(x), 2)))
    monkeypatch.setitem(SERIES, "text", lambda x, tau: "values")
    monkeypatch.setitem(SERIES, "holes", lambda x, tau: np.where(x > 1, np.nan, x))
    for fields, named in [
        ({"series": "holes"}, "series='holes' has nan at index"),  # not "overflow float32 training"
        ({"cell": "fn"}, "a cell must be a Flax cell class with fields features and scheme"),
        ({"series": "wide"}, "series='wide' returned float64 values of shape (200, 2) for 200 sample times"),
        ({"series": "text"}, "its function must return numbers of shape [200]"),
    ]:
        with pytest.raises(ConfigError) as err:
            Config(**fields)
        assert named in str(err.value) and "\n" not in str(err.value)
