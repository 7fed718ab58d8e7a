"""What a study is: models x grid points x seeds. The grid is the product of the values
given for some Config fields; each model's runs are its points x seeds.

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
    """The product of the given values; a field not given keeps the config's value (no
    values: the one point that is the config). Each point is validated as a Config
    (ConfigError names a bad value)."""
    values = values or {}
    fields = knobs(type(cfg))
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"not grid knobs of {type(cfg).__name__}: {', '.join(sorted(unknown))}")
    axes = {f: list(values.get(f) or [getattr(cfg, f)]) for f in fields}
    points = [dict(zip(fields, combo, strict=True)) for combo in itertools.product(*axes.values())]
    for point in points:
        cfg.replace(**point)
    return Grid(points, tuple(f for f in fields if len(axes[f]) > 1), type(cfg))


def grid_runs(grid: Grid, seeds: int):
    """Point-major runs (core.train.Runs): run g * seeds + s is seed s at grid point g."""
    from rnnjax.core.train import Runs  # JAX: not needed to read a grid

    point = np.repeat(np.arange(len(grid.points)), seeds)
    seed = np.tile(np.arange(seeds), len(grid.points))
    values = {f: np.array([grid.points[g][f] for g in point], dtype=np.float64) for f in grid.vmapped}
    return Runs(seed, values)


def shape_of(grid: Grid, point: dict) -> dict:
    return {f: point[f] for f in grid.separate}


class ShapeGroup(NamedTuple):
    """Grid points that share a shape, and their runs [start, stop): one program's worth."""

    shape: dict
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
    its cell; `cfg.seeds` seeds run at every grid point."""

    configs: dict[str, Config]
    grid: Grid

    @property
    def seeds(self) -> int:
        return next(iter(self.configs.values())).seeds


def single(cfg: Config, name: str | None = None) -> Study:
    """One model at one point: the study `rnnjax.run(cfg)` runs."""
    return Study({name or cfg.cell: cfg}, make_grid(cfg))
