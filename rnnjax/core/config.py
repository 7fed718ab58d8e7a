"""One frozen, validated config holding every knob of a run, as the user asked for it.

A knob a study can sweep says so in its declaration (`knob`): RUN knobs vary between the
runs of one compiled program (vmapped), PROGRAM knobs change its shapes (one program per
value), and `series=True` marks a RUN knob that changes the series a run sees. The grid,
the runs' arrays, the series grouping, the sweep's flags and the checkpoints read these
declarations (`knobs`), so a new grid knob is one field plus the line that uses it.
"""

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rnnjax.core.series.recorded import Recorded

FORECAST_MODES = ("window", "carry")
TIME_SCANS = ("auto", "parallel", "sequential")
KERNELS = ("xla", "pallas")
PROTOCOLS = ("auto", "notebook", "holdout", "backtest")
NOTEBOOK_HORIZON = 180  # the notebook's forecast length
TEST_FRACTION = 0.1  # holdout's default test span: the last 10% of the series


DEFAULT_N_POINTS = 200  # the notebook's; recorded data has its own length
MAX_LAYERS = 64  # stacked recurrent layers: a bound that keeps tracing and compiling to seconds

RUN, PROGRAM = "run", "program"  # a grid knob's role: vmapped per run, or a program per value


def knob(default, role: str, help: str, series: bool = False):
    """A Config field a study can sweep (`role` RUN or PROGRAM); `help` names its values for
    the sweep's flag; `series`: runs that differ in it train on their own series."""
    return dataclasses.field(default=default, metadata={"role": role, "help": help, "series": series})


def knobs(kind: type | None = None, role: str | None = None, series: bool | None = None) -> tuple[str, ...]:
    """The grid knobs of a Config class (default Config), in grid order: PROGRAM knobs, then
    RUN knobs that keep the series, then those that change it (each in declaration order),
    so that a shape's grid points are contiguous and the series varies fastest."""
    declared = [f for f in dataclasses.fields(kind or Config) if "role" in f.metadata]
    ordered = sorted(declared, key=lambda f: (f.metadata["role"] == RUN, f.metadata["series"]))
    return tuple(
        f.name
        for f in ordered
        if (role is None or f.metadata["role"] == role) and (series is None or f.metadata["series"] == series)
    )


def knob_help(name: str, kind: type | None = None) -> str:
    return next(f.metadata["help"] for f in dataclasses.fields(kind or Config) if f.name == name)


class ConfigError(ValueError):
    """A config value that is not allowed; the message is one line naming field, value and rule."""


