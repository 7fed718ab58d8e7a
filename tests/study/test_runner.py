"""The one runner: units of runs, chunks of runs, shapes, checkpoints and resume."""

import jax
import numpy as np
import pytest

from rnnjax.core.config import Config
from rnnjax.study import checkpoint, runner
from rnnjax.study import train as driver
from rnnjax.study.grid import Study, make_grid

TINY = Config(hidden=6, epochs=4, seeds=3)


def test_units_cut_by_process_shape_and_chunk():
    study = Study(
        {"gru": TINY, "lstm": TINY.replace(cell="lstm")}, make_grid(TINY, {"hidden": [4, 6], "lr": [0.01, 0.1]})
    )
    units = runner.plan(study, seed_chunk=4, epochs_per_chunk=2, devices=None, index=0, count=1)
    gru = [u[1:] for u in units if u.model == "gru"]
    assert gru == [(0, 4, 4), (4, 6, 4), (6, 10, 4), (10, 12, 4)]  # 2 shapes x 6 runs, chunks of 4
    second = runner.plan(study, seed_chunk=4, epochs_per_chunk=2, devices=None, index=1, count=2)
    assert [u[1:] for u in second if u.model == "gru"] == [(6, 10, 4), (10, 12, 4)]
    assert runner.plan(study, None, 2, [object()], 0, 1)[0] == runner.Unit("gru", 0, 6, 6)  # no memory report: all


def test_chunks_of_runs_give_the_numbers_of_one_program():
    study = Study({"gru": TINY}, make_grid(TINY, {"lr": [0.01, 0.05], "tau": [5.0, 3.0]}))
    whole = runner.run_study(study)["gru"]
    chunked = runner.run_study(study, seed_chunk=5)["gru"]  # 12 runs: 5 + 5 + 2 (padded to 5)
    assert len(whole) == 4 and whole[0].loss.shape == (3, 4) and whole[0].forecast.shape == (3, TINY.steps)
    for a, b in zip(whole, chunked, strict=True):
        assert a.cfg == b.cfg
        for x, y in zip(
            jax.tree.leaves((a.history, a.forecast, a.params)),
            jax.tree.leaves((b.history, b.forecast, b.params)),
            strict=True,
        ):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)  # forecasts near 0: float rounding
    # the rollouts start from each tau's own series
    assert whole[1].cfg.tau == 3.0 and not np.allclose(whole[0].forecast, whole[1].forecast)
    assert not np.allclose(whole[0].context, whole[1].context)


def test_each_point_equals_its_config_run_alone():
    study = Study({"gru": TINY}, make_grid(TINY, {"hidden": [4, 6], "lr": [0.01, 0.05]}))
    points = runner.run_study(study)["gru"]
    assert [r.cfg.hidden for r in points] == [4, 4, 6, 6] and points[0].n_params < points[2].n_params
    alone = runner.run(TINY.replace(hidden=6, lr=0.05))
    np.testing.assert_allclose(points[3].loss, alone.loss, rtol=1e-6)
    assert jax.tree.map(np.shape, points[3].params) == jax.tree.map(np.shape, alone.params)
    trained = driver.train(TINY.replace(hidden=6, lr=0.05))
    np.testing.assert_array_equal(alone.loss, trained.history.loss)


def test_models_of_their_own_size_train_as_alone():
    """A grid point overrides only what the grid sweeps: each model keeps its hidden size."""
    gru, lstm = TINY.replace(hidden=4), TINY.replace(cell="lstm", hidden=3)
    results = runner.run_study(Study({"gru": gru, "lstm": lstm}, make_grid(gru, {"lr": [0.01, 0.05]})))
    assert [r.cfg.hidden for r in results["lstm"]] == [3, 3] and results["gru"][1].cfg == gru.replace(lr=0.05)
    trained = driver.train(lstm.replace(lr=0.05))
    np.testing.assert_allclose(results["lstm"][1].loss, trained.history.loss, rtol=1e-6)
    assert results["lstm"][1].params["cell"]["recurrent_kernel"].shape == (3, 3, 12)  # [seeds, H, 4 H]


# plain SGD; and Adam with early stopping, dropout and two layers (their states and keys resume too)
TRAINED = [TINY, TINY.replace(optimizer="adam", patience=2, dropout=0.2, recurrent_dropout=0.2, layers=2)]


@pytest.mark.parametrize("cfg", TRAINED, ids=["sgd", "adam-stopping-dropout-layers"])
def test_a_killed_study_resumes_bit_identical(tmp_path, cfg):
    study = Study({"gru": cfg.replace(epochs=6)}, make_grid(cfg, {"lr": [0.01, 0.05]}))
    whole = runner.run_study(study, tmp_path / "whole", chunk=2, seed_chunk=4)["gru"]

    class Kill(runner.Quiet):  # stop after the first checkpoint of the second unit
        def chunk(self, unit, progress):
            if unit.start > 0:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run_study(study, tmp_path / "killed", chunk=2, seed_chunk=4, monitor=Kill())
    assert checkpoint.read_epoch(tmp_path / "killed/checkpoints/gru/runs-4-6.ckpt") == 2
    assert checkpoint.read_epoch(tmp_path / "killed/checkpoints/gru/runs-0-4.ckpt") == 6
    # resumed with another --seed-chunk: the saved plan wins
    resumed = runner.run_study(study, tmp_path / "killed", chunk=3, seed_chunk=6)["gru"]
    for a, b in zip(whole, resumed, strict=True):
        for x, y in zip(
            jax.tree.leaves((a.history, a.forecast, a.params, a.stopped_epoch, a.best_epoch)),
            jax.tree.leaves((b.history, b.forecast, b.params, b.stopped_epoch, b.best_epoch)),
            strict=True,
        ):
            np.testing.assert_array_equal(x, y)


