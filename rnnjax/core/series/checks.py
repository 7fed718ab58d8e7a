"""The checks of a Config that need its series itself: recorded data read and checksummed,
the length it must have, an integration's cost, and values float32 can train on. Called
from `config._validate`; each raises a one-line ConfigError."""

import numpy as np

from rnnjax.core import series
from rnnjax.core.config import Config, ConfigError, refuse

DEFAULT_SERIES = Config.series


MAX_INTEGRATION_STEPS = 4_000_000  # about 20 s of the integrators' Python loop
# what float32 training can hold: values (and squares, for the loss) finite, a spread it resolves
MAX_VALUE, MIN_VALUE, MIN_RELATIVE_SPREAD = 1e15, 1e-30, 1e-6
MAX_CHECKED_POINTS = 1_000_000


def integration(cfg: Config):
    """An integrated series integrates to the last time it samples: bounded."""
    entry = series.spec(cfg.series)
    if cfg.data or not entry.step:
        return
    n = max(cfg.length, cfg.origin + cfg.steps)
    t_end = cfg.x_start + series.spacing(cfg) * (n - 1)
    steps = (t_end + entry.offset) / entry.step
    if not steps <= MAX_INTEGRATION_STEPS:
        reach = MAX_INTEGRATION_STEPS * entry.step - entry.offset
        raise ConfigError(
            f"series={cfg.series!r} up to x={t_end:.4g} needs {steps:.3g} integration steps of {entry.step:g}: "
            f"at most {MAX_INTEGRATION_STEPS:,} (x up to {reach:g}); reduce x_start, spacing, n_points or horizon"
        )


def values(cfg: Config, recorded):
    """The values the models see must train in float32: finite squares, and (scaled) a
    spread that float32 resolves."""
    from rnnjax.core import data  # data reads the registry: imported when first checked

    if recorded is None and cfg.length > MAX_CHECKED_POINTS:
        return  # a computed series this long is the memory check's to refuse; not computed here
    seen = data.training_values(cfg)
    what = f"data={recorded.source!r}" if recorded is not None else f"series={cfg.series!r}"
    what += f" with noise={cfg.noise!r}" if cfg.noise else ""
    bad = np.argwhere(~np.isfinite(seen))
    if len(bad):  # a registered series' own nan or inf (a file's is refused by row when read)
        raise ConfigError(f"{what} has {seen[tuple(bad[0])]} at index {bad[0][0]}: every value must be a finite number")
    biggest = float(np.max(np.abs(seen)))
    if not biggest <= MAX_VALUE:
        raise ConfigError(f"{what} reaches {biggest:.3g}: values beyond {MAX_VALUE:g} overflow float32 training")
    if series.normalization(cfg) == "none":
        return
    names = series.channels(cfg)
    for c, values in enumerate(seen.T if seen.ndim == 2 else [seen]):  # each channel is standardized alone
        where = f" channel {names[c]!r}" if seen.ndim == 2 else ""
        spread, biggest = float(np.std(values)), float(np.max(np.abs(values)))
        if spread == 0:
            raise ConfigError(
                f"{what}{where} is constant ({values[0]:g}) over the training windows: nothing to learn, "
                "and normalize='standard' divides by its spread"
            )
        if biggest < MIN_VALUE or spread < MIN_RELATIVE_SPREAD * biggest:
            raise ConfigError(
                f"{what}{where} varies by {spread:.3g} around {float(np.mean(values)):.6g} over the training "
                "windows: too little for float32 to resolve once standardized"
            )


def recorded(cfg: Config):
    """The recorded series the config trains on (None: a computed one); refuses data other
    than the config's checksum (if it has one) and a length other than its n_points (if given)."""
    for field in ("data", "column", "columns", "channels", "targets", "data_sha256"):
        value = getattr(cfg, field)
        if field != "data" and not isinstance(value, str):
            refuse(field, value, "must be a string")
    for field in ("column", "columns"):
        if getattr(cfg, field) and not cfg.data:
            refuse(field, getattr(cfg, field), "names a column of data=FILE.csv, and no data is given")
        if getattr(cfg, field) and not isinstance(cfg.data, str):
            refuse(
                field, getattr(cfg, field), "names a CSV column, and data is an array (its columns are its channels)"
            )
    if cfg.column and cfg.columns:
        refuse("columns", cfg.columns, f"cannot be given with column={cfg.column!r}: give one or the other")
    _names("columns", cfg.columns)
    if cfg.channels and cfg.data:  # before the data is read: its columns are the channels
        refuse("channels", cfg.channels, "is not used with data: its columns are its channels (columns=a,b for a CSV)")
    source = series.source(cfg)
    if source is None:
        if cfg.data_sha256:
            refuse("data_sha256", cfg.data_sha256, "is set from recorded data, and this series is computed")
        return None
    if cfg.data_sha256 and cfg.data_sha256 != source.sha256:
        raise ConfigError(
            f"data={source.source!r} has changed: its SHA-256 is {source.sha256[:16]}..., "
            f"the config's (the run's) is {cfg.data_sha256[:16]}..."
        )
    if cfg.data and cfg.series != DEFAULT_SERIES:
        refuse("series", cfg.series, f"is not used with data: the data ({source.source!r}) is the series")
    if cfg.n_points is not None and cfg.n_points != len(source):
        refuse("n_points", cfg.n_points, f"must be the length of recorded data ({source.source!r}: {len(source)})")
    if cfg.spacing:
        refuse(
            "spacing", cfg.spacing, f"must be 0 with recorded data ({source.source!r}): its time is the sample index"
        )
    return source


