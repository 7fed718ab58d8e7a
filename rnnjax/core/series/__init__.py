"""The series a study can train on, by name, and the clean values of a config's series.

SERIES maps a name to a closed-form function f(x, tau) of the sample grid (a new series
is one such function, then `series=NAME`) or to a `Series` that says more: the Config
fields its function reads after x (`reads`), a default grid spacing and scaling (the
integrated benchmarks), its state's components as channels, or recorded data. A file or
an array given as `Config.data` is recorded data too.

A series has one channel, or several (`channels`): the columns of recorded data, or a
system's components (`--channels x,y,z`). One channel is a 1-D array everywhere; several,
[T, C]. The models predict the `targets` channels (default every one); the others are
known covariates.
"""

import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from rnnjax.core.series import integrated, recorded
from rnnjax.core.series.closed_form import damped_cos, damped_sin
from rnnjax.core.series.recorded import Recorded

NORMALIZE = ("auto", "none", "standard")


class Series(NamedTuple):
    """How a registered series is sampled."""

    sample: Callable[..., np.ndarray] | None = None  # f(x, *reads) on the grid x
    spacing: float = 0.0  # the grid's default spacing; 0: (x_stop - x_start) / (n_points - 1), the notebook's
    normalize: str = "none"  # what normalize="auto" means for it
    reads: tuple[str, ...] = ("tau",)  # the Config fields `sample` takes after x, in order
    x_min: float = -np.inf  # the first sample's x (x_start) may not be less
    load: Callable[[], Recorded] | None = None  # recorded data: its values, the sample index as time
    step: float = 0.0  # an integrated series' internal step (0: closed form)
    offset: float = 0.0  # the time integrated before x = 0 (a washout)
    season: int = 0  # its period in samples, if it has one (the seasonal baseline's default)
    # a system's components, by name (Config.channels chooses among them; `sample` is the first)
    channels: tuple[str, ...] = ()
    components: Callable[..., np.ndarray] | None = None  # f(x, *reads) -> [n, len(channels)]


SERIES: dict[str, Callable | Series] = {
    "damped_cos": damped_cos,
    "damped_sin": damped_sin,
    "mackey_glass": Series(
        integrated.mackey_glass,
        spacing=1.0,
        normalize="standard",
        reads=(),
        x_min=0.0,
        step=integrated.MG_STEP,
        offset=integrated.MG_WASHOUT,
    ),
    "lorenz": Series(
        integrated.lorenz,
        spacing=0.02,
        normalize="standard",
        reads=(),
        x_min=0.0,
        step=integrated.LORENZ_STEP,
        channels=integrated.LORENZ_CHANNELS,
        components=integrated.lorenz_components,
    ),
    "sunspots": Series(normalize="standard", reads=(), load=recorded.sunspots, season=11),
}


def spec(name: str) -> Series:
    entry = SERIES[name]
    return entry if isinstance(entry, Series) else Series(entry)


def names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names (channels, columns, targets) as a tuple; "" is ()."""
    return tuple(text.split(",")) if text else ()


def source(cfg) -> Recorded | None:
    """The recorded data a config trains on (its `data`, or a recorded dataset), else None."""
    if isinstance(cfg.data, Recorded):
        return cfg.data
    if cfg.data:
        copy = recorded.kept(cfg.data_sha256, cfg.column, cfg.columns) if cfg.data_sha256 else None
        return copy or recorded.load(cfg.data, cfg.column, names(cfg.columns))
    load = spec(cfg.series).load
    return load() if load is not None else None


def channels(cfg) -> tuple[str, ...]:
    """The names of the channels the models read, in order: recorded data's columns (a
    single one: its name, or "y"), or the series' chosen components (default its first)."""
    data = source(cfg)
    if data is not None:
        return data.names if data.values.ndim == 2 else (cfg.column or cfg.columns or "y",)
    entry = spec(cfg.series)
    return names(cfg.channels) or entry.channels[:1] or ("y",)


