"""Sweeps: the grid, chunks of runs, the script's run folder and errors, and two processes
(jax.distributed on 127.0.0.1) giving the numbers of one."""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnjax import distributed, sweep
from rnnjax.config import Config, ConfigError

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "sweep.py"
TINY = Config(hidden=6, epochs=4, seeds=3)
# lr 1.0 at hidden 8 diverges for some seeds (README: Long runs); 0.01 never does
SWEEP_ARGS = ["--lr", "0.01,1.0", "--seeds", "3", "--epochs", "12", "--hidden", "8", "--horizon", "30"]


def test_grid_is_the_product_of_the_values_given():
    grid = sweep.make_grid(TINY, {"lr": [0.01, 0.1], "momentum": [0.0, 0.9]})
    assert grid.swept == ("lr", "momentum") and len(grid.points) == 4
    assert grid.points[1] == {"hidden": 6, "window": 20, "lr": 0.01, "momentum": 0.9, "tau": TINY.tau}
    runs = sweep.grid_runs(grid, seeds=3)
    assert runs.count == 12
    np.testing.assert_array_equal(runs.seed, [0, 1, 2] * 4)
    np.testing.assert_array_equal(runs.momentum, [0, 0, 0, 0.9, 0.9, 0.9] * 2)
    assert sweep.make_grid(TINY, {}).swept == ()
    with pytest.raises(ConfigError, match="lr=-0.1"):
        sweep.make_grid(TINY, {"lr": [0.01, -0.1]})


def test_chunk_size_fits_the_free_memory_in_multiples_of_the_devices():
    mb = 2**20
    assert sweep.chunk_size(per_run_bytes=1 * mb, free_bytes=100 * mb, n_runs=1000, n_devices=1) == 80
    assert sweep.chunk_size(1 * mb, 100 * mb, n_runs=1000, n_devices=3) == 78
    assert sweep.chunk_size(1 * mb, 100 * mb, n_runs=10, n_devices=4) == 12  # all runs, padded
    assert sweep.chunk_size(1000 * mb, 100 * mb, n_runs=10, n_devices=2) == 2  # one per device at least
    assert sweep.auto_chunk(TINY, sweep.grid_runs(sweep.make_grid(TINY, {}), 5), [None]) == 5  # CPU: no memory report


def test_chunks_of_runs_give_the_numbers_of_one_program():
    grid = sweep.make_grid(TINY, {"lr": [0.01, 0.05], "tau": [5.0, 3.0]})
    runs = sweep.grid_runs(grid, TINY.seeds)
    whole, _ = sweep.train_runs(TINY, runs)
    chunked, _ = sweep.train_runs(TINY, runs, seed_chunk=5)  # 12 runs: 5 + 5 + 2 (padded to 5)
    assert whole.loss.shape == (12, 4) and whole.forecast.shape == (12, TINY.horizon)
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # forecasts near 0: float rounding
    # the rollouts start from each tau's own series
    assert not np.allclose(whole.forecast[0], whole.forecast[9])


def test_shape_knobs_are_separate_programs_and_blocks_are_slices_of_the_whole():
    grid = sweep.make_grid(TINY, {"hidden": [4, 6], "lr": [0.01, 0.05]})
    assert grid.swept == ("hidden", "lr") and [p["hidden"] for p in grid.points] == [4, 4, 6, 6]
    seeds = 2
    whole, timing = sweep.train_grid(TINY, grid, seeds)
    assert whole.loss.shape == (8, TINY.epochs) and timing.train_s > 0
    runs = sweep.grid_runs(grid, seeds)
    alone, _ = sweep.train_runs(TINY.replace(hidden=6), runs.take(np.arange(4, 8)))
    np.testing.assert_allclose(whole.loss[4:], alone.loss, rtol=1e-6)
    block, _ = sweep.train_grid(TINY, grid, seeds, start=3, stop=6)  # across the two shapes
    for a, b in zip(block, whole.take(np.arange(3, 6)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # forecasts near 0: float rounding
    empty, _ = sweep.train_grid(TINY, grid, seeds, start=8, stop=8)
    assert empty.loss.shape == (0, TINY.epochs) and empty.forecast.shape == (0, TINY.horizon)
    rows = sweep.model_runs(TINY, grid, seeds, whole, timing)
    assert [r.cfg.hidden for r in rows] == [4, 4, 6, 6] and rows[0].params < rows[2].params


def test_processes_share_the_runs_in_contiguous_blocks():
    assert [distributed.block(10, i, 3) for i in range(3)] == [(0, 4), (4, 8), (8, 10)]
    assert [distributed.block(5, i, 4) for i in range(4)] == [(0, 2), (2, 4), (4, 5), (5, 5)]
    assert distributed.block(7) == (0, 7)  # one process


def _sweep(out: Path, *extra, env=None):
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *SWEEP_ARGS, "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
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
    stdout = _finish(_sweep(out))
    return out, stdout


def test_the_sweep_writes_its_run_folder(one_process):
    out, stdout = one_process
    assert {p.name for p in out.iterdir()} >= {
        "config.json",
        "metrics.csv",
        "history.npz",
        "forecasts.npz",
        "summary.json",
        "sweep.png",
        "sweep.svg",
    }
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
    assert "gru hidden=8, window=20, lr=0.01, momentum=0, tau=5: forecast RMSE median" in stdout


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
            if key in ("diverged", "model"):
                assert a[key] == b[key]
            else:
                np.testing.assert_allclose(float(a[key]), float(b[key]), rtol=1e-6, err_msg=key)


BAD = [
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
]


@pytest.mark.parametrize("args, named", BAD)
def test_bad_input_is_one_line_before_anything_runs(args, named, tmp_path):
    out = tmp_path / "bad"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(out)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()
