"""Run folders nobody can corrupt: one writer per folder, all-diverged runs, Ctrl-C while the
outputs are written, a missing peer. (Bad values, foreign or damaged folders: test_cli.py.)"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import scripts
from conftest import coordinator_port

from rnnjax.study import folders, outputs

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT, SWEEP = ROOT / "experiments" / "gru_vs_lstm.py", ROOT / "experiments" / "sweep.py"
TINY = ["--seeds", "2", "--epochs", "3", "--hidden", "4", "--horizon", "20", "--no-compile-cache"]


def script(path: Path, *args, timeout=300):
    return subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def one_line(proc, code: int) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(lines) >= 1
    return lines[-1]


def test_a_folder_has_one_writer_at_a_time(tmp_path):
    """A second process cannot claim a folder while the first lives; once it is gone (even
    killed), the folder can be claimed again (resumed)."""
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from rnnjax.study import folders; folders.claim({str(out)!r}); print('held', flush=True); import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(folders.RunDirError, match=f"in use by process {holder.pid}"):
        folders.claim(out)
    refused = script(EXPERIMENT, *TINY, "--out", str(out))
    assert "in use by process" in one_line(refused, 2) or "not empty" in refused.stderr
    resumed = script(EXPERIMENT, "--resume", str(out))
    assert one_line(resumed, 2)  # not a run folder, and in any case not this process's
    holder.kill()
    holder.wait()
    folders.claim(out)  # the OS dropped the killed holder's lock


def test_two_runs_given_the_same_new_folder_at_once(tmp_path):
    out = tmp_path / "same"
    procs = [
        subprocess.Popen(
            [sys.executable, str(EXPERIMENT), *TINY, "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    # "in use by process N", or "by another process" if it has the lock but not yet its name written
    assert ("in use by" in refused or "not empty" in refused) and "Traceback" not in refused
    record = json.loads((out / "config.json").read_text())
    assert record["finished"] and not list(out.glob(".*.tmp*"))


def test_a_run_whose_every_seed_diverged_is_a_result(tmp_path, capsys):
    out = tmp_path / "wild"
    scripts.load("gru_vs_lstm").main([*TINY, "--lr", "50", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert "2 seeds (2 diverged)" in stdout and "forecast RMSE n/a" in stdout
    scripts.load("sweep").main([*TINY, "--lr", "50,100", "--out", str(tmp_path / "wild_sweep")])
    assert (tmp_path / "wild_sweep" / "sweep.png").stat().st_size > 0
    assert "forecast RMSE median n/a, 2/2 diverged" in capsys.readouterr().out


def test_ctrl_c_while_the_outputs_are_written_says_how_to_resume(tmp_path, monkeypatch, capsys):
    module = scripts.load("gru_vs_lstm")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "write_experiment", interrupted)
    out = tmp_path / "cut"
    with pytest.raises(SystemExit) as stop:
        module.main([*TINY, "--models", "gru", "--out", str(out)])
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted while writing the outputs" in err and f"--resume {out}" in err
    monkeypatch.undo()
    folders.release(out)  # this process's own lock: let the resume below claim it
    resumed = script(EXPERIMENT, "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((out / "config.json").read_text())["finished"]


SECOND_CTRL_C = """
import atexit, os, signal, time
import jax  # its exit handlers are registered first, so run after the one below
from rnnjax.study import cli

def main():
    def exit_handler():  # a second Ctrl-C landing while the interpreter's exit handlers run
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(2)
        print("the exit handler went on")

    atexit.register(exit_handler)
    os.kill(os.getpid(), signal.SIGINT)  # the first: before training
    time.sleep(2)