def _names(field: str, text: str) -> tuple[str, ...]:
    """A comma-separated list of distinct, non-empty names, or a one-line refusal."""
    names = series.names(text)
    if any(not n for n in names):
        refuse(field, text, "must be names separated by single commas, none empty")
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        refuse(field, text, f"names {twice!r} twice")
    return names


def channels(cfg: Config):
    """The channels asked for exist: a series' components (not with data, whose columns are
    its channels), and targets among the channels the models read."""
    chosen = _names("channels", cfg.channels)
    entry = series.spec(cfg.series)
    if chosen and not entry.channels:
        refuse("channels", cfg.channels, f"series={cfg.series!r} has one channel (series with several: {_multi()})")
    unknown = [c for c in chosen if c not in entry.channels]
    if unknown:
        refuse(
            "channels", cfg.channels, f"{unknown[0]!r} is not a channel of {cfg.series}: {', '.join(entry.channels)}"
        )
    wanted = _names("targets", cfg.targets)
    have = series.channels(cfg)
    missing = [t for t in wanted if t not in have]
    if missing:
        refuse("targets", cfg.targets, f"{missing[0]!r} is not among the input channels: {', '.join(have)}")


def _multi() -> str:
    return ", ".join(name for name in series.SERIES if series.spec(name).channels) or "none"


def grid_start(cfg: Config):
    x_min = series.spec(cfg.series).x_min
    if not cfg.data and cfg.x_start < x_min:
        refuse("x_start", cfg.x_start, f"must be >= {x_min:g} for series={cfg.series!r}")


def length(cfg: Config, source):
    """Recorded data long enough for a training window, a validation window and the forecast."""
    n, w = cfg.length, cfg.window
    if n < w + 2:
        raise ConfigError(
            f"data={source.source!r} has {n} points: too short for window={w}, one training and one "
            f"validation window and a forecast (at least {w + 2} points)"
        )


def horizon(cfg: Config, source):
    """Recorded data must hold the forecast's truth."""
    if cfg.origin + cfg.steps > cfg.length:
        refuse(
            "horizon",
            cfg.steps,
            f"the forecast must fit inside {source.source!r} ({cfg.length} points): "
            f"with window={cfg.window} the largest horizon is {cfg.length - cfg.origin}",
        )


def protocol(cfg: Config):
    """Holdout: a test span that leaves at least one batch of training windows, a horizon
    inside it, a season the training span holds; the notebook's protocol takes neither."""
    if cfg.forecast_protocol != "backtest":
        for field in ("origins", "stride", "fold"):
            if getattr(cfg, field):
                refuse(field, getattr(cfg, field), "is used with protocol='backtest' only")
    if cfg.forecast_protocol == "notebook":
        for field, why in (("test", "holds out no test span"), ("season", "scores no baseline")):
            if getattr(cfg, field):
                refuse(field, getattr(cfg, field), f"is used with protocol='holdout' only (the notebook's {why})")
        return
    if cfg.forecast_protocol == "backtest":
        if cfg.test:
            refuse(
                "test", cfg.test, "is not used with protocol='backtest': its spans follow from origins, horizon, stride"
            )
        if cfg.origins < 1:
            refuse("origins", cfg.origins, "must be an integer >= 1 with protocol='backtest'")
        if cfg.fold >= cfg.origins:
            refuse("fold", cfg.fold, f"must be less than origins={cfg.origins}")
    test, seen = cfg.test_span, cfg.seen
    if seen <= cfg.window and cfg.forecast_protocol == "backtest":
        refuse(
            "origins",
            cfg.origins,
            f"do not fit the series: {cfg.origins} origins {cfg.stride_steps} apart, each forecasting "
            f"{cfg.steps} values, leave {max(seen, 0)} of {cfg.length} values to train on (window={cfg.window})",
        )
    if cfg.forecast_protocol == "holdout" and cfg.horizon is not None and cfg.horizon > test:
        refuse(
            "horizon", cfg.horizon, f"must be at most the test span ({test} values): only held-out values are scored"
        )
    batch = cfg.batch_size if isinstance(cfg.batch_size, int) and cfg.batch_size >= 1 else 1
    fraction = cfg.val_fraction if isinstance(cfg.val_fraction, float | int) and 0 <= cfg.val_fraction < 1 else 0.0
    n_train = int((seen - cfg.window) * (1.0 - fraction)) if seen > cfg.window else 0
    if n_train < batch or seen - cfg.window < 2:
        refuse(
            "test",
            test,
            f"leaves {seen} of {cfg.length} values to train on: {max(n_train, 0)} training windows of "
            f"window={cfg.window}, fewer than one batch ({batch}) and a validation window",
        )
    season = series.season(cfg)
    if season and not 2 <= season <= seen:
        refuse("season", season, f"must be from 2 to the training span's {seen} values")