def test_a_plan_saved_for_other_processes_is_refused(tmp_path):
    study = runner.single(TINY)
    runner.load_or_plan(study, tmp_path, 3, 2, None, 0, 2)
    with pytest.raises(checkpoint.CheckpointError, match="ran as 2 process"):
        runner.load_or_plan(study, tmp_path, 3, 2, None, 0, 1)


def test_a_plan_made_for_another_study_is_refused(tmp_path):
    two = Study({"gru": TINY}, make_grid(TINY, {"lr": [0.01, 0.1]}))
    three = Study({"gru": TINY}, make_grid(TINY, {"lr": [0.01, 0.1, 0.3]}))
    units = runner.load_or_plan(two, tmp_path, 4, 2, None, 0, 1)
    assert runner.load_or_plan(two, tmp_path, 6, 2, None, 0, 1) == units  # the saved cut wins
    with pytest.raises(checkpoint.CheckpointError, match="another study"):
        runner.load_or_plan(three, tmp_path, 4, 2, None, 0, 1)
    (tmp_path / "checkpoints" / "plan-0.json").write_text('{"units": []}')
    with pytest.raises(checkpoint.CheckpointError, match="damaged"):
        runner.load_or_plan(two, tmp_path, 4, 2, None, 0, 1)


_compiles: list[str] = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, _secs, **_kw: (
        _compiles.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


def _compiles_of(study: Study, seed_chunk: int) -> int:
    before = len(_compiles)
    runner.run_study(study, seed_chunk=seed_chunk)
    return len(_compiles) - before


def test_units_of_one_shape_compile_once():
    """Init, training and forecast programs are cached by shape: the same 6 runs as three
    units of 2 compile exactly the programs that one unit of 2 runs does (XLA's own count)."""
    tiny = TINY.replace(epochs=2)
    runner.run_study(Study({"gru": tiny}, make_grid(tiny)), seed_chunk=2)  # shape-free programs compiled
    three = _compiles_of(Study({"gru": tiny.replace(hidden=7, seeds=6)}, make_grid(tiny.replace(hidden=7))), 2)
    one = _compiles_of(Study({"gru": tiny.replace(hidden=9, seeds=2)}, make_grid(tiny.replace(hidden=9))), 2)
    assert one > 0 and three == one
    assert _compiles_of(Study({"gru": tiny.replace(hidden=7, seeds=6)}, make_grid(tiny.replace(hidden=7))), 2) == 0


def test_a_killed_backtest_resumes_bit_identical(tmp_path):
    """A backtest is a grid over its origins: origins x seeds of a model are one unit (one
    program), checkpointed and resumed like any study."""
    cfg = Config(series="lorenz", protocol="backtest", origins=3, horizon=10, hidden=4, epochs=6, seeds=2)
    study = Study({"gru": cfg}, make_grid(cfg, {"fold": [0, 1, 2]}))
    assert [u[1:] for u in runner.plan(study, None, 2, None, 0, 1)] == [(0, 6, 6)]
    whole = runner.run_study(study, tmp_path / "whole", chunk=2)["gru"]
    assert [r.cfg.origin for r in whole] == [170, 180, 190] and len({r.truth[0] for r in whole}) == 3

    class Kill(runner.Quiet):  # stop after the first checkpoint
        def chunk(self, unit, progress):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run_study(study, tmp_path / "killed", chunk=2, monitor=Kill())
    assert checkpoint.read_epoch(tmp_path / "killed/checkpoints/gru/runs-0-6.ckpt") == 2
    resumed = runner.run_study(study, tmp_path / "killed", chunk=2)["gru"]
    for a, b in zip(whole, resumed, strict=True):
        for x, y in zip(
            jax.tree.leaves((a.history, a.forecast)), jax.tree.leaves((b.history, b.forecast)), strict=True
        ):
            np.testing.assert_array_equal(x, y)


def test_a_process_without_runs_has_forecasts_of_the_forecasts_shape():
    """A process with no share of a shape's runs gathers empty arrays of the right shape."""
    from rnnjax.study.runner import _no_outputs

    one = _no_outputs(Config(hidden=4, epochs=3, horizon=7))
    several = _no_outputs(Config(series="lorenz", channels="x,y", targets="y", hidden=4, epochs=3, horizon=7))
    assert one.forecast.shape == (0, 7) and several.forecast.shape == (0, 7, 1)
