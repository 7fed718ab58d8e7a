import subprocess
import sys
from pathlib import Path

from rnnjax.study import folders

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "benchmark.py"


def test_tiny_benchmark_writes_csv_and_plot(tmp_path):
    out = tmp_path / "bench"
    args = [
        "--models",
        "gru",
        "--seeds",
        "1,2",
        "--epochs",
        "2",
        "--naive-epochs",
        "1",
        "--devices",
        "1,2",
        "--hidden",
        "4",
        "--out",
        str(out),
    ]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr
    rows = folders.read_csv(out / "benchmark.csv")
    assert len(rows) == 1 * 2 * 2  # models x device counts x seed counts
    for row in rows:
        assert float(row["seed_epochs_per_s"]) > 0 and float(row["naive_seed_epochs_per_s"]) > 0
        assert float(row["compile_s"]) > 0 and float(row["program_mb"]) > 0
        ratio = float(row["seed_epochs_per_s"]) / float(row["naive_seed_epochs_per_s"])
        assert abs(float(row["ratio_to_naive"]) - ratio) < 1e-9
    assert (out / "scaling.png").stat().st_size > 10_000 and (out / "scaling.svg").exists()


def test_more_devices_than_there_are_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--devices", "64", "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and "--devices 64" in proc.stderr and "Traceback" not in proc.stderr


def test_backtest_speed_writes_its_ratio_and_figure(tmp_path):
    import json

    import scripts

    out = tmp_path / "bts"
    args = ["--series", "lorenz", "--origins", "2", "--horizon", "5", "--seeds", "2", "--epochs", "2", "--hidden", "4"]
    scripts.load("backtest_speed").main([*args, "--out", str(out)])
    record = json.loads((out / "backtest_speed.json").read_text())
    assert record["origins"] == 2 and record["ratio"] > 0 and record["one_program_s"] > 0
    assert (out / "backtest_speed.png").stat().st_size > 0
