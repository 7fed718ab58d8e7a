"""Sweeps: the grid, chunks of runs, the script's run folder and errors, and two processes
(jax.distributed on 127.0.0.1) giving the numbers of one."""

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scripts

from rnnjax.study import disk, outputs

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "sweep.py"
# every run of this module on one backend, so that its results compare bit for bit (and two
# processes on one machine never share a GPU)
CPU = {**os.environ, "JAX_PLATFORMS": "cpu"}
# lr 1.0 at hidden 8 diverges (docs/usage.md: Long runs); 0.01 never does
SWEEP_ARGS = ["--lr", "0.01,1.0", "--seeds", "3", "--epochs", "12", "--hidden", "8", "--horizon", "30"]


def _sweep(out: Path, *extra, env=None):
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *SWEEP_ARGS, "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**CPU, **(env or {})},
    )


def _finish(proc):
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    return stdout


def _rows(out: Path) -> list[dict]:
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "one"
    proc = _sweep(out)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    return out, stdout, stderr


def test_the_sweep_writes_its_run_folder(one_process):
    out, stdout, _ = one_process
    assert {p.name for p in out.iterdir()} >= {
        "config.json",
        "metrics.csv",
        "history.npz",
        "forecasts.npz",
        "summary.json",
        "sweep.png",
        "sweep.svg",
        "report.md",
    }
    # the room the sweep was given before it started holds every file it wrote (study/disk.py)
    assert disk.needed_bytes(outputs.study_of(outputs.read_record(out))) >= disk.folder_bytes(out)
    report = (out / "report.md").read_text()  # a ranking per grid point, on the primary metric
    assert "## Ranking per grid point by median forecast RMSE" in report and "### lr=1" in report
    assert report.count("| 1 | ") == 2 and "**Protocol: notebook**" in report
    rows = _rows(out)
    assert len(rows) == 2 * 2 * 3  # models x grid points x seeds
    assert {(r["model"], float(r["lr"]), int(r["seed"])) for r in rows} == {
        (m, lr, s) for m in ("gru", "lstm") for lr in (0.01, 1.0) for s in range(3)
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["swept"] == ["lr"] and summary["seeds"] == 3
    gru = summary["models"]["gru"]
    calm = gru["points"][0]
    assert calm["lr"] == 0.01 and calm["diverged"] == 0
    # the summary's median is the median of metrics.csv's rows for that point
    rmse = [float(r["forecast_rmse"]) for r in rows if r["model"] == "gru" and float(r["lr"]) == 0.01]
    assert calm["forecast_rmse"]["median"] == pytest.approx(np.median(rmse))
    lo, hi = calm["forecast_rmse"]["median_ci95"]
    assert lo <= np.median(rmse) <= hi
    # diverged seeds are marked, counted, and left out of the statistics
    wild = [r for r in rows if float(r["lr"]) == 1.0 and r["diverged"] == "True"]
    assert wild, "lr 1.0 at hidden 8 was expected to diverge for some seed"
    for model in ("gru", "lstm"):
        point = summary["models"][model]["points"][1]
        diverged = [r for r in wild if r["model"] == model]
        assert point["diverged"] == len(diverged) and point["forecast_rmse"]["n"] == 3 - len(diverged)
    history = np.load(out / "history.npz")
    assert history["gru_loss"].shape == (2, 3, 12)
    assert "gru lr=0.01: forecast RMSE median" in stdout


def test_progress_in_a_log_is_one_line_per_chunk(one_process):
    """stderr is a pipe here, not a terminal: a line per chunk (of one epoch), no repainted bar."""
    stderr = one_process[2]
    assert "\r" not in stderr and "warning:" not in stderr  # an lr axis moves no forecast
    for model in ("gru", "lstm"):
        line = rf"^{model}  epoch (\d+)/12  median loss \S+  val \S+  \d+\.\d s$"
        assert [int(e) for e in re.findall(line, stderr, re.MULTILINE)] == list(range(1, 13)), stderr[-2000:]


def _interrupt(out: Path, sig, *extra, env=None) -> subprocess.Popen:
    """Start a sweep and send `sig` once its first block of runs has a mid-training checkpoint."""
    proc = _sweep(out, *extra, env=env)
    ckpt = out / "checkpoints" / "gru" / "runs-0-6.ckpt"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert ckpt.exists(), "no checkpoint appeared"
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc


def _same_outputs(a: Path, b: Path):
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()
    for name in ("history.npz", "forecasts.npz", "params.npz"):
        x, y = np.load(a / name), np.load(b / name)
        assert x.files == y.files
        for key in x.files:
            np.testing.assert_array_equal(x[key], y[key], err_msg=f"{name} {key}")


# resume equality is the runner's promise (tests/study/test_runner.py) and Ctrl-C the command
# line's (tests/experiments/test_resume.py): the sweep script needs one end-to-end check
@pytest.mark.parametrize("sig", [signal.SIGKILL], ids=["SIGKILL"])
def test_a_killed_sweep_resumes_bit_identical(one_process, tmp_path, sig):
    out = tmp_path / "killed"
    proc = _interrupt(out, sig)
    stderr = proc.stderr.read()
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), stderr[-2000:]
    assert not (out / "metrics.csv").exists()
    if sig == signal.SIGINT:
        assert f"experiments/sweep.py --resume {out}" in stderr and "Traceback" not in stderr
    _finish(
        subprocess.Popen(
            env=CPU,
            args=[sys.executable, str(SCRIPT), "--resume", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    _same_outputs(out, one_process[0])
    again = subprocess.run(
        env=CPU,
        args=[sys.executable, str(SCRIPT), "--resume", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert again.returncode == 2 and "finished run" in again.stderr


def test_a_finished_sweep_reads_back_whole(one_process):
    import rnnjax as rj

    out, *_ = one_process
    folder = rj.load_run(out)
    assert folder.kind == "sweep" and list(folder.results) == ["gru", "lstm"]
    forecasts = np.load(out / "forecasts.npz")
    for g, point in enumerate(folder["lstm"]):
        assert point.cfg.lr == (0.01, 1.0)[g] and point.params["cell"]["kernel"].shape == (3, 1, 32)
        np.testing.assert_array_equal(point.forecast, forecasts["lstm"][g])
    again = rj.forecast(folder["gru"][0].cfg, folder["gru"][0].params)
    np.testing.assert_allclose(again, forecasts["gru"][0], rtol=1e-6, atol=1e-7)


def test_a_finished_sweep_redraws_its_report_byte_for_byte(one_process, tmp_path):
    import shutil

    import rnnjax as rj

    out = tmp_path / "copy"
    shutil.copytree(one_process[0], out)
    written = {name: (out / name).read_bytes() for name in ("report.md", "summary.json", "sweep.png", "sweep.svg")}
    for name in written:
        (out / name).unlink()
    rj.report(out)
    assert {name: (out / name).read_bytes() for name in written} == written


def test_resuming_with_another_process_count_is_refused(one_process, tmp_path):
    out = tmp_path / "partial"
    out.mkdir()
    record = json.loads((one_process[0] / "config.json").read_text())
    record.pop("finished")
    (out / "config.json").write_text(json.dumps(record))
    args = ["--resume", str(out), "--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "0"]
    proc = subprocess.run(
        env=CPU, args=[sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2 and "ran as 1 process(es), not 2" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    args = ["--resume", str(out), "--seed-chunk", "2"]
    proc = subprocess.run(
        env=CPU, args=[sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2 and "seed_chunk (2 here, None in the run)" in proc.stderr


def test_two_processes_give_the_numbers_of_one(one_process, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "two"
    procs = [
        _sweep(
            out,
            "--coordinator",
            f"127.0.0.1:{port}",
            "--num-processes",
            "2",
            "--process-id",
            str(i),
            env={"RNNJAX_HOST_DEVICES": "1"},
        )
        for i in range(2)
    ]
    for proc in procs:
        _finish(proc)
    config = json.loads((out / "config.json").read_text())
    assert config["processes"] == 2
    one, two = _rows(one_process[0]), _rows(out)
    assert len(one) == len(two)
    for a, b in zip(one, two, strict=True):
        for key in a:
            if key in ("diverged", "model", "optimizer", "schedule"):
                assert a[key] == b[key]
            else:
                np.testing.assert_allclose(float(a[key]), float(b[key]), rtol=1e-6, err_msg=key)


BAD = [
    (["--models", "gru,lru", "--recurrent-dropout", "0,0.2"], "cell='lru'"),  # every model at every point
    (["--optimizer", "sgd,adam", "--beta-1", "0.8"], "optimizer='sgd' does not use it"),
    (["--optimizer", "sgd,sgd"], "--optimizer"),
    (["--lr", "0.1,abc"], "--lr"),
    (["--lr", "0.01,-1"], "lr=-1.0"),
    (["--lr", "0.1,0.1"], "--lr"),
    (["--momentum", "0,1.5"], "momentum=1.5"),
    (["--tau", "nan"], "--tau"),
    (["--seed-chunk", "0"], "--seed-chunk 0"),
    (["--coordinator", "127.0.0.1:1234"], "go together"),
    (["--coordinator", "nohost", "--num-processes", "2", "--process-id", "0"], "HOST:PORT"),
    (["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"], "--process-id 2"),
    (["--models", "gru,gru"], "--models"),
    (["--hidden", "8,0"], "hidden=0"),
    (["--window", "20,x"], "--window"),
    (["--models", "gru,transformer"], "cell='transformer'"),
    (["--models", ""], "--models ''"),
    (["--hidden", "8,16", "--models", "gru:8,lstm"], "--hidden 8,16 is not allowed with models of their own size"),
    (["--coordinator", "127.0.0.1:65535", "--num-processes", "2", "--process-id", "0"], "65534"),
    (["--coordinator", "127.0.0.1:²", "--num-processes", "2", "--process-id", "0"], "HOST:PORT"),
    (["--init-timeout", "100000000000"], "at most 86400"),
    (["--resume", ""], "--resume"),
    (["--import", "no_such_cells.py", "--models", "gru,mycell"], "--import no_such_cells.py failed: no such file"),
]


SWEEP = scripts.load("sweep")


def test_an_optimizer_axis_is_a_program_per_optimizer(tmp_path, monkeypatch):
    """--optimizer sgd,adam --lr 0.001,0.01: two programs of two learning rates each (the
    optimiser's state differs by kind), all four points in metrics.csv and the summary."""
    shapes = []
    real = SWEEP.cli.run_with_progress

    def counting(out, rec, *args, **kwargs):
        from rnnjax.study.grid import shape_groups
        from rnnjax.study.outputs import study_of

        study = study_of(rec)
        shapes.extend(g.shape for g in shape_groups(study.grid, study.seeds))
        return real(out, rec, *args, **kwargs)

    monkeypatch.setattr(SWEEP.cli, "run_with_progress", counting)
    out = tmp_path / "opt"
    argv = ["--models", "gru", "--optimizer", "sgd,adam", "--lr", "0.001,0.01", "--seeds", "2", "--epochs", "3"]
    SWEEP.main([*argv, "--hidden", "4", "--horizon", "10", "--out", str(out)])
    assert shapes == [{"optimizer": "sgd"}, {"optimizer": "adam"}]
    rows = _rows(out)
    assert {(r["optimizer"], float(r["lr"])) for r in rows} == {
        (o, lr) for o in ("sgd", "adam") for lr in (0.001, 0.01)
    }
    points = json.loads((out / "summary.json").read_text())["models"]["gru"]["points"]
    assert [(p["optimizer"], p["lr"]) for p in points] == [
        ("sgd", 0.001),
        ("sgd", 0.01),
        ("adam", 0.001),
        ("adam", 0.01),
    ]
    sgd, adam = (np.array([float(r["final_loss"]) for r in rows if r["optimizer"] == o]) for o in ("sgd", "adam"))
    assert not np.allclose(sgd, adam)  # the two optimisers trained differently


@pytest.mark.parametrize("protocol", ["notebook", "holdout"])
def test_a_window_axis_under_the_notebooks_protocol_warns_that_the_target_moves(
    protocol, tmp_path, capsys, monkeypatch
):
    """The notebook's forecast starts after the first target window: one line on stderr before
    training, and a line in the report and the summary. Holdout's origin does not move: no warning."""

    class Untrained(Exception):
        pass

    def stop(*args, **kwargs):
        raise Untrained

    if protocol == "holdout":  # the warning would come before training: no need to train
        monkeypatch.setattr(SWEEP.cli, "run_with_progress", stop)
    out = tmp_path / protocol
    argv = ["--models", "gru", "--window", "4,6", "--seeds", "2", "--epochs", "2", "--hidden", "4", "--horizon", "10"]
    try:
        SWEEP.main([*argv, "--protocol", protocol, "--out", str(out)])
    except Untrained:
        assert protocol == "holdout"
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    if protocol == "holdout":
        assert warnings == []
        return
    assert warnings == [f"warning: {SWEEP.report.MOVING_TARGET}"] and "origin and truth move with window" in warnings[0]
    assert json.loads((out / "summary.json").read_text())["warnings"] == [SWEEP.report.MOVING_TARGET]
    assert f"**Warning:** {SWEEP.report.MOVING_TARGET}." in (out / "report.md").read_text()


@pytest.mark.parametrize("args, named", BAD)
def test_bad_input_is_one_line_before_anything_runs(args, named, tmp_path, capsys, monkeypatch):
    """In-process, as the experiment's bad inputs (tests/experiments/test_cli.py); the first
    two also through a real process below."""
    monkeypatch.setattr(SWEEP.cli, "run_with_progress", lambda *a, **k: pytest.fail("bad input reached training"))
    monkeypatch.setattr(SWEEP.cli, "compile_cache", lambda off: None)  # no persistent cache for this worker
    out = tmp_path / "bad"
    with pytest.raises(SystemExit) as stop:
        SWEEP.main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert stop.value.code == 2 and len(lines) == 1 and named in lines[0] and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("args, named", BAD[:2])
def test_bad_input_in_a_real_process(args, named, tmp_path):
    out = tmp_path / "bad"
    proc = subprocess.run(
        env=CPU,
        args=[sys.executable, str(SCRIPT), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()


def test_an_integer_knob_is_a_list_of_integers():
    """--fold 0,1 was read as floats and refused ("fold=0.0 ... must be an integer")."""
    args = SWEEP.parse(["--protocol", "backtest", "--origins", "2", "--horizon", "10", "--fold", "0,1"])
    assert args.fold == [0, 1] and all(type(f) is int for f in args.fold)
    study = SWEEP.new_study(args)
    assert [p["fold"] for p in study.grid.points] == [0, 1] and study.grid.swept == ("fold",)


def test_one_process_given_a_coordinator_runs_alone(tmp_path, capsys):
    """--num-processes 1 with --coordinator raised RuntimeError (the backend had started first)."""
    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    out = tmp_path / "alone"
    argv = ["--models", "gru", "--seeds", "2", "--epochs", "2", "--hidden", "4", "--horizon", "10", "--out", str(out)]
    SWEEP.main([*argv, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "1", "--process-id", "0"])
    assert json.loads((out / "config.json").read_text())["finished"]
