"""The main experiment end to end on a tiny run: files, their agreement, figures."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import scripts

from rnnjax.study import stats
from rnnjax.study.outputs import load_metrics

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "gru_vs_lstm.py"
SEEDS, EPOCHS = 2, 60  # conftest.FINISHED_ARGS


@pytest.fixture
def run_dir(finished_run):
    return finished_run


def test_every_output_file_exists_and_parses(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert set(config["models"]) == {"gru", "lstm"} and config["models"]["gru"]["hidden"] == 8
    env = config["environment"]
    assert (
        env["versions"]["jax"]
        and env["versions"]["flax"]
        and env["backend"] == jax.default_backend()
        and env["prng_impl"]
    )
    assert config["wall_s"]["total"] > 0 and config["wall_s"]["gru"]["compile_s"] > 0

    history = np.load(run_dir / "history.npz")
    for key in ("gru_loss", "gru_val_loss", "lstm_loss", "lstm_val_loss"):
        assert history[key].shape == (SEEDS, EPOCHS)
    forecasts = np.load(run_dir / "forecasts.npz")
    assert forecasts["gru"].shape == (SEEDS, 180) and forecasts["truth"].shape == (180,)

    summary = json.loads((run_dir / "summary.json").read_text())
    gru = summary["models"]["gru"]
    assert gru["params"] == 8 * 3 + 8 * 24 + 48 + 9 and gru["seeds"] == SEEDS and gru["diverged"] == 0
    for key in ("median", "iqm", "mean", "mean_ci95", "q25", "q75"):
        assert key in gru["final_val_loss"] and key in gru["forecast_rmse"]
    for key in ("compile_s", "train_s", "seed_epochs_per_s", "s_per_epoch"):
        assert gru["timing"][key] > 0
    cmp = summary["comparison"]
    assert (cmp["metric"], cmp["a"], cmp["b"]) == ("forecast_rmse", "gru", "lstm")
    for key in ("median_diff", "diff_ci95", "prob_a_better", "p_value", "test"):
        assert key in cmp
    assert len(summary["claims"]) == 3

    report = (run_dir / "report.md").read_text()
    assert "## The seed notebook's claims" in report and "![loss.png](loss.png)" in report


def test_summary_agrees_with_metrics_csv(run_dir):
    metrics = load_metrics(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    history = np.load(run_dir / "history.npz")
    forecasts = np.load(run_dir / "forecasts.npz")
    for model in ("gru", "lstm"):
        rows = metrics[model]
        np.testing.assert_array_equal(rows["seed"], np.arange(SEEDS))
        np.testing.assert_allclose(rows["final_loss"], history[f"{model}_loss"][:, -1], rtol=1e-6)
        np.testing.assert_allclose(rows["best_val_loss"], history[f"{model}_val_loss"].min(axis=1), rtol=1e-6)
        rmse = np.sqrt(((forecasts[model] - forecasts["truth"]) ** 2).mean(axis=1))
        np.testing.assert_allclose(rows["forecast_rmse"], rmse, rtol=1e-5)
        for metric in ("final_val_loss", "forecast_rmse"):
            got = summary["models"][model][metric]
            assert got["median"] == pytest.approx(np.median(rows[metric]))
            assert got["mean"] == pytest.approx(np.mean(rows[metric]))
    diff = metrics["gru"]["forecast_rmse"] - metrics["lstm"]["forecast_rmse"]
    assert summary["comparison"]["median_diff"] == pytest.approx(np.median(diff))
    direct = stats.paired(metrics["gru"]["forecast_rmse"], metrics["lstm"]["forecast_rmse"])
    assert summary["comparison"]["p_value"] == pytest.approx(direct["p_value"])


def test_figures_are_written_and_not_empty(run_dir):
    for name in ("series", "loss", "forecast", "horizon_error", "forecast_rmse", "seed0"):
        png = (run_dir / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        svg = (run_dir / f"{name}.svg").read_text()
        assert "<svg" in svg and "legend" in svg
    assert [p.name for p in run_dir.glob(".*")] == [".lock"]  # no temporary files left behind


def test_a_non_empty_out_is_refused(run_dir):
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "2", "--out", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and "not empty" in proc.stderr and str(run_dir) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before


def test_more_than_two_cells_compared_every_way(tmp_path):
    """Every pair, Holm-adjusted, the ranking and the small multiples: three cells show it."""
    out = tmp_path / "three"
    models = "gru,lstm,mingru"
    args = ["--models", models, "--seeds", "4", "--epochs", "10", "--hidden", "8", "--horizon", "40", "--out", str(out)]
    scripts.load("gru_vs_lstm").main([*args, "--no-compile-cache"])  # in this process: its programs are shared
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["models"]) == models.split(",")
    assert len(summary["comparisons"]) == 3 and all("p_holm" in c for c in summary["comparisons"])
    assert sorted(r["model"] for r in summary["ranking"]["models"]) == sorted(models.split(","))
    assert len(summary["claims"]) == 3  # gru and lstm are among them
    forecasts = np.load(out / "forecasts.npz")
    rows = load_metrics(out)
    for name in models.split(","):
        kept = forecasts[name][~rows[name]["diverged"]]
        assert np.all(np.isfinite(kept))
    assert "## Every pair on forecast_rmse" in (out / "report.md").read_text()


def test_models_of_their_own_size_stacked_two_deep(tmp_path):
    """--models gru:8,lstm:6 --layers 2: each model its hidden size, named by its cell, and
    its parameter count (Keras's, layer by layer) in summary.json and report.md."""
    out = tmp_path / "sized"
    args = ["--models", "gru:8,lstm:6", "--layers", "2", "--seeds", "2", "--epochs", "3", "--horizon", "10"]
    scripts.load("gru_vs_lstm").main([*args, "--out", str(out), "--no-compile-cache"])
    gru = 3 * (1 * 8 + 8 * 8 + 2 * 8) + 3 * (8 * 8 + 8 * 8 + 2 * 8) + 8 + 1  # GRU(8) on 1, then on 8 inputs; Dense
    lstm = 4 * 6 * (1 + 6 + 1) + 4 * 6 * (6 + 6 + 1) + 6 + 1
    summary = json.loads((out / "summary.json").read_text())
    got = {name: (m["hidden"], m["layers"], m["params"]) for name, m in summary["models"].items()}
    assert got == {"gru": (8, 2, gru), "lstm": (6, 2, lstm)}
    config = json.loads((out / "config.json").read_text())
    assert {name: m["hidden"] for name, m in config["models"].items()} == {"gru": 8, "lstm": 6}
    report = (out / "report.md").read_text()
    assert f"| gru | 8 x 2 | {gru:,} |" in report and f"| lstm | 6 x 2 | {lstm:,} |" in report
    assert "gru_1 (KerasGRUCell)         (None, 20, 8)             432" in report
    assert np.load(out / "params.npz")["lstm/0/cell_1/recurrent_kernel"].shape == (2, 6, 24)


def test_a_held_out_forecast_against_baselines(tmp_path):
    """The issue's command: sunspots, the last 48 years held out, against the baselines."""
    pytest.importorskip("statsmodels")
    out = tmp_path / "held"
    args = ["--series", "sunspots", "--protocol", "holdout", "--test", "48", "--season", "11"]
    script = scripts.load("gru_vs_lstm")
    script.main([*args, "--seeds", "2", "--epochs", "20", "--out", str(out), "--no-compile-cache"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"] == "holdout" and summary["spans"]["test"] == [261, 309]
    assert summary["primary"] == "mase" and summary["ranking"]["metric"] == "mase"
    for model in ("gru", "lstm"):
        assert summary["models"][model]["mase"]["median"] > 0
    assert set(summary["baselines"]) == {"naive", "seasonal", "drift", "mean", "ar", "arima", "ets"}
    assert summary["baselines"]["seasonal"]["mase"] > 0
    # the same run, re-reported with chosen baselines and another primary metric
    chosen = tmp_path / "chosen"
    extra = ["--baselines", "naive,seasonal,ar", "--primary", "forecast_smape", "--epochs", "20"]
    script.main([*args, "--seeds", "2", *extra, "--out", str(chosen), "--no-compile-cache"])
    again = json.loads((chosen / "summary.json").read_text())
    assert list(again["baselines"]) == ["naive", "seasonal", "ar"] and again["ranking"]["metric"] == "forecast_smape"
    assert again["against_baselines"][0]["metric"] == "forecast_smape"
    assert again["baselines"]["ar"]["mase"] == summary["baselines"]["ar"]["mase"]
    assert summary["claims"] == []  # the notebook's claims are about its in-sample protocol
    forecasts = np.load(out / "forecasts.npz")
    truth = forecasts["truth"]
    from statsmodels.datasets import sunspots

    np.testing.assert_allclose(truth, sunspots.load().data["SUNACTIVITY"].to_numpy()[261:])
    seasonal = summary["baselines"]["seasonal"]["forecast"]
    history = sunspots.load().data["SUNACTIVITY"].to_numpy()[:261]
    np.testing.assert_allclose(seasonal, history[-11:][np.arange(48) % 11])
    report = (out / "report.md").read_text()
    assert "**Protocol: holdout.** The forecast is held out" in report and "## Against baselines" in report


def test_a_backtest_scores_every_origin_and_pools_seeds(tmp_path):
    """--protocol backtest --origins 3 --horizon 24: origins x seeds in one program per model,
    each origin scored, a seed's score its mean over origins, baselines per origin."""
    pytest.importorskip("statsmodels")
    from statsmodels.datasets import sunspots

    out = tmp_path / "backtest"
    args = ["--series", "sunspots", "--protocol", "backtest", "--origins", "3", "--horizon", "24"]
    extra = ["--seeds", "2", "--epochs", "10", "--hidden", "8", "--baselines", "naive,ar", "--no-compile-cache"]
    scripts.load("gru_vs_lstm").main([*args, *extra, "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"] == "backtest" and [o["origin"] for o in summary["origins"]] == [237, 261, 285]
    config = json.loads((out / "config.json").read_text())
    assert [p["fold"] for p in config["grid"]] == [0, 1, 2]
    assert [p.name for p in (out / "checkpoints" / "gru").iterdir()] == ["runs-0-6.ckpt"]  # one program: 3 x 2 runs
    rows = load_metrics(out)["gru"]
    np.testing.assert_array_equal(rows["fold"], [0, 0, 1, 1, 2, 2])
    per_seed = rows["mase"].reshape(3, 2).mean(axis=0)
    assert summary["models"]["gru"]["mase"]["median"] == pytest.approx(np.median(per_seed))
    y = sunspots.load().data["SUNACTIVITY"].to_numpy()
    naive = [np.mean(np.abs(y[o : o + 24] - y[o - 1])) / np.mean(np.abs(np.diff(y[:o]))) for o in (237, 261, 285)]
    np.testing.assert_allclose(summary["baselines"]["naive"]["per_origin"]["mase"], naive, rtol=1e-10)
    assert summary["baselines"]["naive"]["mase"] == pytest.approx(np.mean(naive))
    assert np.load(out / "forecasts.npz")["gru"].shape == (3, 2, 24)
    assert "**Protocol: backtest.** 3 rolling forecast origins" in (out / "report.md").read_text()


def test_report_py_redraws_a_finished_folder_and_refuses_a_bad_one(run_dir, tmp_path, capsys):
    """experiments/report.py FOLDER: report.md, summary.json and figures again, byte for byte,
    from config.json, metrics.csv and the arrays alone."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(run_dir, out, ignore=shutil.ignore_patterns("checkpoints", ".lock"))
    written = {
        p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".md", ".png", ".svg") or p.name == "summary.json"
    }
    for name in written:
        (out / name).unlink()
    report = scripts.load("report")
    report.main([str(out)])
    assert {name: (out / name).read_bytes() for name in written} == written
    assert len(written) == 2 + 2 * 6  # report.md, summary.json, six figures as PNG and SVG
    (out / "params.npz").unlink()
    capsys.readouterr()
    for folder, named in ((out, "has no params.npz"), (tmp_path, "is not a run folder")):
        with pytest.raises(SystemExit) as stop:
            report.main([str(folder)])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and named in err and len(err.strip().splitlines()) == 1


COMMITTED = Path(__file__).resolve().parents[2] / "experiments" / "results" / "five_cells"


def test_a_committed_result_folder_redraws_its_readme_figures(tmp_path):
    """The README's figures redrawn from what the repository holds, with one command: the
    report byte for byte, the summary's numbers to 1e-9 (a later scipy may move a p-value's
    last digits), the figures drawn (their PNG bytes depend on matplotlib's version)."""
    import shutil

    out = tmp_path / "five_cells"
    shutil.copytree(COMMITTED, out)
    written = {name: (out / name).read_bytes() for name in ("report.md", "summary.json")}
    for name in (*written, "forecast.png", "loss.png"):
        (out / name).unlink()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT.parent / "report.py"), str(out)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "report.md").read_bytes() == written["report.md"]
    _same_numbers(json.loads((out / "summary.json").read_bytes()), json.loads(written["summary.json"]))
    assert (out / "forecast.png").stat().st_size > 10_000 and (out / "loss.png").exists()


def _same_numbers(got, want):
    """JSON trees equal, their floats to 1e-9 relative."""
    assert type(got) is type(want)
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for k in want:
            _same_numbers(got[k], want[k])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            _same_numbers(a, b)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, nan_ok=True)
    else:
        assert got == want
