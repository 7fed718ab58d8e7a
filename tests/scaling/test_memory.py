import pytest

from rnnjax.core.config import Config
from rnnjax.scaling import memory
from rnnjax.study.grid import grid_runs, make_grid

TINY = Config(hidden=6, epochs=4, seeds=3)


class NoMemoryReport:  # a CPU device: no memory_stats
    pass


def test_chunk_size_fits_the_free_memory_in_multiples_of_the_devices():
    mb = 2**20
    assert memory.block_size(per_run_bytes=1 * mb, free_bytes=100 * mb, n_runs=1000, n_devices=1) == 80
    assert memory.block_size(1 * mb, 100 * mb, n_runs=1000, n_devices=3) == 78
    assert memory.block_size(1 * mb, 100 * mb, n_runs=10, n_devices=4) == 12  # all runs, padded
    assert memory.block_size(1000 * mb, 100 * mb, n_runs=10, n_devices=2) == 2  # one per device at least


def test_without_a_memory_report_every_run_goes_at_once():
    runs = grid_runs(make_grid(TINY), 5)
    assert memory.free_device_bytes([NoMemoryReport()]) is None
    assert memory.runs_that_fit(TINY, runs, [NoMemoryReport()], epochs_per_chunk=2) == 5


MEASURE = """
import json, sys, tracemalloc
from rnnjax.core import data as data_lib
from rnnjax.core.config import Config

cfg = Config(**json.loads(sys.argv[1]))
tracemalloc.start()
held = [data_lib.split(cfg), data_lib.forecast_truth(cfg), data_lib.history(cfg), data_lib.scale(cfg)]
held += [data_lib.known(cfg), data_lib.forecast_truth(cfg)]  # the Result's own, while the forecast's lives
print(tracemalloc.get_traced_memory()[1])
"""


@pytest.mark.parametrize(
    "fields",
    [
        {"horizon": 300_000},  # the notebook's forecast runs far past the 200 stored points
        {"n_points": 60_000, "window": 20, "protocol": "holdout"},  # windows of a long series
    ],
    ids=["horizon", "n_points"],
)
def test_the_data_estimate_covers_the_data_preparations_peak(fields):
    """Measured in a fresh process (tracemalloc): the series' float64 arrays to the end of
    the horizon and the windows' intermediates, which the estimate once counted at 8 bytes
    a sample (0.1% of the peak over a long horizon)."""
    import json
    import subprocess
    import sys

    cfg = Config(**fields)
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(fields)], capture_output=True, text=True, timeout=60, check=True
    )
    peak = int(proc.stdout.split()[-1])
    parts = memory.estimate_parts(cfg, 1, frozenset())
    assert parts["the series and its windows (--n-points, --horizon, --window)"] >= peak
    assert memory.data_bytes(cfg) < 2 * peak  # and not far above it


def test_a_horizon_past_any_memory_is_refused_in_one_line_before_running(tmp_path, capsys, monkeypatch):
    """--horizon 2147483647 was OOM-killed on a 64 GiB machine instead of refused: the
    estimate counted its truth and forecasts at 4 bytes a step."""
    import scripts

    gru_vs_lstm = scripts.load("gru_vs_lstm")
    monkeypatch.setattr(memory, "available_bytes", lambda devices: 64 * 2.0**30)
    monkeypatch.setattr(gru_vs_lstm.cli, "run_with_progress", lambda *a, **k: pytest.fail("reached training"))
    monkeypatch.setattr(gru_vs_lstm.cli, "compile_cache", lambda off: None)
    argv = ["--seeds", "2", "--epochs", "3", "--hidden", "4", "--models", "gru", "--horizon", "2147483647"]
    with pytest.raises(SystemExit) as stop:
        gru_vs_lstm.main([*argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "needs about" in err and "--horizon" in err
    assert not (tmp_path / "run").exists()