@dataclass(frozen=True)
class Config:
    """The seed notebook's experiment by default: GRU(40)+Dense(1), SGD 0.01, batch 10, 1000 epochs."""

    # series y = f(x, tau) on x = linspace(x_start, x_stop, n_points); f from core.series.SERIES
    series: str = "damped_cos"
    # several channels: a series' components, comma-separated (lorenz: x,y,z; default its first)
    channels: str = ""
    data: "str | Recorded" = ""  # a .csv or .npy file to train on instead (in Python, also an array); `series` unused
    column: str = ""  # data's CSV column: a name or a 0-based index; default the only numeric column
    columns: str = ""  # data's CSV columns, comma-separated, one channel each (a .npy [T, C]: its columns)
    # the channels the models predict, comma-separated; default every one. The others are
    # known covariates: read from the data over the forecast's horizon, never predicted
    targets: str = ""
    data_sha256: str = ""  # the data's SHA-256 if given (the scripts record it): other data is refused
    n_points: int | None = None  # None: the series' own length (recorded data's, else 200); see `length`
    x_start: float = 0.0
    x_stop: float = 5 * math.pi
    spacing: float = 0.0  # of the grid; 0: the series' own (the notebook's: (x_stop - x_start) / (n_points - 1))
    tau: float = knob(5.0, RUN, "the series' decay constants", series=True)  # the damped series' decay
    normalize: str = "auto"  # "standard": z-score by the training windows' mean and sd; "auto": per series
    # sd of Gaussian noise added to the series the models see (in the data's units)
    noise: float = knob(0.0, RUN, "observation noise levels (sd, in the data's units)", series=True)
    noise_seed: int = 0  # the noise's own seed: every model and seed of a study sees the same noisy data
    val_fraction: float = 0.1  # Keras validation_split: the last windows, never trained on
    # model
    cell: str = "gru"
    hidden: int = knob(40, PROGRAM, "hidden sizes (one program each)")
    window: int = knob(20, PROGRAM, "window lengths (one program each)")  # the model's input length
    init: str = "keras"  # initialiser scheme: "keras" or "flax"
    unroll: int = 0  # time steps per scan iteration; 0: per backend (model.default_unroll); same maths
    # cells with a parallel form: associative scan, or step by step; same maths. "auto": per
    # backend (model.default_time_scan)
    time_scan: str = "auto"
    kernel: str = "xla"  # "pallas": the window's GRU/LSTM recurrence as fused Pallas kernels; same maths
    # stacked recurrent layers, Keras's Sequential([RNN(H, return_sequences=True)] * layers + [Dense(1)])
    layers: int = knob(1, PROGRAM, "stacked recurrent layers (one program each)")
    # Keras's GRU/LSTM dropout: one mask per sequence for all time steps, on the inputs (dropout)
    # and on the recurrent state (recurrent_dropout); training only
    dropout: float = knob(0.0, RUN, "input dropout rates")
    recurrent_dropout: float = knob(0.0, RUN, "recurrent dropout rates")
    # training: Keras 3's optimisers with their update rules (core.optim). lr is the notebook's
    # 0.01 whatever the optimiser (Keras's Adam, AdamW, RMSprop and Adagrad default to 0.001)
    optimizer: str = knob("sgd", PROGRAM, "optimizers (one program each: their states differ)")
    lr: float = knob(0.01, RUN, "learning rates")
    # SGD momentum, Keras's (v = m v - lr g) as optax.sgd's trace; Keras's default 0
    momentum: float = knob(0.0, RUN, "SGD momentum values")
    beta_1: float = knob(0.9, RUN, "Adam/AdamW beta_1 values")
    beta_2: float = knob(0.999, RUN, "Adam/AdamW beta_2 values")
    rho: float = knob(0.9, RUN, "RMSprop rho values")
    weight_decay: float = knob(0.004, RUN, "AdamW weight decay values")  # AdamW's only, decoupled as Keras's
    epsilon: float = 1e-7  # Keras's, where Keras adds it (Adam: to sqrt(v), not to optax's bias-corrected one)
    # Keras's gradient clipping, at most one: each variable's gradient by its own norm, all of
    # them by their global norm, or each element to [-clipvalue, clipvalue]; 0: off
    clipnorm: float = knob(0.0, RUN, "per-variable gradient clipping norms (0: off)")
    global_clipnorm: float = 0.0
    clipvalue: float = 0.0
    # learning-rate schedule, Keras's CosineDecay / ExponentialDecay (core.optim.SCHEDULES)
    schedule: str = knob("constant", PROGRAM, "learning-rate schedules (one program each)")
    decay_steps: int = 0  # steps (minibatch updates) to decay over; 0: the whole run's
    alpha: float = 0.0  # cosine schedules: the final learning rate as a fraction of lr
    decay_rate: float = 0.1  # exponential: lr * decay_rate ** (step / decay_steps)
    warmup_steps: int = 0  # warmup_cosine: steps of linear warmup from 0 to lr; 0: a tenth of the run's
    # early stopping, Keras's EarlyStopping(monitor="val_loss", patience, min_delta,
    # restore_best_weights): each run stops on its own; 0: off
    patience: int = 0
    min_delta: float = 0.0
    restore_best: bool = True
    batch_size: int = 10
    epochs: int = 1000
    shuffle: bool = True
    seeds: int = 16
    seed: int = 0  # base seed; seed i of a run is fold_in(key(seed), i)
    # forecast
    # "notebook": from the first target window, inside the span the models trained on (the seed
    # notebook's); "holdout": from the end of the training span, over `test` values never seen;
    # "auto": the notebook's for its closed-form series, holdout for every other (forecast_protocol)
    protocol: str = "auto"
    test: int = 0  # holdout's test span; 0: the horizon if given, else the last 10% of the series
    origins: int = 0  # backtest: rolling forecast origins, `stride` apart, the last `horizon` before the end
    stride: int = 0  # backtest: steps between origins; 0: the horizon
    # backtest: which origin a run forecasts from (0: the earliest); the origins of a backtest
    # are a grid axis, so that origins x seeds train as one program
    fold: int = knob(0, RUN, "backtest origins (0: the earliest)", series=True)
    season: int = 0  # the seasonal baseline's period in samples; 0: the series' own, if it has one
    forecast_mode: str = "window"
    horizon: int | None = None  # steps forecast; None: the notebook's 180, or holdout's whole test span

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
    def length(self) -> int:
        """The series' length: n_points if given, else recorded data's own length (the
        notebook's 200 for a computed series)."""
        if self.n_points is not None:
            return self.n_points
        from rnnjax.core.series import source  # read once per file version (cached)

        recorded = source(self)
        return DEFAULT_N_POINTS if recorded is None else len(recorded)

    @property
    def forecast_protocol(self) -> str:
        """`protocol` with "auto" resolved: the notebook's for closed-form series (the damped
        series: every Keras-parity number), holdout for recorded data and integrated series."""
        if self.protocol != "auto":
            return self.protocol
        from rnnjax.core.series import source, spec

        return "holdout" if self.data or source(self) is not None or spec(self.series).step else "notebook"

    @property
    def test_span(self) -> int:
        """Values at the end of the series that the models of the earliest origin never see
        (holdout: the test span; backtest: every origin's forecast)."""
        if self.forecast_protocol == "holdout":
            return self.test or self.horizon or max(1, round(TEST_FRACTION * self.length))
        if self.forecast_protocol == "backtest":
            return self.steps + (max(self.origins, 1) - 1) * self.stride_steps
        return 0

    @property
    def seen(self) -> int:
        """Values the models may see: training and validation windows, scaling, noise (the
        same number at every backtest origin)."""
        return self.length - self.test_span

    @property
    def steps(self) -> int:
        """The forecast's length: the horizon, or by default the notebook's 180, holdout's test
        span, or a tenth of the series for each backtest origin."""
        if self.horizon is not None:
            return self.horizon
        if self.forecast_protocol == "backtest":
            return max(1, round(TEST_FRACTION * self.length))
        return NOTEBOOK_HORIZON if self.forecast_protocol == "notebook" else self.test_span

    @property
    def stride_steps(self) -> int:
        """Backtest: samples between consecutive origins (default the horizon)."""
        return self.stride or self.steps

    @property
    def start(self) -> int:
        """The first sample the models see: a backtest origin's span slides by its stride."""
        return self.fold * self.stride_steps if self.forecast_protocol == "backtest" else 0

    @property
    def origin(self) -> int:
        """Index of the first forecast value: after the first target window (notebook), or
        right after the values the models saw (holdout, each backtest origin)."""
        return self.window + 1 if self.forecast_protocol == "notebook" else self.start + self.seen

    @property
    def n_windows(self) -> int:
        return self.seen - self.window

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

    def as_dict(self) -> dict:
        """The fields as JSON-ready values (an array given as data: its checksum)."""
        fields = dataclasses.asdict(self)
        if not isinstance(self.data, str):
            fields["data"] = f"<array sha256:{self.data.sha256}>"
        return fields


