import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "gru_vs_lstm.py"


def run(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], check=False, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "args, named",
    [
        (["--window", "300"], "window=300"),
        (["--epochs", "0"], "epochs=0"),
        (["--epochs", "ten"], "'ten'"),
        (["--lr", "nan"], "'nan'"),
        (["--batch-size", "-1"], "batch_size=-1"),
        (["--models", "gru,cnn"], "cell='cnn'"),
        (["--forecast-mode", "magic"], "forecast_mode='magic'"),
        (["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, named):
    proc = run(*args)
    assert proc.returncode == 2
    assert named in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr + proc.stdout


def test_tiny_run_prints_the_seed_summary_and_medians():
    proc = run("--seeds", "2", "--epochs", "3", "--hidden", "40")
    assert proc.returncode == 0, proc.stderr
    assert "Total params: 5,201" in proc.stdout and "Total params: 6,761" in proc.stdout
    assert proc.stdout.count("median over seeds") == 2
