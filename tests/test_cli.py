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
        (["--models", "gru,gru"], "twice"),
        (["--chunk", "0"], "--chunk 0"),
        (["--out", "/proc/version"], "is a file"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, named):
    proc = run(*args)
    assert proc.returncode == 2
    assert named in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr + proc.stdout