def refuse(field: str, value, allowed: str):
    """Raise the one-line ConfigError naming the field, its value and what is allowed."""
    shown = repr(value)
    if len(shown) > 60:  # an int of 400 digits, a long string: its start and its size
        shown = f"{shown[:24]}... ({len(shown)} characters)"
    raise ConfigError(f"{field}={shown} is not allowed: {allowed}")


def _check_int(cfg: Config, field: str, low: int, high: int | None = None):
    """An integer in [low, high]; high defaults to int32's largest: sizes and counts live in
    int32 in the compiled programs (2**70 seeds would overflow there, not be refused)."""
    value = getattr(cfg, field)
    high = INT32_MAX if high is None else high
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if not ok:
        refuse(field, value, f"must be an integer between {low} and {high}")


def _check_float(cfg: Config, field: str, positive: bool = False):
    value = getattr(cfg, field)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        ok = ok and math.isfinite(value)
    except OverflowError:  # an int past float's range (10**400)
        ok = False
    if not ok or (positive and value <= 0):
        refuse(field, value, "must be a finite number" + (" > 0" if positive else ""))


def _check_choice(cfg: Config, field: str, choices):
    value = getattr(cfg, field)
    if not isinstance(value, str) or value not in choices:
        refuse(field, value, "must be one of " + ", ".join(choices))


INT32_MAX = 2**31 - 1  # step counts live in int32 in the compiled programs
F32 = np.finfo(np.float32)


def _check_float32(cfg: Config, field: str, below_one: bool = False):
    """A value trains in float32: refuse one float32 makes infinite, flushes to 0 (below its
    smallest normal number), or (`below_one`) rounds up to 1."""
    value = getattr(cfg, field)
    with np.errstate(over="ignore"):
        v32 = np.float32(value)
    if not np.isfinite(v32):
        refuse(field, value, f"must be at most {float(F32.max):.3g} (it trains in float32)")
    if value != 0 and abs(v32) < F32.tiny:
        refuse(field, value, f"must be 0 or at least {float(F32.tiny):.3g} in size (float32's smallest normal number)")
    if below_one and v32 >= 1:
        refuse(field, value, "must be less than 1 in float32, which it trains in (at most 0.99999994)")


def _check_unread(cfg: Config, reads: dict, chosen: str, what: str):
    """A value given to a field that the chosen optimiser or schedule does not read is
    refused: it would be silently ignored."""
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    for field in sorted({f for names in reads.values() for f in names} - set(reads[chosen])):
        if getattr(cfg, field) != defaults[field]:
            users = ", ".join(k for k, names in reads.items() if field in names)
            refuse(field, getattr(cfg, field), f"{what}={chosen!r} does not use it (used by {users})")


