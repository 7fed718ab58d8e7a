"""Killing and resuming a run is invisible in its results."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "gru_vs_lstm.py"
from conftest import FINISHED_ARGS as ARGS


def run(*args, timeout=600):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def uninterrupted(finished_run):
    return finished_run


def interrupt(out: Path, sig) -> subprocess.Popen:
    """Start a run and send `sig` once the first model has a mid-training checkpoint."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *ARGS, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ckpt = out / "checkpoints" / "gru" / "runs-0-2.ckpt"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint appeared"
    header = json.loads(ckpt.read_bytes().split(b"\n")[1])
    assert header["epoch"] < 60  # stopped mid-training
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc


def same_outputs(a: Path, b: Path):
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()
    for name in ("history.npz", "forecasts.npz"):
        x, y = np.load(a / name), np.load(b / name)
        assert x.files == y.files
        for key in x.files:
            np.testing.assert_array_equal(x[key], y[key])
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for s in (sa, sb):
        for model in s["models"].values():
            model.pop("timing")
        for claim in s["claims"]:  # the learning claim quotes the wall-time ratio
            claim["verdict"] = claim["verdict"].split("; per epoch")[0]
            claim.pop("wall_time_ratio_lstm_over_gru", None)
    assert sa == sb


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, uninterrupted):
    out = tmp_path / "killed"
    proc = interrupt(out, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "report.md").exists()
    resumed = run("--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    same_outputs(out, uninterrupted)


def test_ctrl_c_checkpoints_says_how_to_resume_and_resumes(tmp_path, uninterrupted):
    out = tmp_path / "interrupted"
    proc = interrupt(out, signal.SIGINT)
    stderr = proc.stderr.read()
    assert proc.returncode == 130, stderr
    assert f"--resume {out}" in stderr and "Traceback" not in stderr
    resumed = run("--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    same_outputs(out, uninterrupted)


def test_resume_refuses_a_different_config_naming_the_fields(tmp_path, uninterrupted):
    out = tmp_path / "partial"
    out.mkdir()
    record = json.loads((uninterrupted / "config.json").read_text())
    record.pop("finished")
    (out / "config.json").write_text(json.dumps(record))
    proc = run("--resume", str(out), "--lr", "0.5", "--hidden", "8", "--epochs", "70")
    assert proc.returncode == 2 and "lr (0.5 here, 0.01 in the run)" in proc.stderr
    assert "epochs (70 here, 60 in the run)" in proc.stderr and "hidden" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_resume_refuses_a_corrupted_checkpoint(tmp_path, uninterrupted):
    out = tmp_path / "corrupt"
    (out / "checkpoints" / "gru").mkdir(parents=True)
    record = json.loads((uninterrupted / "config.json").read_text())
    record.pop("finished")
    (out / "config.json").write_text(json.dumps(record))
    good = (uninterrupted / "checkpoints" / "gru" / "runs-0-2.ckpt").read_bytes()
    (out / "checkpoints" / "gru" / "runs-0-2.ckpt").write_bytes(good[: len(good) - 50])
    proc = run("--resume", str(out))
    assert proc.returncode == 2 and "corrupted or truncated" in proc.stderr and "Traceback" not in proc.stderr


def test_a_resume_under_another_environment_is_one_line_before_training(finished_run, tmp_path, capsys):
    """It resumed silently: its checkpoints' numbers and the rest came from two JAX versions."""
    import scripts

    rec = json.loads((finished_run / "config.json").read_text())
    rec.pop("finished")
    rec["environment"]["versions"]["jax"] = "0.4.0"
    partial = tmp_path / "elsewhere"
    partial.mkdir()
    (partial / "config.json").write_text(json.dumps(rec))
    with pytest.raises(SystemExit) as stop:
        scripts.load("gru_vs_lstm").main(["--resume", str(partial)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "the run was made under another environment (jax" in err and "'0.4.0' in the run" in err
    assert not (partial / "checkpoints").exists()  # nothing trained
