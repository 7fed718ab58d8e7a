"""The Python API: the "Use from Python" example (docs/python.md) runs as written, import order does
not matter, and analysis code does not start JAX."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PYTHON_DOC = Path(__file__).resolve().parents[1] / "docs" / "python.md"


def python(code: str, cwd=None) -> str:
    env = {**os.environ, "XLA_FLAGS": ""}
    env.pop("RNNJAX_HOST_DEVICES", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env, cwd=cwd, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_documented_example_runs(tmp_path, finished_run):
    section = PYTHON_DOC.read_text().split("## Use from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    # a real finished folder where the example reads one: the shared one (2 seeds x 60 epochs, hidden 8)
    (tmp_path / "runs").mkdir()
    shutil.copytree(finished_run, tmp_path / "runs" / "mine")
    checks = """
assert r.loss.shape == r.val_loss.shape == (4, 50) and r.forecast.shape == (4, 180)
assert r.params["cell"]["kernel"].shape == (4, 1, 48)
assert rj.METRICS["forecast_rmse"].fn(r).shape == (4,)
assert rj.forecast(r.cfg.replace(horizon=30), r.params).shape == (4, 30)
assert gru.params["cell"]["recurrent_kernel"].shape == (2, 8, 24) and gru.loss.shape == (2, 60)
assert folder.kind == "experiment" and list(folder.results) == ["gru", "lstm"]
assert mine.forecast.shape == (2, 30) and mine.cfg.length == 300 and mine.cfg.forecast_protocol == "holdout" and 0 < np.median(mine.forecast) < 100
import json, os
assert results["lstm"][0].loss.shape == (2, 5) and rj.load_run("runs/api").kind == "experiment"
assert {"config.json", "metrics.csv", "params.npz", "summary.json", "report.md", "loss.png", "checkpoints"} <= set(os.listdir("runs/api"))
assert json.load(open("runs/api/config.json"))["finished"]
print("ok")
"""
    assert python(code + checks, cwd=tmp_path).strip().endswith("ok")


@pytest.mark.parametrize("imports", ["import jax\nimport rnnjax as rj\n", "import rnnjax as rj\nimport jax\n"])
def test_the_first_run_uses_every_core_whatever_the_import_order(imports):
    out = python(
        imports + "r = rj.run(rj.Config(seeds=2, epochs=5, hidden=8))\n"
        "print(len(jax.devices('cpu')), r.loss.shape, r.forecast.shape, jax.tree.leaves(r.params)[0].shape[0])"
    )
    cores = len(os.sched_getaffinity(0))
    assert out.split() == [str(cores), "(2,", "5)", "(2,", "180)", "2"]


def test_analysis_modules_do_not_import_jax():
    out = python(
        "import sys\nimport rnnjax.study.metrics, rnnjax.study.stats, rnnjax.study.plots, rnnjax.study.report\n"
        "import rnnjax.study.results\nprint('jax' in sys.modules)"
    )
    assert out.strip() == "False"


@pytest.mark.parametrize("module", ["rnnjax", "rnnjax.study.stats", "rnnjax.study.metrics", "rnnjax.study.results"])
def test_importing_changes_nothing(module):
    out = python(
        f"import os, sys\nflags, before = os.environ.get('XLA_FLAGS'), dict(os.environ)\nimport {module}\n"
        "print('jax' in sys.modules, os.environ.get('XLA_FLAGS') == flags, dict(os.environ) == before)"
    )
    assert out.split() == ["False", "True", "True"]


def test_reading_and_drawing_keep_the_matplotlib_backend(finished_run, tmp_path):
    code = f"""