cli.main_guard(main)
"""


def test_a_second_ctrl_c_during_the_exit_handlers_ends_quietly():
    """It raised KeyboardInterrupt inside JAX's exit handler: a traceback after the message."""
    proc = subprocess.run(
        [sys.executable, "-c", SECOND_CTRL_C], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 130
    assert proc.stderr == "\ninterrupted before training started; nothing to resume\n"
    assert "went on" not in proc.stdout


CTRL_C_AT_ONCE = """
import os, signal, sys, time
from pathlib import Path
from rnnjax.study import cli

signal.signal(signal.SIGINT, signal.default_int_handler)
if sys.argv[1] == "training":  # the second Ctrl-C of a chunk
    with cli.CtrlC("stopped now") as ctrl_c:
        os.kill(os.getpid(), signal.SIGINT)  # the first: noted for after the chunk
        time.sleep(0.5)
        print("the chunk goes on")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(2)
else:  # the first Ctrl-C while the outputs are written
    with cli.writing_outputs("experiments/gru_vs_lstm.py", Path("run")):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(2)
print("went on")
"""


@pytest.mark.parametrize("when", ["training", "outputs"])
def test_ctrl_c_that_must_stop_at_once_ends_the_process_not_raises(when):
    """Raised, the second Ctrl-C of a chunk segfaulted inside JAX's running program, and a
    Ctrl-C while the outputs were written could land in a finaliser and be swallowed (the run
    went on to exit 0). Now each prints its line and ends the process at once."""
    proc = subprocess.run(
        [sys.executable, "-c", CTRL_C_AT_ONCE, when], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 130 and "went on" not in proc.stdout and "Traceback" not in proc.stderr
    if when == "training":
        assert proc.stdout == "the chunk goes on\n" and proc.stderr == "stopped now\n"
    else:
        resume = "resume with: python experiments/gru_vs_lstm.py --resume run"
        assert proc.stderr == f"\ninterrupted while writing the outputs; {resume}\n"


def test_a_reader_that_goes_away_does_not_stop_the_run(tmp_path):
    """`... | head -1` closed the pipe: the run stopped with "cannot use None in the run
    folder: Broken pipe", exit 2, unfinished."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(EXPERIMENT), "--models", "gru", *TINY, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # both readers gone before the first line
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0
    assert json.loads((out / "config.json").read_text())["finished"]


def test_a_missing_peer_is_reported_not_waited_on(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [*TINY, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--init-timeout", "2"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    for pid in ("0", "1"):
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(SWEEP), *args, "--process-id", pid, "--out", str(tmp_path / pid)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        line = one_line(proc, 2)
        assert f"127.0.0.1:{port}" in line and "--init-timeout" in line and time.monotonic() - start < 30
        assert proc.stderr.count("\n") == 1
    # process 0's folder holds no result and does not block reusing --out
    assert [p.name for p in (tmp_path / "0").iterdir()] == [folders.LOCK]
    assert folders.make_run_dir(tmp_path / "0") == tmp_path / "0"


def test_a_coordinator_port_in_use_is_one_line_before_anything(tmp_path):
    """jax.distributed segfaulted (process 0) and aborted (the others) on a port in use."""
    port = coordinator_port()
    with socket.create_server(("", port)):
        proc = script(
            SWEEP,
            *TINY,
            "--coordinator",
            f"127.0.0.1:{port}",
            "--num-processes",
            "2",
            "--process-id",
            "0",
            "--out",
            str(tmp_path / "run"),
            timeout=60,
        )
    line = one_line(proc, 2)
    assert proc.stderr.count("\n") == 1 and f"port {port} (jax.distributed's coordinator)" in line
    assert "in use" in line and not (tmp_path / "run").exists()


def test_a_peer_killed_mid_run_ends_the_others_at_once_and_every_process_resumes(tmp_path):
    """A killed peer blocked the others ~100 s in the next gather, then aborted them in C++."""
    port, out = coordinator_port(), tmp_path / "run"
    args = ["--models", "gru", "--seeds", "2", "--epochs", "150", "--chunk", "5", "--hidden", "4", "--horizon", "20"]
    args += ["--no-compile-cache", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "RNNJAX_HOST_DEVICES": "1"}

    def start(*extra):
        return [
            subprocess.Popen(
                [sys.executable, str(SWEEP), *extra, "--process-id", str(i)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(2)
        ]

    first = start(*args, "--out", str(out))
    deadline = time.monotonic() + 240
    while not list(out.glob("checkpoints/gru/runs-1-2.ckpt")) and time.monotonic() < deadline:
        time.sleep(0.1)  # process 1 has checkpointed a chunk: it is mid-run
    first[1].kill()
    start_wait = time.monotonic()
    _, err = first[0].communicate(timeout=60)
    first[1].communicate(timeout=60)
    assert first[0].returncode == 3 and "Traceback" not in err, err[-2000:]
    assert time.monotonic() - start_wait < 30
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: process 1 ended during the run;") and f"--resume {out}" in line
    resumed = start("--resume", str(out), *args[-4:])
    for proc in resumed:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    assert json.loads((out / "config.json").read_text())["finished"]


def test_a_full_disk_before_the_run_begins_is_one_line_and_the_folder_reusable(tmp_path):
    """config.json past a file-size limit raised OSError through run_folder.begin."""
    out = tmp_path / "run"
    argv = [str(EXPERIMENT), *TINY, "--out", str(out)]
    limited = (
        "import resource, runpy, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000, 1_000))\n"
        f"sys.argv = {argv!r}\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", limited], capture_output=True, text=True, timeout=300, check=False)
    assert one_line(proc, 2) == f"error: --out {str(out)!r}: its config.json cannot be written: File too large"
    assert proc.stderr.count("\n") == 1 and folders.make_run_dir(out) == out  # nothing written: --out again


@pytest.mark.parametrize(
    "limit, cause",
    [
        (60_000, "the outputs could not be written: File too large"),  # the figures exceed it
        (6_000, "cannot use the run folder: File too large"),  # a checkpoint exceeds it (config.json not)
    ],
    ids=["outputs", "checkpoint"],
)
def test_a_full_disk_is_one_line_and_the_resume_finishes(tmp_path, limit, cause):
    """Disk full, simulated by a file-size limit: exit 2 naming the cause and the resume
    command; the resume writes everything, cleaning the temporary files a killed writer left,
    without training again what was checkpointed."""
    out = tmp_path / "run"
    argv = [str(EXPERIMENT), "--models", "gru", *TINY, "--out", str(out)]
    limited = (  # the limit set in the child itself: no preexec_fn fork from a process running JAX's threads
        "import resource, runpy, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        f"sys.argv = {argv!r}\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", limited], capture_output=True, text=True, timeout=300, check=False)
    line = one_line(proc, 2)
    assert cause in line and f"--resume {out}" in line
    assert not json.loads((out / "config.json").read_text()).get("finished")
    (out / ".report.md.0123456789abcdef.tmp").write_text("left by a killed writer")
    resumed = script(EXPERIMENT, "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((out / "config.json").read_text())["finished"] and (out / "forecast.png").exists()
    assert not list(out.glob(".*.tmp"))
    assert ("epoch 1/" in resumed.stderr) == (limit == 6_000)  # the outputs' case trains nothing again


SHORT_METRIC = """\
import numpy as np
from rnnjax.study.metrics import METRICS, Metric
METRICS["short_f6"] = Metric(lambda r: np.zeros({n}), "short_f6", True, per_channel=False)
"""


def test_a_metric_fixed_in_the_runs_own_import_finishes_the_run(tmp_path, registries, monkeypatch, capsys):
    """The documented fix-and-resume path was refused (the import had changed), so the
    trained folder could never finish."""
    from rnnjax.study import user_code

    monkeypatch.setattr(user_code, "_accepted", set())
    module = scripts.load("gru_vs_lstm")
    code, out = tmp_path / "metric_f6.py", tmp_path / "run"
    code.write_text(SHORT_METRIC.format(n=1))
    with pytest.raises(SystemExit) as stop:
        module.main([*TINY, "--models", "gru", "--import", str(code), "--out", str(out)])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert stop.value.code == 2 and line.endswith(
        f"finish with: python experiments/gru_vs_lstm.py --resume {out} --import {code}"
    )
    code.write_text(SHORT_METRIC.format(n="r.forecast.shape[0]"))  # fixed
    folders.release(out)  # this process's own lock: let the resume, a new process as a user's is, claim it
    resumed = script(EXPERIMENT, "--resume", str(out), "--import", str(code))
    assert resumed.returncode == 0 and "note: --import" in resumed.stderr, resumed.stderr[-2000:]
    rec = json.loads((out / "config.json").read_text())
    assert rec["finished"] and rec["imports"][0]["sha256"] == user_code.sha256(code)
    assert len(rec["imports"][0]["replaced"]) == 1 and outputs.load_run(out)["gru"][0].forecast.shape[0] == 2
