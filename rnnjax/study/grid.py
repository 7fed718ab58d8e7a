"""What a study is: models x grid points x seeds. The grid is the product of the values
given for some Config fields; each model's runs are its points x seeds. At a point, the
grid's swept knobs override a model's config and every other field is the model's own
(`at_point`), so that models may differ in more than their cell (each its hidden size).

Which fields are grid knobs, and how each varies, is declared once on the Config field
(`core.config.knob`): RUN knobs (VMAPPED here) vary inside one compiled program
(`core.train.Runs`); PROGRAM knobs (SEPARATE: hidden size, window) get one program per value.
"""

import itertools
from typing import NamedTuple

import numpy as np

from rnnjax.core.config import PROGRAM, RUN, Config, ConfigError, knobs

VMAPPED = knobs(role=RUN)
SEPARATE = knobs(role=PROGRAM)
GRID_FIELDS = knobs()  # points are ordered so that each shape's points are contiguous


class Grid(NamedTuple):
    points: list[dict]  # every combination, {field: value} for each grid knob of the config
    swept: tuple[str, ...]  # the fields given more than one value, in grid order
    kind: type = Config  # the config class whose knobs the grid spans

    @property
    def vmapped(self) -> tuple[str, ...]:
        return knobs(self.kind, RUN)

    @property
    def separate(self) -> tuple[str, ...]:
        return knobs(self.kind, PROGRAM)


def make_grid(cfg: Config, values: dict[str, list] | None = None) -> Grid:
    """The product of the given values (each a list); a field not given keeps the config's
    value (no values: the one point that is the config), except that a backtest spans every
    origin (`fold`) unless some are given. Each point is validated as a Config (ConfigError
    names a bad value)."""
    values = dict(values or {})
    fields = knobs(type(cfg))
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"not grid knobs of {type(cfg).__name__}: {', '.join(sorted(unknown))}")
    for f, v in values.items():
        if v is None:
            continue
        if isinstance(v, str | bytes) or not hasattr(v, "__iter__"):  # "0.1" swept "0", ".", "1"
            raise ConfigError(f"the grid's {f}={v!r} is not allowed: give a list of values, as {f}=[{v!r}]")
        v = list(v)
        if not v or len(set(map(repr, v))) < len(v):  # nothing swept, or the same point twice
            raise ConfigError(f"the grid's {f}={v!r} is not allowed: give distinct values, at least one")
        if len(v) == 1 and v[0] != getattr(cfg, f):  # one value is no axis: the models' own would be trained
            raise ConfigError(
                f"the grid's {f}={v!r} is one value, not the config's {getattr(cfg, f)!r}: set it on the config "
                f"(cfg.replace({f}={v[0]!r})), or give several values to sweep"
            )
    if getattr(cfg, "forecast_protocol", None) == "backtest" and not values.get("fold"):
        values["fold"] = list(range(cfg.origins))  # one origin was scored, though the record said every one
    axes = {f: list(values.get(f) or [getattr(cfg, f)]) for f in fields}
    points = [dict(zip(fields, combo, strict=True)) for combo in itertools.product(*axes.values())]
    for point in points:
        cfg.replace(**point)
    return Grid(points, tuple(f for f in fields if len(axes[f]) > 1), type(cfg))


def at_point(grid: Grid, cfg: Config, point: dict) -> Config:
    """A model's config at a grid point: the swept knobs' values, the model's own elsewhere."""
    return cfg.replace(**{f: point[f] for f in grid.swept})


def grid_runs(grid: Grid, seeds: int, cfg: Config | None = None):
    """Point-major runs (core.train.Runs): run g * seeds + s is seed s at grid point g; a
    knob not swept has `cfg`'s value (a model's), or the points' where no cfg is given."""
    from rnnjax.core.train import Runs  # JAX: not needed to read a grid

    seed = np.tile(np.arange(seeds), len(grid.points))
    values = {f: np.repeat(v, seeds) for f, v in point_values(grid, cfg).items()}
    return Runs(seed, values)


def point_values(grid: Grid, cfg: Config | None = None, points: slice = slice(None)) -> dict[str, np.ndarray]:
    """Each vmapped knob's value at each grid point (of `points`), [P] float64: the point's
    where the grid sweeps the knob (or no cfg is given), else `cfg`'s (a model's)."""

    def value(f, point):
        return point[f] if cfg is None or f in grid.swept else getattr(cfg, f)

    return {f: np.array([value(f, p) for p in grid.points[points]], dtype=np.float64) for f in grid.vmapped}


def shape_of(grid: Grid, point: dict) -> dict:
    """The swept PROGRAM knobs' values at a point: what a model's program changes in there."""
    return {f: point[f] for f in grid.separate if f in grid.swept}


class ShapeGroup(NamedTuple):
    """Grid points that share a shape, and their runs [start, stop): one program's worth."""

    shape: dict  # the swept PROGRAM knobs' values: cfg.replace(**shape) is a model's program
    start: int
    stop: int


def shape_groups(grid: Grid, seeds: int) -> list[ShapeGroup]:
    groups: list[ShapeGroup] = []
    for g, point in enumerate(grid.points):
        shape = shape_of(grid, point)
        if groups and groups[-1].shape == shape:
            groups[-1] = groups[-1]._replace(stop=(g + 1) * seeds)
        else:
            groups.append(ShapeGroup(shape, g * seeds, (g + 1) * seeds))
    return groups


class Study(NamedTuple):
    """Models x grid points x seeds. Each model's config differs from the others' only in
    its cell and hidden size (`model_name`); `cfg.seeds` seeds run at every grid point."""

    configs: dict[str, Config]
    grid: Grid

    @property
    def seeds(self) -> int:
        return next(iter(self.configs.values())).seeds


def check_study(study: Study) -> None:
    """A ConfigError (one line) unless `study` has at least one model, each a Config of the
    grid's kind, all with the same seeds (a run folder holds seeds x points per model):
    before anything is written or trained."""
    if not study.configs:
        raise ConfigError("a Study needs at least one model: Study({name: Config(...)}, grid)")
    for name, cfg in study.configs.items():
        if not isinstance(cfg, study.grid.kind):
            raise ConfigError(f"model {name!r} is a {type(cfg).__name__}, not a {study.grid.kind.__name__}")
    seeds = {name: cfg.seeds for name, cfg in study.configs.items()}
    if len(set(seeds.values())) > 1:
        raise ConfigError(f"the models of a Study must have the same seeds (they are paired by seed): {seeds}")


def single(cfg: Config, name: str | None = None) -> Study:
    """One model at one point: the study `rnnjax.run(cfg)` runs."""
    return Study({name or cfg.cell: cfg}, make_grid(cfg))


def model_name(cell: str, hidden: int, sized: bool) -> str:
    """A model's name in a study and its run folder's paths: its cell, or `cell-hidden`
    (gru-20, gru-40) when the study holds the cell at several sizes (`sized`)."""
    return f"{cell}-{hidden}" if sized else cell


def is_model_name(name: str, cell: str, hidden: int) -> bool:
    """Whether `model_name` gives a model of this cell and size this name (a run folder's check)."""
    return name in (cell, model_name(cell, hidden, sized=True))