import matplotlib
matplotlib.use("svg")
from pathlib import Path
import rnnjax as rj
from rnnjax.study import plots
folder = rj.load_run({str(finished_run)!r})
print(matplotlib.get_backend())
plots.loss_figure({{name: points[0] for name, points in folder.results.items()}}, Path({str(tmp_path)!r}))
print(matplotlib.get_backend())
"""
    assert python(code).split() == ["svg", "svg"]
    assert (tmp_path / "loss.png").stat().st_size > 0 and (tmp_path / "loss.svg").stat().st_size > 0


def test_a_finished_folder_reads_back_with_its_trained_params(finished_run):
    import rnnjax as rj

    out = finished_run
    folder = rj.load_run(out)
    history, forecasts = np.load(out / "history.npz"), np.load(out / "forecasts.npz")
    for name in ("gru", "lstm"):
        (r,) = folder[name]
        np.testing.assert_array_equal(r.loss, history[f"{name}_loss"])
        np.testing.assert_array_equal(r.forecast, forecasts[name])
        again = rj.forecast(r.cfg, r.params)
        np.testing.assert_allclose(again, forecasts[name], rtol=1e-6, atol=1e-7)


TINY = {"seeds": 2, "epochs": 4, "hidden": 4, "horizon": 20}


def test_a_run_folder_from_python_resumes_and_redraws_byte_identically(tmp_path):
    """rj.run_study(study, folder=F): the scripts' folder, resumable by rj.run_study and by the
    script, whose report rj.report redraws from the saved arrays byte for byte."""
    import scripts

    import rnnjax as rj
    from rnnjax.study import folders

    cfg = rj.Config(**TINY)
    study = rj.Study({"gru": cfg}, rj.make_grid(cfg))
    whole = tmp_path / "whole"
    results = rj.run_study(study, folder=str(whole), chunk=2)  # a str folder, as a path is
    assert list(results) == ["gru"] and results["gru"][0].loss.shape == (2, 4)
    written = {name: (whole / name).read_bytes() for name in ("report.md", "summary.json", "loss.svg")}
    for name in written:
        (whole / name).unlink()
    rj.report(whole)
    assert {name: (whole / name).read_bytes() for name in written} == written

    class Kill:  # the runner's monitor: a kill after the first chunk's checkpoint
        def start_model(self, *a):
            pass

        def chunk(self, unit, progress):
            raise KeyboardInterrupt

        def end_model(self, *a):
            pass

    for name, resume in {
        "api": lambda out: rj.run_study(study, folder=out),
        "script": lambda out: scripts.load("gru_vs_lstm").main(["--resume", str(out), "--no-compile-cache"]),
    }.items():
        out = tmp_path / name
        with pytest.raises(KeyboardInterrupt):
            rj.run_study(study, folder=out, chunk=2, monitor=Kill())
        assert not (out / "metrics.csv").exists()
        if name == "script":
            folders.release(out)  # this process's lock: the script claims it as another run would
        resume(out)
        assert (out / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()
        with pytest.raises(folders.RunDirError, match="is a finished run"):
            rj.run_study(study, folder=out)


def test_a_run_folder_refuses_what_it_could_not_record(tmp_path, monkeypatch):
    import rnnjax as rj
    from rnnjax.study import folders

    monkeypatch.chdir(tmp_path)
    cfg = rj.Config(**TINY)
    with pytest.raises(folders.RunDirError, match="model name '../x' is not allowed"):
        rj.run_study(rj.Study({"../x": cfg}, rj.make_grid(cfg)), folder=tmp_path / "a")
    y = 50 + 40 * np.sin(np.arange(300) / 7)
    array = rj.Config(data=y, **TINY)
    with pytest.raises(folders.RunDirError, match="trains on an array"):
        rj.run_study(rj.Study({"gru": array}, rj.make_grid(array)), folder=tmp_path / "b")
    (tmp_path / "plain.py").write_text("x = 1\n")  # registers nothing, is recorded all the same

    class Kill:
        start_model = end_model = staticmethod(lambda *a: None)

        def chunk(self, unit, progress):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rj.run_study(rj.Study({"gru": cfg}, rj.make_grid(cfg)), tmp_path / "c", monitor=Kill(), imports=["plain.py"])
    (imported,) = json.loads((tmp_path / "c" / "config.json").read_text())["imports"]
    assert imported["given"] == "plain.py" and imported["path"] == str(tmp_path / "plain.py")
    other = cfg.replace(lr=0.1)
    with pytest.raises(folders.RunDirError, match="holds another study"):
        rj.run_study(rj.Study({"gru": other}, rj.make_grid(other)), folder=tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