def _check_optimizer(cfg: Config):
    from rnnjax.core.optim import OPTIMIZER_READS, OPTIMIZERS, SCHEDULE_READS, SCHEDULES

    _check_choice(cfg, "optimizer", OPTIMIZERS)
    _check_choice(cfg, "schedule", SCHEDULES)
    for field in ("beta_1", "beta_2", "rho"):
        _check_float(cfg, field)
        if not 0.0 <= getattr(cfg, field) < 1.0:
            refuse(field, getattr(cfg, field), "must be at least 0 and less than 1")
    _check_float(cfg, "epsilon", positive=True)
    for field in ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "min_delta"):
        _check_float(cfg, field)
        if getattr(cfg, field) < 0:
            refuse(
                field, getattr(cfg, field), "must be a finite number >= 0" + (" (0: off)" if "clip" in field else "")
            )
    clipping = [f for f in ("clipnorm", "global_clipnorm", "clipvalue") if getattr(cfg, f) > 0]
    if len(clipping) > 1:
        refuse(
            clipping[1], getattr(cfg, clipping[1]), f"at most one kind of clipping, as in Keras ({clipping[0]} is set)"
        )
    _check_unread(cfg, OPTIMIZER_READS, cfg.optimizer, "optimizer")
    _check_unread(cfg, SCHEDULE_READS, cfg.schedule, "schedule")
    _check_int(cfg, "decay_steps", 0, INT32_MAX)
    _check_int(cfg, "warmup_steps", 0, INT32_MAX)
    if cfg.decay_steps + cfg.warmup_steps > INT32_MAX:
        refuse("decay_steps", cfg.decay_steps, f"with warmup_steps={cfg.warmup_steps} must sum to at most {INT32_MAX}")
    _check_float(cfg, "alpha")
    if not 0.0 <= cfg.alpha <= 1.0:
        refuse("alpha", cfg.alpha, "must be between 0 and 1 (the final learning rate as a fraction of lr)")
    _check_float(cfg, "decay_rate", positive=True)
    _check_int(cfg, "patience", 0, INT32_MAX)
    if not isinstance(cfg.restore_best, bool):
        refuse("restore_best", cfg.restore_best, "must be true or false")
    if cfg.patience == 0:  # early stopping is off: its settings would be silently ignored
        for field, default in (("min_delta", 0.0), ("restore_best", True)):
            if getattr(cfg, field) != default:
                refuse(field, getattr(cfg, field), "it sets early stopping, which is off: give patience > 0 too")
    for field in ("lr", "epsilon", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "decay_rate", "alpha"):
        _check_float32(cfg, field)
    _check_float32(cfg, "min_delta")
    for field in ("momentum", "beta_1", "beta_2", "rho"):
        _check_float32(cfg, field, below_one=True)


def _validate(cfg: Config):
    from rnnjax.core import series as series_lib
    from rnnjax.core.cells import CELLS, SCHEMES  # the registries are the one list of names
    from rnnjax.core.model import check_config as model_checks
    from rnnjax.core.series import NORMALIZE, SERIES, checks

    _check_choice(cfg, "series", SERIES)
    recorded = checks.recorded(cfg)
    checks.channels(cfg)
    if cfg.n_points is not None:
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
    if cfg.window >= cfg.length:
        refuse("window", cfg.window, f"must be less than n_points={cfg.length}")
    _check_choice(cfg, "protocol", PROTOCOLS)
    _check_int(cfg, "test", 0)
    _check_int(cfg, "season", 0)
    for field in ("origins", "stride", "fold"):
        _check_int(cfg, field, 0)
    if cfg.horizon is not None:
        _check_int(cfg, "horizon", 1)
    checks.protocol(cfg)
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
    _check_optimizer(cfg)
    _check_int(cfg, "layers", 1, MAX_LAYERS)
    for field in ("dropout", "recurrent_dropout"):
        _check_float(cfg, field)
        if not 0.0 <= getattr(cfg, field) < 1.0:
            refuse(field, getattr(cfg, field), "must be at least 0 and less than 1 (the fraction dropped)")
        _check_float32(cfg, field, below_one=True)
    _check_int(cfg, "batch_size", 1)
    _check_int(cfg, "epochs", 1)
    if not isinstance(cfg.shuffle, bool):
        refuse("shuffle", cfg.shuffle, "must be true or false")
    _check_int(cfg, "seeds", 1)
    _check_int(cfg, "seed", 0, 2**32 - 1)
    _check_choice(cfg, "forecast_mode", FORECAST_MODES)
    if recorded is not None:
        checks.horizon(cfg, recorded)
    checks.integration(cfg)
    checks.values(cfg, recorded)
    model_checks(cfg)  # what the model cannot run: cell, kernel and dropout together
