"""One frozen, validated config holding every knob of a run."""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

FORECAST_MODES = ("window", "carry")
TIME_SCANS = ("parallel", "sequential")


class ConfigError(ValueError):
    """A config value that is not allowed; the message is one line naming field, value and rule."""


@dataclass(frozen=True)
class Config:
    """The seed notebook's experiment by default: GRU(40)+Dense(1), SGD 0.01, batch 10, 1000 epochs."""

    # series y = f(x, tau) on x = linspace(x_start, x_stop, n_points); f from data.SERIES
    series: str = "damped_cos"
    n_points: int = 200
    x_start: float = 0.0
    x_stop: float = 5 * math.pi
    tau: float = 5.0
    window: int = 20
    val_fraction: float = 0.1  # Keras validation_split: the last windows, never trained on
    # model
    cell: str = "gru"
    hidden: int = 40
    init: str = "keras"  # initialiser scheme: "keras" or "flax"
    unroll: int = 0  # time steps per scan iteration; 0: per backend (model.default_unroll); same maths
    time_scan: str = "parallel"  # cells with a parallel form: associative scan, or step by step; same maths
    # training
    lr: float = 0.01
    momentum: float = 0.0  # SGD momentum, Keras's (v = m v - lr g) as optax.sgd's trace; Keras's default 0
    batch_size: int = 10
    epochs: int = 1000
    shuffle: bool = True
    seeds: int = 16
    seed: int = 0  # base seed; seed i of a run is fold_in(key(seed), i)
    # forecast
    forecast_mode: str = "window"
    horizon: int = 180

    def __post_init__(self):
        for field in dataclasses.fields(self):  # NumPy scalars (np.int64(8), np.float32(0.01)) as Python numbers
            value = getattr(self, field.name)
            if isinstance(value, np.floating):  # float32(0.01) means 0.01: its shortest repr
                object.__setattr__(self, field.name, float(str(value)))
            elif isinstance(value, np.generic):
                object.__setattr__(self, field.name, value.item())
        _validate(self)

    @property
    def n_windows(self) -> int:
        return self.n_points - self.window

    @property
    def n_train(self) -> int:
        """Keras: split_at = floor(n * (1 - validation_split))."""
        return math.floor(self.n_windows * (1.0 - self.val_fraction))

    @property
    def n_val(self) -> int:
        return self.n_windows - self.n_train

    @property
    def steps_per_epoch(self) -> int:
        """Minibatches per epoch; the last one may be partial (162 = 16×10 + 2)."""
        return -(-self.n_train // self.batch_size)

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)


def _refuse(field: str, value, allowed: str):
    raise ConfigError(f"{field}={value!r} is not allowed: {allowed}")


def _check_int(cfg: Config, field: str, low: int, high: int | None = None):
    value = getattr(cfg, field)
    ok = isinstance(value, int) and not isinstance(value, bool)
    ok = ok and value >= low and (high is None or value <= high)
    if not ok:
        rng = f">= {low}" if high is None else f"between {low} and {high}"
        _refuse(field, value, f"must be an integer {rng}")


def _check_float(cfg: Config, field: str, positive: bool = False):
    value = getattr(cfg, field)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        _refuse(field, value, "must be a finite number" + (" > 0" if positive else ""))


def _check_choice(cfg: Config, field: str, choices):
    value = getattr(cfg, field)
    if not isinstance(value, str) or value not in choices:
        _refuse(field, value, "must be one of " + ", ".join(choices))


def _validate(cfg: Config):
    from rnnjax.core.cells import CELLS, SCHEMES  # the registries are the one list of names
    from rnnjax.core.data import SERIES

    _check_choice(cfg, "series", SERIES)
    _check_int(cfg, "n_points", 2)
    for field in ("x_start", "x_stop"):
        _check_float(cfg, field)
    if cfg.x_stop <= cfg.x_start:
        _refuse("x_stop", cfg.x_stop, f"must be greater than x_start={cfg.x_start!r}")
    _check_float(cfg, "tau", positive=True)
    _check_int(cfg, "window", 1)
    if cfg.window >= cfg.n_points:
        _refuse("window", cfg.window, f"must be less than n_points={cfg.n_points}")
    _check_float(cfg, "val_fraction")
    if not 0.0 <= cfg.val_fraction < 1.0 or cfg.n_train < 1 or cfg.n_val < 1:
        _refuse(
            "val_fraction",
            cfg.val_fraction,
            f"must leave at least one training and one validation window of {cfg.n_windows}",
        )
    _check_choice(cfg, "cell", CELLS)
    _check_int(cfg, "hidden", 1)
    _check_choice(cfg, "init", SCHEMES)
    _check_int(cfg, "unroll", 0)
    _check_choice(cfg, "time_scan", TIME_SCANS)
    _check_float(cfg, "lr", positive=True)
    _check_float(cfg, "momentum")
    if not 0.0 <= cfg.momentum < 1.0:
        _refuse("momentum", cfg.momentum, "must be at least 0 and less than 1")
    _check_int(cfg, "batch_size", 1)
    _check_int(cfg, "epochs", 1)
    if not isinstance(cfg.shuffle, bool):
        _refuse("shuffle", cfg.shuffle, "must be true or false")
    _check_int(cfg, "seeds", 1)
    _check_int(cfg, "seed", 0, 2**32 - 1)
    _check_choice(cfg, "forecast_mode", FORECAST_MODES)
    _check_int(cfg, "horizon", 1)
