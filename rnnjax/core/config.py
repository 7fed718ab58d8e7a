"""One frozen, validated config holding every knob of a run."""

import dataclasses
import math
import os
from dataclasses import dataclass

import numpy as np

FORECAST_MODES = ("window", "carry")
TIME_SCANS = ("parallel", "sequential")
KERNELS = ("xla", "pallas")


DEFAULT_N_POINTS = 200  # the notebook's; recorded data has its own length


class ConfigError(ValueError):
    """A config value that is not allowed; the message is one line naming field, value and rule."""


@dataclass(frozen=True)
class Config:
    """The seed notebook's experiment by default: GRU(40)+Dense(1), SGD 0.01, batch 10, 1000 epochs."""

    # series y = f(x, tau) on x = linspace(x_start, x_stop, n_points); f from core.series.SERIES
    series: str = "damped_cos"
    data: str = ""  # a .csv or .npy file to train on instead (in Python, also an array); `series` is then unused
    column: str = ""  # data's CSV column: a name or a 0-based index; default the only numeric column
    data_sha256: str = ""  # set from the data itself: a config on other data than this is refused
    n_points: int = DEFAULT_N_POINTS  # with data: the number of values it holds
    x_start: float = 0.0
    x_stop: float = 5 * math.pi
    spacing: float = 0.0  # of the grid; 0: the series' own (the notebook's: (x_stop - x_start) / (n_points - 1))
    tau: float = 5.0  # the damped series' decay
    normalize: str = "auto"  # "standard": z-score by the training windows' mean and sd; "auto": per series
    noise: float = 0.0  # sd of Gaussian noise added to the series the models see (in the data's units)
    noise_seed: int = 0  # the noise's own seed: every model and seed of a study sees the same noisy data
    window: int = 20
    val_fraction: float = 0.1  # Keras validation_split: the last windows, never trained on
    # model
    cell: str = "gru"
    hidden: int = 40
    init: str = "keras"  # initialiser scheme: "keras" or "flax"
    unroll: int = 0  # time steps per scan iteration; 0: per backend (model.default_unroll); same maths
    time_scan: str = "parallel"  # cells with a parallel form: associative scan, or step by step; same maths
    kernel: str = "xla"  # "pallas": the window's GRU/LSTM recurrence as fused Pallas kernels; same maths
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
        if isinstance(self.data, os.PathLike):
            object.__setattr__(self, "data", os.fspath(self.data))
        if not isinstance(self.data, str):  # an array (or anything array-like) given in Python
            from rnnjax.core.series import recorded

            if not isinstance(self.data, recorded.Recorded):
                object.__setattr__(self, "data", recorded.from_array(self.data))
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
        if {"series", "data", "column"} & changes.keys():  # another series: its own checksum and length
            changes.setdefault("data_sha256", "")
            changes.setdefault("n_points", DEFAULT_N_POINTS)
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """The fields as JSON-ready values (an array given as data: its checksum)."""
        fields = dataclasses.asdict(self)
        if not isinstance(self.data, str):
            fields["data"] = f"<array sha256:{self.data.sha256}>"
        return fields


def refuse(field: str, value, allowed: str):
    """Raise the one-line ConfigError naming the field, its value and what is allowed."""
    raise ConfigError(f"{field}={value!r} is not allowed: {allowed}")


def _check_int(cfg: Config, field: str, low: int, high: int | None = None):
    value = getattr(cfg, field)
    ok = isinstance(value, int) and not isinstance(value, bool)
    ok = ok and value >= low and (high is None or value <= high)
    if not ok:
        rng = f">= {low}" if high is None else f"between {low} and {high}"
        refuse(field, value, f"must be an integer {rng}")


def _check_float(cfg: Config, field: str, positive: bool = False):
    value = getattr(cfg, field)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        refuse(field, value, "must be a finite number" + (" > 0" if positive else ""))


def _check_choice(cfg: Config, field: str, choices):
    value = getattr(cfg, field)
    if not isinstance(value, str) or value not in choices:
        refuse(field, value, "must be one of " + ", ".join(choices))


def _validate(cfg: Config):
    from rnnjax.core import series as series_lib
    from rnnjax.core.cells import CELLS, SCHEMES  # the registries are the one list of names
    from rnnjax.core.series import NORMALIZE, SERIES, checks

    _check_choice(cfg, "series", SERIES)
    recorded = checks.recorded(cfg)
    _check_int(cfg, "n_points", 2)
    for field in ("x_start", "x_stop"):
        _check_float(cfg, field)
    if cfg.x_stop <= cfg.x_start and series_lib.uses_x_stop(cfg):
        refuse("x_stop", cfg.x_stop, f"must be greater than x_start={cfg.x_start!r}")
    _check_float(cfg, "spacing")
    if cfg.spacing < 0:
        refuse("spacing", cfg.spacing, "must be >= 0 (0: the series' own)")
    checks.grid_start(cfg)
    _check_float(cfg, "tau", positive=True)
    _check_choice(cfg, "normalize", NORMALIZE)
    _check_float(cfg, "noise")
    if cfg.noise < 0:
        refuse("noise", cfg.noise, "must be a finite number >= 0 (the noise's standard deviation)")
    _check_int(cfg, "noise_seed", 0, 2**32 - 1)
    _check_int(cfg, "window", 1)
    if recorded is not None:
        checks.length(cfg, recorded)
    if cfg.window >= cfg.n_points:
        refuse("window", cfg.window, f"must be less than n_points={cfg.n_points}")
    _check_float(cfg, "val_fraction")
    if not 0.0 <= cfg.val_fraction < 1.0 or cfg.n_train < 1 or cfg.n_val < 1:
        refuse(
            "val_fraction",
            cfg.val_fraction,
            f"must leave at least one training and one validation window of {cfg.n_windows}",
        )
    _check_choice(cfg, "cell", CELLS)
    _check_int(cfg, "hidden", 1)
    _check_choice(cfg, "init", SCHEMES)
    _check_int(cfg, "unroll", 0)
    _check_choice(cfg, "time_scan", TIME_SCANS)
    _check_choice(cfg, "kernel", KERNELS)
    if cfg.kernel == "pallas":
        from rnnjax.core.kernels import SUPPORTED  # imports Pallas: only when asked for

        if cfg.cell not in SUPPORTED:
            raise ConfigError(
                f"kernel='pallas' is not allowed for cell={cfg.cell!r}: the Pallas kernels cover {', '.join(SUPPORTED)}"
            )
    _check_float(cfg, "lr", positive=True)
    _check_float(cfg, "momentum")
    if not 0.0 <= cfg.momentum < 1.0:
        refuse("momentum", cfg.momentum, "must be at least 0 and less than 1")
    _check_int(cfg, "batch_size", 1)
    _check_int(cfg, "epochs", 1)
    if not isinstance(cfg.shuffle, bool):
        refuse("shuffle", cfg.shuffle, "must be true or false")
    _check_int(cfg, "seeds", 1)
    _check_int(cfg, "seed", 0, 2**32 - 1)
    _check_choice(cfg, "forecast_mode", FORECAST_MODES)
    _check_int(cfg, "horizon", 1)
    if recorded is not None:
        checks.horizon(cfg, recorded)
    checks.integration(cfg)
    checks.values(cfg, recorded)
