"""A study's grid: the product of the values given, its runs, and its shape groups."""

import numpy as np
import pytest

from rnnjax.core.config import Config, ConfigError
from rnnjax.study import grid as grid_lib

TINY = Config(hidden=6, epochs=4, seeds=3)


def test_grid_is_the_product_of_the_values_given():
    grid = grid_lib.make_grid(TINY, {"lr": [0.01, 0.1], "momentum": [0.0, 0.9]})
    assert grid.swept == ("lr", "momentum") and len(grid.points) == 4
    assert grid.points[1] == {"hidden": 6, "window": 20, "lr": 0.01, "momentum": 0.9, "tau": TINY.tau, "noise": 0.0}
    runs = grid_lib.grid_runs(grid, seeds=3)
    assert runs.count == 12
    np.testing.assert_array_equal(runs.seed, [0, 1, 2] * 4)
    np.testing.assert_array_equal(runs.momentum, [0, 0, 0, 0.9, 0.9, 0.9] * 2)
    assert grid_lib.make_grid(TINY).swept == () and len(grid_lib.make_grid(TINY).points) == 1
    with pytest.raises(ConfigError, match="lr=-0.1"):
        grid_lib.make_grid(TINY, {"lr": [0.01, -0.1]})


def test_shape_groups_are_contiguous_runs_of_one_shape():
    grid = grid_lib.make_grid(TINY, {"hidden": [4, 6], "window": [10, 20], "lr": [0.01, 0.1]})
    groups = grid_lib.shape_groups(grid, seeds=2)
    assert [g.shape for g in groups] == [
        {"hidden": 4, "window": 10},
        {"hidden": 4, "window": 20},
        {"hidden": 6, "window": 10},
        {"hidden": 6, "window": 20},
    ]
    assert [(g.start, g.stop) for g in groups] == [(0, 4), (4, 8), (8, 12), (12, 16)]
    assert grid_lib.shape_groups(grid_lib.make_grid(TINY), 5) == [
        grid_lib.ShapeGroup({"hidden": 6, "window": 20}, 0, 5)
    ]


def test_a_single_study_is_one_model_at_its_config():
    study = grid_lib.single(TINY.replace(cell="lstm"))
    assert list(study.configs) == ["lstm"] and study.seeds == 3 and len(study.grid.points) == 1
