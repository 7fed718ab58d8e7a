"""The "Extending" promise (docs/python.md): a new cell is one class and one registry line, in a file
of your own, used from the command line."""

import hashlib
import json
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scripts

from rnnjax.core.cells import CELLS, FusedCell
from rnnjax.core.config import Config
from rnnjax.core.model import summary
from rnnjax.study import train as driver


class MinimalGRUCell(FusedCell):
    """h' = (1 − f) ⊙ h + f ⊙ tanh(x W_h + (f ⊙ h) U_h + b_h), f = σ(x W_f + h U_f + b_f)."""

    gates = 2  # kernel [I, 2H], recurrent_kernel [H, 2H], bias [2H], initialised per scheme

    def recur(self, h_H, xw_G):  # xw_G = x W + b, from project()
        (xf, xh), (Uf, Uh) = jnp.split(xw_G, 2, -1), jnp.split(self.recurrent_kernel, 2, -1)
        f = jax.nn.sigmoid(xf + h_H @ Uf)
        h_new = (1 - f) * h_H + f * jnp.tanh(xh + (f * h_H) @ Uh)
        return h_new, h_new


def test_a_registered_cell_trains_and_summarises(monkeypatch):
    monkeypatch.setitem(CELLS, "mgu", MinimalGRUCell)
    cfg = Config(cell="mgu", hidden=8, epochs=15, seeds=2)
    assert "Total params: 169" in summary(cfg)  # W 1x16 + U 8x16 + b 16 + Dense 8+1
    loss = np.asarray(driver.train(cfg).history.loss)
    assert np.all(loss[:, -1] < loss[:, 0])


def test_a_new_series_is_one_function(monkeypatch):
    from rnnjax.core import data

    monkeypatch.setitem(data.SERIES, "ramp", lambda x, tau: x / tau)
    cfg = Config(series="ramp", n_points=11, x_stop=10.0, window=3, tau=2.0)
    np.testing.assert_allclose(data.series(cfg), np.arange(11) / 2.0)


ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "python.md"  # its "Extending" section
SMALL = [
    "--seeds",
    "2",
    "--epochs",
    "60",
    "--chunk",
    "1",
    "--hidden",
    "4",
    "--no-compile-cache",
]  # argparse: the last wins


def _readme_example() -> tuple[str, list[list[str]]]:
    """The Extending section's own file and its two commands, as written."""
    section = DOC.read_text().split("## Extending", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    commands = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1).strip().splitlines()
    return code, [shlex.split(line.split("#")[0]) for line in commands]


def _process(command: list[str], *extra: str) -> list[str]:
    """A documented command run from another folder: this interpreter, the script by its path."""
    assert command[0] == "python"
    return [sys.executable, str(ROOT / command[1]), *command[2:], *extra]


def test_a_cell_in_your_own_file_from_the_command_line(tmp_path, registries, capsys, monkeypatch):
    """The docs' my_cells.py and commands, run from another folder: trained, killed,
    resumed, read back; config.json's command reruns it as written; a changed file is refused."""
    import rnnjax as rj
    from rnnjax.study import folders

    code, (run, resume) = _readme_example()
    assert "rnnjax/" not in code  # no edit inside the package
    (tmp_path / "my_cells.py").write_text(code)
    out = tmp_path / "runs" / "mgu"
    proc = subprocess.Popen(_process(run, *SMALL), cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    ckpt = out / "checkpoints" / "mgu" / "runs-0-2.ckpt"  # the user's cell itself, part way through
    deadline = time.monotonic() + 300
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not (out / "metrics.csv").exists(), proc.stderr.read()[-2000:]
    monkeypatch.chdir(tmp_path)  # the resume in this process, from the same folder (its compiled programs kept)
    scripts.load("gru_vs_lstm").main(resume[2:])

    rec = json.loads((out / "config.json").read_text())
    (imported,) = rec["imports"]
    assert imported["given"] == "my_cells.py" and imported["path"] == str(tmp_path / "my_cells.py")
    assert imported["sha256"] == hashlib.sha256(code.encode()).hexdigest() and rec["cwd"] == str(tmp_path)
    command = shlex.split(rec["command"])  # as given, with the script as the working folder reaches it
    assert command[2:] == run[2:] + SMALL and Path(command[1]).samefile(ROOT / run[1])
    folder = rj.load_run(out)
    assert list(folder.results) == ["gru", "mgu"] and folder["mgu"][0].params["cell"]["kernel"].shape == (2, 1, 8)
    assert folder["mgu"][0].n_params == 1 * 8 + 4 * 8 + 8 + 4 + 1  # W 1x8, U 4x8, b 8, Dense 4+1
    assert np.isfinite(folder["mgu"][0].forecast).all()

    (tmp_path / "my_cells.py").write_text(code + "# changed\n")
    with pytest.raises(folders.RunDirError, match=r"its --import my_cells.py .* has changed since the run"):
        rj.load_run(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        scripts.load("gru_vs_lstm").main(["--resume", str(out)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and "has changed since the run" in err
