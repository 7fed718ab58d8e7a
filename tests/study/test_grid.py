"""A study's grid: the product of the values given, its runs, and its shape groups."""

import dataclasses

import numpy as np
import pytest

from rnnjax.core.config import RUN, Config, ConfigError, knob
from rnnjax.study import grid as grid_lib

TINY = Config(hidden=6, epochs=4, seeds=3)


def test_grid_is_the_product_of_the_values_given():
    grid = grid_lib.make_grid(TINY, {"lr": [0.01, 0.1], "momentum": [0.0, 0.9]})
    assert grid.swept == ("lr", "momentum") and len(grid.points) == 4
    assert grid.points[1] == {f: getattr(TINY, f) for f in grid_lib.GRID_FIELDS} | {"lr": 0.01, "momentum": 0.9}
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
    # a shape is what the grid sweeps: every other field is each model's own
    assert grid_lib.shape_groups(grid_lib.make_grid(TINY), 5) == [grid_lib.ShapeGroup({}, 0, 5)]


def test_a_model_keeps_what_the_grid_does_not_sweep():
    grid = grid_lib.make_grid(TINY, {"lr": [0.01, 0.1]})
    lstm = TINY.replace(cell="lstm", hidden=3, momentum=0.5)
    assert grid_lib.at_point(grid, lstm, grid.points[1]) == lstm.replace(lr=0.1)
    runs = grid_lib.grid_runs(grid, 2, lstm)
    np.testing.assert_array_equal(runs.lr, [0.01, 0.01, 0.1, 0.1])
    np.testing.assert_array_equal(runs.momentum, [0.5] * 4)  # the model's, not the grid's 0


def test_a_single_study_is_one_model_at_its_config():
    study = grid_lib.single(TINY.replace(cell="lstm"))
    assert list(study.configs) == ["lstm"] and study.seeds == 3 and len(study.grid.points) == 1


@dataclasses.dataclass(frozen=True)
class ScaledConfig(Config):
    """A new grid knob is one declared field (and the line that uses it: the series below)."""

    amplitude: float = knob(1.0, RUN, "amplitudes of the series", series=True)


def test_a_knob_declared_once_is_a_grid_axis(monkeypatch):
    from rnnjax.core.series import SERIES, Series
    from rnnjax.core.series.closed_form import damped_cos
    from rnnjax.study import runner

    monkeypatch.setitem(SERIES, "scaled", Series(lambda x, tau, a: a * damped_cos(x, tau), reads=("tau", "amplitude")))
    cfg = ScaledConfig(series="scaled", hidden=4, epochs=3, seeds=2, horizon=30)
    grid = grid_lib.make_grid(cfg, {"amplitude": [1.0, 2.0], "lr": [0.01, 0.05]})
    assert grid.swept == ("lr", "amplitude") and "amplitude" in grid.vmapped
    np.testing.assert_array_equal(grid_lib.grid_runs(grid, 2).amplitude, [1, 1, 2, 2] * 2)
    points = runner.run_study(grid_lib.Study({"gru": cfg}, grid))["gru"]  # one program: 8 runs
    assert [(p.cfg.lr, p.cfg.amplitude) for p in points] == [(0.01, 1.0), (0.01, 2.0), (0.05, 1.0), (0.05, 2.0)]
    np.testing.assert_allclose(points[1].truth, 2 * points[0].truth)  # each run saw its own series
    np.testing.assert_allclose(points[1].context, 2 * points[0].context)
    alone = runner.run(cfg.replace(amplitude=2.0, lr=0.05))
    np.testing.assert_allclose(points[3].loss, alone.loss, rtol=1e-5)
    np.testing.assert_allclose(points[3].forecast, alone.forecast, rtol=1e-4, atol=1e-6)


def test_a_backtest_spans_every_origin_unless_some_are_given():
    """From Python, make_grid(cfg) scored the first origin only, while config.json said every one."""
    cfg = Config(protocol="backtest", origins=3, horizon=10, n_points=150)
    assert [p["fold"] for p in grid_lib.make_grid(cfg).points] == [0, 1, 2]
    assert [p["fold"] for p in grid_lib.make_grid(cfg, {"fold": [1, 2]}).points] == [1, 2]
    one = cfg.replace(fold=2)  # one origin: the config's own
    assert [p["fold"] for p in grid_lib.make_grid(one, {"fold": [2]}).points] == [2]
    assert [p["fold"] for p in grid_lib.make_grid(Config()).points] == [0]  # no backtest: the config's point
    import rnnjax as rj

    with pytest.raises(ConfigError, match="origins=3 has one per origin: use rj.run_study"):
        rj.run(cfg)  # refused before anything runs


def test_grid_values_are_lists():
    with pytest.raises(ConfigError, match=r"lr='0.1' is not allowed: give a list of values, as lr=\['0.1'\]"):
        grid_lib.make_grid(Config(), {"lr": "0.1"})  # it swept lr over "0", ".", "1"
    with pytest.raises(ConfigError, match="lr=0.1 is not allowed"):
        grid_lib.make_grid(Config(), {"lr": 0.1})


def test_a_grid_value_the_models_would_not_train_is_refused():
    """make_grid(cfg, {"lr": [0.1]}) recorded lr 0.1 in metrics.csv and config.json while
    every run trained at the config's 0.01 (one value is no axis: at_point keeps the model's)."""
    cfg = Config()
    for values, named in [
        ({"lr": [0.1]}, r"lr=\[0.1\] is one value, not the config's 0.01: set it on the config"),
        ({"lr": []}, r"lr=\[\] is not allowed: give distinct values, at least one"),
        ({"lr": [0.1, 0.1]}, "give distinct values"),
    ]:
        with pytest.raises(ConfigError, match=named):
            grid_lib.make_grid(cfg, values)
    assert grid_lib.make_grid(cfg, {"lr": [0.01]}).points[0]["lr"] == 0.01  # the config's own: fine


def test_a_study_is_checked_before_anything_runs():
    cfg = Config(seeds=2)
    grid = grid_lib.make_grid(cfg)
    for configs, named in [
        ({}, "a Study needs at least one model"),  # a bare StopIteration, after a config.json was written
        ({"gru": {"seeds": 2}}, "model 'gru' is a dict, not a Config"),
        ({"gru": cfg, "lstm": cfg.replace(cell="lstm", seeds=3)}, "must have the same seeds"),  # failed after training
    ]:
        with pytest.raises(ConfigError, match=named):
            grid_lib.check_study(grid_lib.Study(configs, grid))
