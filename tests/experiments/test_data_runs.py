"""The scripts on the user's own data and on noisy series: a CSV trained end to end, a
noise sweep, and a resume refused when the file changed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CPU = {**os.environ, "JAX_PLATFORMS": "cpu"}


def _script(name: str, *args):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=CPU,
        check=False,
    )
    return proc


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("data")
    y = 50 + 40 * np.sin(np.arange(300) / 7.0)  # in its own units: far from the unit scale
    (tmp / "series.csv").write_text("t,y\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(y)))
    out = tmp / "run"
    args = ["--data", tmp / "series.csv", "--column", "y", "--seeds", 2, "--epochs", 10, "--horizon", 100]
    proc = _script("gru_vs_lstm.py", *args, "--hidden", 8, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, out, y


def test_a_csv_trains_into_a_complete_run_folder(csv_run):
    tmp, out, y = csv_run
    rec = json.loads((out / "config.json").read_text())
    gru = rec["models"]["gru"]
    assert gru["data"] == str(tmp / "series.csv") and gru["n_points"] is None and rec["finished"]  # the file's own
    assert json.loads((out / "summary.json").read_text())["series"]["points"] == 300
    import hashlib

    assert gru["data_sha256"] == hashlib.sha256((tmp / "series.csv").read_bytes()).hexdigest()
    assert {"report.md", "summary.json", "metrics.csv", "params.npz", "forecast.png", "series.png"} <= {
        p.name for p in out.iterdir()
    }
    forecasts = np.load(out / "forecasts.npz")["gru"]
    assert forecasts.shape == (2, 100)
    assert 10 < np.median(forecasts) < 90  # in the data's units, not the standardized ones
    import rnnjax

    run = rnnjax.load_run(out)["gru"][0]
    # recorded data is held out by default: the last 100 values, forecast from the 200 before
    assert run.cfg.forecast_protocol == "holdout" and run.cfg.protocol == "auto"
    np.testing.assert_array_equal(run.truth, y[200:300])
    np.testing.assert_array_equal(run.context, y[180:200])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"] == "holdout" and "ar" in summary["baselines"]


def test_a_resume_on_a_changed_file_is_refused(csv_run):
    tmp, out, _ = csv_run
    rec = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps(rec | {"finished": False}))
    with open(tmp / "series.csv", "a") as f:
        f.write("300,1.0\n")
    proc = _script("gru_vs_lstm.py", "--resume", out)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "has changed" in proc.stderr and "Traceback" not in proc.stderr


def test_noise_is_a_sweep_axis(tmp_path):
    out = tmp_path / "noise"
    args = ["--noise", "0,0.2", "--models", "gru", "--seeds", 2, "--epochs", 3, "--hidden", 4, "--horizon", 20]
    proc = _script("sweep.py", *args, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["swept"] == ["noise"]
    quiet, noisy = summary["models"]["gru"]["points"]
    assert quiet["noise"] == 0.0 and noisy["noise"] == 0.2
    loss = np.load(out / "history.npz")["gru_loss"]
    assert loss.shape == (2, 2, 3) and not np.allclose(loss[0], loss[1])


def test_lorenz_with_three_channels_in_and_out(tmp_path):
    out = tmp_path / "lorenz"
    args = ["--series", "lorenz", "--channels", "x,y,z", "--seeds", 2, "--epochs", 20, "--hidden", 8]
    proc = _script("gru_vs_lstm.py", *args, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    forecasts = np.load(out / "forecasts.npz")
    steps = forecasts["truth"].shape[0]
    assert forecasts["gru"].shape == (2, steps, 3) and forecasts["context"].shape == (20, 3)
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"forecast_rmse", "mase", "mase[x]", "mase[y]", "mase[z]", "forecast_rmse[z]"} <= set(header)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["series"]["channels"] == ["x", "y", "z"] and summary["series"]["targets"] == ["x", "y", "z"]
    gru = summary["models"]["gru"]
    assert set(gru["channels"]) == {"x", "y", "z"}
    each = [gru["channels"][c]["mase"]["mean"] for c in "xyz"]
    assert gru["mase"]["mean"] == pytest.approx(np.mean(each))  # the mean of the per-channel MASEs
    assert "## Metrics per channel" in (out / "report.md").read_text()
    import rnnjax

    run = rnnjax.load_run(out)["lstm"][0]
    assert run.forecast.shape == (2, steps, 3) and run.channels == ("x", "y", "z")


def test_csv_columns_train_with_a_known_covariate(tmp_path):
    t = np.arange(240)
    a, b = np.sin(t / 5.0), np.sin(t / 5.0 - 0.5) + 0.1 * np.cos(t / 3.0)
    (tmp_path / "ab.csv").write_text("a,b\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in zip(a, b)))
    out = tmp_path / "run"
    args = ["--data", tmp_path / "ab.csv", "--columns", "a,b", "--targets", "b", "--models", "gru", "--seeds", 2]
    proc = _script("gru_vs_lstm.py", *args, "--epochs", 3, "--hidden", 4, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    forecasts = np.load(out / "forecasts.npz")
    assert forecasts["gru"].shape == (2, 24, 1)
    np.testing.assert_allclose(forecasts["truth"][:, 0], b[216:])
    report = (out / "report.md").read_text()
    assert "predict b. a is a known covariate" in report


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory):
    """A finished run on a CSV file of its own (csv_run's folder is reopened by a test above)."""
    tmp = tmp_path_factory.mktemp("kept")
    y = 50 + 40 * np.sin(np.arange(200) / 7.0)
    (tmp / "series.csv").write_text("day,y\n" + "".join(f"d{i},{float(v)!r}\n" for i, v in enumerate(y)))
    out = tmp / "run"
    args = ["--data", tmp / "series.csv", "--models", "gru", "--seeds", 2, "--epochs", 3, "--hidden", 4]
    proc = _script("gru_vs_lstm.py", *args, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, out, y


def test_a_finished_folder_reads_back_after_its_data_file_moved(kept_run, tmp_path):
    """Every result is inside a finished folder: its data's values too (data.npz), read by
    their checksum wherever the file has gone, as on another machine; the column chosen for
    the user is recorded."""
    import shutil

    tmp, out, y = kept_run
    assert json.loads((out / "config.json").read_text())["models"]["gru"]["column"] == "y"
    copy = tmp_path / "copied"
    shutil.copytree(out, copy)
    moved = tmp / "series.csv"
    moved.rename(tmp / "gone.csv")
    try:
        code = f"import rnnjax as rj; r = rj.load_run({str(copy)!r})['gru'][0]; print(r.truth[:3].tolist())"
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=CPU, check=False
        )
        redraw = _script("report.py", copy)
    finally:
        (tmp / "gone.csv").rename(moved)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == y[180:183].tolist()
    assert redraw.returncode == 0, redraw.stderr[-2000:]
    assert (copy / "report.md").read_bytes() == (out / "report.md").read_bytes()


@pytest.mark.parametrize("name, damage", [("metrics.csv", "append"), ("params.npz", "cut"), ("data.npz", "cut")])
def test_a_finished_folder_whose_outputs_changed_is_refused(kept_run, tmp_path, name, damage):
    import shutil

    import rnnjax
    from rnnjax.study.folders import RunDirError

    copy = tmp_path / "copied"
    shutil.copytree(kept_run[1], copy)
    data = (copy / name).read_bytes()
    (copy / name).write_bytes(data + b"1\n" if damage == "append" else data[: len(data) // 2])
    with pytest.raises(RunDirError, match=f"has a {name} that changed since the run finished"):
        rnnjax.load_run(copy)


def _set(*path):
    """An edit of config.json's record: the value at `path` (keys, then the new value)."""

    def edit(rec):
        *keys, last, value = path
        for key in keys:
            rec = rec[key]
        rec[last] = value

    return edit


CONFIG_EDITS = {
    "tau": _set("models", "gru", "tau", 7.0),  # read back, it reported other numbers than metrics.csv
    "hidden": _set("models", "gru", "hidden", 5),
    "kind": _set("kind", "sweep"),
    "epochs": _set("models", "gru", "epochs", 9),
    "horizon": _set("models", "gru", "horizon", 30),
    "report option": _set("report", "primary", "zzz"),
    "command": _set("command", "python elsewhere.py"),
    "its checksum": _set("config_sha256", "0" * 64),
    "its checksum deleted": lambda rec: (rec.pop("config_sha256"), _set("models", "gru", "tau", 7.0)(rec)),
}
EDITED = "has a config.json (that changed since the run finished|without its config_sha256)"


@pytest.mark.parametrize("edit", CONFIG_EDITS.values(), ids=CONFIG_EDITS.keys())
def test_a_finished_folder_whose_config_changed_is_refused(kept_run, tmp_path, edit, capsys):
    """config.json holds the configs a finished folder's outputs are read and reported
    with: edited, load_run, rj.report and report.py refuse it in one line, rewriting nothing."""
    import shutil

    import scripts

    import rnnjax
    from rnnjax.study.folders import RunDirError

    copy = tmp_path / "copied"
    shutil.copytree(kept_run[1], copy, ignore=shutil.ignore_patterns("checkpoints"))
    rec = json.loads((copy / "config.json").read_text())
    edit(rec)
    (copy / "config.json").write_text(json.dumps(rec, indent=2) + "\n")
    report = (copy / "report.md").read_bytes()
    with pytest.raises(RunDirError, match=EDITED):
        rnnjax.load_run(copy)
    with pytest.raises(RunDirError, match=EDITED):
        rnnjax.report(copy)
    with pytest.raises(SystemExit) as stop:
        scripts.load("report").main([str(copy)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and "it was edited" in err
    assert (copy / "report.md").read_bytes() == report


def test_a_finished_config_reformatted_reads_back_and_redraws(kept_run, tmp_path):
    """The checksum is of config.json's content, not its bytes: keys reordered and whitespace
    changed, the folder reads back and its report redraws byte for byte."""
    import shutil

    import rnnjax

    copy = tmp_path / "copied"
    shutil.copytree(kept_run[1], copy, ignore=shutil.ignore_patterns("checkpoints"))
    rec = json.loads((copy / "config.json").read_text())
    assert "config_sha256" in rec
    reordered = dict(reversed(list(rec.items())))
    (copy / "config.json").write_text(json.dumps(reordered, indent=7, separators=(" , ", " :  ")))
    (copy / "report.md").unlink()
    assert rnnjax.load_run(copy)["gru"][0].cfg.hidden == 4
    rnnjax.report(copy)
    assert (copy / "report.md").read_bytes() == (kept_run[1] / "report.md").read_bytes()