def targets(cfg) -> tuple[int, ...]:
    """The indices (into `channels`) of the channels the models predict: cfg.targets, or every one."""
    chosen = channels(cfg)
    return tuple(chosen.index(t) for t in names(cfg.targets)) if cfg.targets else tuple(range(len(chosen)))


def season(cfg) -> int:
    """The seasonal baseline's period in samples: cfg.season, else the series' own (0: none)."""
    return cfg.season or (0 if cfg.data else spec(cfg.series).season)


def normalization(cfg) -> str:
    """cfg.normalize, with "auto" resolved: standard for recorded data and the integrated
    benchmarks (whose scale is arbitrary), none for the notebook's damped series."""
    if cfg.normalize != "auto":
        return cfg.normalize
    return "standard" if cfg.data else spec(cfg.series).normalize


def uses_x_stop(cfg) -> bool:
    """Whether the grid's spacing comes from x_stop (the notebook's linspace)."""
    return source(cfg) is None and not cfg.spacing and not spec(cfg.series).spacing


def spacing(cfg) -> float:
    if source(cfg) is not None:
        return 1.0
    return cfg.spacing or spec(cfg.series).spacing or (cfg.x_stop - cfg.x_start) / (cfg.length - 1)


def grid(cfg, n: int | None = None) -> np.ndarray:
    """x at sample index 0..n-1 (n > n_points extends past the stored points); recorded
    data: the sample index itself."""
    n = cfg.length if n is None else n
    if source(cfg) is not None:
        return np.arange(n, dtype=np.float64)
    return cfg.x_start + spacing(cfg) * np.arange(n, dtype=np.float64)


def clean(cfg, n: int | None = None) -> np.ndarray:
    """The series' first n values (default n_points), float64, without observation noise."""
    n = cfg.length if n is None else n
    data = source(cfg)
    if data is not None:
        return np.asarray(data.values[:n])
    entry = spec(cfg.series)
    args = (grid(cfg, n), *(getattr(cfg, name) for name in entry.reads))
    if not cfg.channels:
        return _shaped(cfg.series, entry.sample(*args), (n,))
    index = [entry.channels.index(c) for c in names(cfg.channels)]
    values = _shaped(cfg.series, entry.components(*args), (n, len(entry.channels)))[:, index]
    return values[:, 0] if len(index) == 1 else values  # one channel is the univariate series


def _shaped(name: str, values, shape: tuple[int, ...]) -> np.ndarray:
    """A registered series' values, or a one-line ConfigError when its function returns
    another shape or not numbers (a user's series, registered with --import)."""
    from rnnjax.core.config import ConfigError

    array = np.asarray(values)
    if array.shape != shape or array.dtype.kind not in "iuf":
        raise ConfigError(
            f"series={name!r} returned {array.dtype} values of shape {array.shape} for {shape[0]} sample times: "
            f"its function must return numbers of shape {list(shape)}"
        )
    return array


def describe(cfg) -> str:
    """A short name for figures and reports: "damped_cos, tau=5", "sunspots.csv[y], noise 0.1"."""
    if isinstance(cfg.data, Recorded):
        name = "data (an array)"
    elif cfg.data:
        column = cfg.column or (source(cfg).names[0] if cfg.data.lower().endswith(".csv") and not cfg.columns else "")
        name = os.path.basename(cfg.data) + (f"[{column}]" if column else "")  # the column read, even if chosen for you
    else:
        name = cfg.series + (f", tau={cfg.tau:g}" if "tau" in spec(cfg.series).reads else "")
    several = channels(cfg)
    if len(several) > 1 or cfg.channels or cfg.columns:  # a file's columns, an array's, a system's components
        name += f" [{','.join(several)}]"
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # any file or column name prints
    return name + (f", noise {cfg.noise:g}" if cfg.noise else "")


__all__ = [
    "NORMALIZE",
    "SERIES",
    "Recorded",
    "Series",
    "channels",
    "clean",
    "describe",
    "grid",
    "names",
    "normalization",
    "season",
    "source",
    "spacing",
    "spec",
    "targets",
]
