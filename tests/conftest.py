import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rnnjax.scaling import runtime

runtime.use_all_cores()  # before any test computes: one XLA host device per core (at least 2 here)

# tests import the shared NumPy reference and the scripts' loader as plain modules
sys.path.insert(0, os.path.dirname(__file__))

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "gru_vs_lstm.py"
# the one finished main-experiment folder every test that only reads one shares; long enough
# (60 epochs in chunks of 5) that test_resume.py can kill the same command part way through
FINISHED_ARGS = ["--seeds", "2", "--epochs", "60", "--chunk", "5", "--hidden", "8", "--no-compile-cache"]


def coordinator_port() -> int:
    """A free port whose successor is free too: process 0 of a multi-process sweep serves
    jax.distributed's coordinator on it and the rendezvous on the next."""
    from rnnjax.scaling import distributed

    while True:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        if port < 65534 and distributed.ports_problem(f"127.0.0.1:{port}") is None:
            return port


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A finished `gru_vs_lstm.py` run folder (gru, lstm), made once by the script in a real process."""
    out = tmp_path_factory.mktemp("finished") / "run"
    proc = subprocess.run(
        [sys.executable, str(EXPERIMENT), *FINISHED_ARGS, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Total params: 5,201" not in proc.stdout and "run folder:" in proc.stdout  # hidden 8, not 40
    return out


@pytest.fixture
def registries():
    """The registries (and --import's record of who registered what) as they were before the
    test: code a test imports must not change what another test's names mean."""
    from rnnjax.study import user_code

    before = {kind: dict(registry) for kind, registry in user_code.registries().items()}
    owners = dict(user_code._owner)
    yield
    for kind, registry in user_code.registries().items():
        registry.clear()
        registry.update(before[kind])
    user_code._owner.clear()
    user_code._owner.update(owners)
