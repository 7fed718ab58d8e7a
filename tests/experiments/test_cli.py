"""Every bad input: exit status 2, one line naming the value and what is allowed, no traceback,
before anything trains."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scripts

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "gru_vs_lstm.py"


GRU_VS_LSTM = scripts.load("gru_vs_lstm")


@pytest.fixture
def folders(tmp_path):
    """A non-empty folder, a finished run, a folder that is no run, a run to resume."""
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("keep me")
    (tmp_path / "empty").mkdir()
    point = {"hidden": 8, "window": 20, "lr": 0.01, "momentum": 0.0, "tau": 5.0}
    record = {
        "kind": "experiment",
        "command": "c",
        "models": {"gru": {"cell": "gru", "epochs": 60, "hidden": 8}},
        "grid": [point],
        "swept": [],
        "chunk": None,
        "processes": 1,
    }
    old = {k: v for k, v in record.items() if k != "kind"}
    evil = record | {"models": {"../../../x": {"cell": "gru", "epochs": 60, "hidden": 8}}}
    runs = {
        "partial": record,
        "finished": record | {"finished": True},
        "sweep": record | {"kind": "sweep"},
        "old": old,
        "evil": evil,
        "chunk0": record | {"chunk": 0},
        "nogrid": record | {"grid": []},
        "misnamed": record | {"models": {"gru-20": {"cell": "gru", "epochs": 60, "hidden": 8}}},
    }
    for name, rec in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(rec))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    files = {
        "empty.csv": "",
        "header.csv": "t,y\n",
        "words.csv": "y\n1\n2\nabc\n",
        "nan.csv": "y\n1\nnan\n3\n",
        "two.csv": "a,b\n1,2\n3,4\n",
        "nanb.csv": "a,b\n1,2\n3,4\n5,nan\n6,7\n",
        "ragged.csv": "a,b\n1,2\n3\n",
        "const.csv": "y\n" + "1.5\n" * 250,
        "gap.csv": "t,y\n" + "".join(f"{i},{'' if i == 7 else i % 5}\n" for i in range(250)),
        "dup.csv": "y,y\n" + "1,2\n" * 250,
        "bigfield.csv": "y\n" + "1" * 140_000 + "\n2\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    np.save(tmp_path / "matrix.npy", np.zeros((3, 2, 2)))
    (tmp_path / "text.npy").write_text("hello\n")
    np.save(tmp_path / "objects.npy", np.array([1.0, "two", None], dtype=object), allow_pickle=True)
    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "linked.dat").write_text("y\n" + "".join(f"{i % 7}\n" for i in range(80)))
    os.symlink(tmp_path / "linked.dat", tmp_path / "link.csv")
    np.save(tmp_path / "short.npy", np.sin(np.arange(60) / 3))
    (tmp_path / "bad_cells.py").write_text("x = 1\ny = 2\nz = q + 1\n")
    (tmp_path / "taken.py").write_text('from rnnjax.core.cells import CELLS\nCELLS["gru"] = CELLS["lstm"]\n')
    (tmp_path / "plain.py").write_text("x = 1\n")
    imported = {"module": "rnnjax_user_plain", "given": "plain.py", "path": str(tmp_path / "plain.py")}
    for name, rec in {
        "edited": imported | {"sha256": "0" * 64},
        "lost": imported | {"path": str(tmp_path / "lost.py"), "sha256": "0" * 64},
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(record | {"imports": [rec]}))
    changed = record["models"]["gru"] | {"data": str(tmp_path / "short.npy"), "data_sha256": "0" * 64}
    (tmp_path / "changed").mkdir()
    (tmp_path / "changed" / "config.json").write_text(json.dumps(record | {"models": {"gru": changed}}))
    return tmp_path


BAD = [
    (["--window", "300"], "window=300"),
    (["--window", "0"], "window=0"),
    (["--n-points", "1"], "n_points=1"),
    (["--epochs", "0"], "epochs=0"),
    (["--epochs", "ten"], "'ten'"),
    (["--epochs", "2.5"], "'2.5'"),
    (["--lr", "nan"], "'nan'"),
    (["--lr", "inf"], "'inf'"),
    (["--lr", "-1"], "lr=-1.0"),
    (["--lr", "0"], "lr=0.0"),
    (["--batch-size", "-1"], "batch_size=-1"),
    (["--batch-size", "0"], "batch_size=0"),
    (["--seeds", "0"], "seeds=0"),
    (["--seed", "-1"], "seed=-1"),
    (["--hidden", "0"], "hidden=0"),
    (["--horizon", "0"], "horizon=0"),
    (["--models", "gru,cnn"], "cell='cnn'"),
    (["--models", "gru,gru"], "twice"),
    (["--models", ""], "--models '' is not allowed"),
    (["--models", "gru:"], "--models 'gru:' is not allowed: registered cells"),
    (["--models", "gru:40,lstm:x"], "cell:hidden (an integer >= 1)"),
    (["--models", "gru:0"], "--models 'gru:0' is not allowed"),
    (["--models", "gru:4:5"], "--models 'gru:4:5' is not allowed"),
    (["--models", "gru,gru:40"], "names gru twice: give each its own size"),
    (["--models", "gru:20,gru:20"], "names a model twice"),
    (["--models", "lstm:8,cnn:4"], "cell='cnn'"),
    (
        ["--models", "lru", "--recurrent-dropout", "0.2"],
        "recurrent_dropout=0.2 is not allowed: must be 0 for cell='lru'",
    ),
    (["--forecast-mode", "magic"], "forecast_mode='magic'"),
    (["--init", "he"], "init='he'"),
    (["--series", "square"], "series='square'"),
    (["--val-fraction", "0"], "val_fraction=0.0"),
    (["--val-fraction", "1"], "val_fraction=1.0"),
    (["--tau", "0"], "tau=0.0"),
    (["--x-stop", "-1"], "x_stop=-1.0"),
    (["--shuffle", "maybe"], "'maybe'"),
    (["--chunk", "0"], "--chunk 0"),
    (["--no-such-flag"], "--no-such-flag"),
    (["--out", "{tmp}/full"], "not empty"),
    (["--out", "/proc/version"], "is a file"),
    (["--out", "/proc/version/run"], "cannot be written"),
    (["--out", "/proc/rnnjax_run"], "cannot be written"),  # not "0 MB free": /proc has no disk
    (["--resume", "{tmp}/missing"], "not a folder"),
    (["--resume", "{tmp}/empty"], "not a run folder"),
    (["--resume", "{tmp}/broken"], "unreadable config.json"),
    (["--resume", "{tmp}/finished"], "finished run"),
    (["--resume", "{tmp}/old"], "written by an older rnnjax"),
    (["--resume", "{tmp}/evil"], "naming model '../../../x': not a registered cell"),
    (["--hidden", "100000"], "of it is the training state (--seeds, --hidden, --layers): reduce those\n"),
    # the cause named, and no flag the experiment does not have (--seed-chunk is the sweep's)
    (
        ["--epochs", "100000000", "--seeds", "64"],
        "is the histories and forecasts (--seeds, --epochs, --horizon): reduce those\n",
    ),
    (["--hidden", "100000000000"], "hidden=100000000000 is not allowed: must be an integer between 1 and"),
    (["--resume", ""], "--resume '' is not a folder"),
    (["--resume", "{tmp}/chunk0"], "unreadable config.json"),
    (["--resume", "{tmp}/nogrid"], "unreadable config.json"),
    (["--out", "{tmp}/" + "a" * 300], "File name too long"),
    (["--seeds", "100000000"], "needs about"),
    (["--n-points", "1000000000"], "the series and its windows (--n-points, --horizon, --window)"),
    (["--resume", "{tmp}/sweep"], "written by a sweep"),
    (["--resume", "{tmp}/partial", "--out", "{tmp}/x"], "cannot be used together"),
    (["--resume", "{tmp}/partial", "--models", "lstm"], "differs from the run's models"),
    (["--resume", "{tmp}/partial", "--models", "gru:9"], "differs from the run's models gru (hidden 8)"),
    (["--resume", "{tmp}/misnamed"], "naming model 'gru-20': not a registered cell"),
    (["--resume", "{tmp}/partial", "--lr", "0.5"], "lr (0.5 here, 0.01 in the run)"),
    (["--resume", "{tmp}/partial", "--optimizer", "adam"], "optimizer ('adam' here, 'sgd' in the run)"),
    (["--resume", "{tmp}/partial", "--schedule", "cosine"], "schedule ('cosine' here, 'constant' in the run)"),
    (["--data", "{tmp}/missing.csv"], "data='{tmp}/missing.csv' cannot be read: No such file"),
    (["--data", "{tmp}/empty.csv"], "is empty"),
    (["--data", "{tmp}/header.csv"], "has a header but no values"),
    (["--data", "{tmp}/words.csv"], "column 'y' has 'abc' at row 4"),
    (["--data", "{tmp}/nan.csv"], "has nan at row 3"),
    (
        ["--data", "{tmp}/two.csv"],
        "2 numeric columns: choose one with column=NAME or a 0-based index; columns: 'a', 'b'",
    ),
    (["--data", "{tmp}/two.csv", "--column", "c"], "column='c' is not in"),
    (["--data", "{tmp}/ragged.csv"], "row 3 has 1 fields"),
    (["--data", "{tmp}/matrix.npy"], "shape (3, 2, 2)"),
    (
        ["--data", "{tmp}/short.npy", "--protocol", "notebook"],
        "horizon=180 is not allowed: the forecast must fit inside",
    ),
    (["--data", "{tmp}/short.npy", "--horizon", "30", "--window", "59"], "too short"),
    (["--data", "{tmp}/const.csv"], "is constant (1.5)"),
    (["--data", "{tmp}"], "is a folder"),
    (["--data", "{tmp}/full/x.txt"], "must be a .csv or .npy file"),
    (["--data", "{tmp}/short.npy", "--n-points", "50", "--horizon", "30"], "n_points=50 is not allowed"),
    (["--data", "{tmp}/short.npy", "--n-points", "200", "--horizon", "30"], "n_points=200 is not allowed"),
    (["--data", ""], "--data '' is not allowed"),
    (["--data", "{tmp}/short.npy", "--series", "lorenz", "--horizon", "30"], "series='lorenz' is not allowed"),
    (["--data", "{tmp}/short.npy", "--series", "damped_cos", "--horizon", "5"], "--series is not used with --data"),
    (["--series", "lorenz", "--tau", "3"], "--tau is not used with --series lorenz"),
    (["--series", "mackey_glass", "--x-stop", "30"], "--x-stop is not used"),
    (["--series", "lorenz", "--x-start", "1e9"], "integration steps"),
    (["--noise", "1e300"], "noise=1e+300 reaches"),
    (["--data", "{tmp}/gap.csv"], "2 numeric columns"),
    (["--data", "{tmp}/gap.csv", "--column", "y"], "column 'y' has '' at row 9"),
    (["--data", "{tmp}/dup.csv", "--column", "y"], "names 2 columns"),
    (["--data", "{tmp}/two.csv", "--column", "\u00b2"], "is not in"),
    (["--data", "{tmp}/bigfield.csv"], "not a readable CSV file"),
    (["--data", "{tmp}/fifo.csv"], "not a regular file"),
    (["--column", "y"], "no data is given"),
    (["--noise", "-0.1"], "noise=-0.1"),
    (["--normalize", "zscore"], "normalize='zscore'"),
    (["--spacing", "-1"], "spacing=-1.0"),
    (["--series", "lorenz", "--x-start", "-1"], "x_start=-1.0"),
    (["--resume", "{tmp}/changed"], "has changed"),
    (["--baselines", "naive"], "--baselines is used with --protocol holdout or backtest only"),
    (["--protocol", "holdout", "--data", "{tmp}/short.npy", "--baselines", "seasonal"], "needs a season"),
    (["--protocol", "holdout", "--data", "{tmp}/short.npy", "--baselines", "naive,cnn"], "distinct names from naive"),
    (["--primary", "final_loss"], "--primary 'final_loss' is not allowed: one of forecast_rmse"),
    (["--protocol", "future"], "protocol='future' is not allowed: must be one of auto, notebook, holdout, backtest"),
    (["--test", "10"], "test=10 is not allowed: is used with protocol='holdout' only"),
    (["--protocol", "holdout", "--data", "{tmp}/short.npy", "--test", "55"], "test=55 is not allowed: leaves 5 of 60"),
    (
        ["--protocol", "holdout", "--data", "{tmp}/short.npy", "--test", "10", "--horizon", "11"],
        "at most the test span",
    ),
    (["--protocol", "holdout", "--data", "{tmp}/short.npy", "--season", "1"], "season=1 is not allowed"),
    (["--optimizer", "adamax"], "optimizer='adamax'"),
    (["--schedule", "step"], "schedule='step'"),
    (["--optimizer", "adam", "--beta-1", "1"], "beta_1=1.0"),
    (["--optimizer", "adam", "--beta-2", "-0.1"], "beta_2=-0.1"),
    (["--optimizer", "adam", "--epsilon", "nan"], "'nan'"),
    (["--optimizer", "rmsprop", "--rho", "1.5"], "rho=1.5"),
    (["--optimizer", "adamw", "--weight-decay", "-1"], "weight_decay=-1.0"),
    (["--optimizer", "adam", "--weight-decay", "0.1"], "optimizer='adam' does not use it (used by adamw)"),
    (["--momentum", "0.9", "--optimizer", "adam"], "momentum=0.9"),
    (["--clipnorm", "-1"], "clipnorm=-1.0"),
    (["--clipnorm", "1", "--clipvalue", "1"], "at most one kind of clipping"),
    (["--decay-rate", "0.5"], "schedule='constant' does not use it"),
    (["--schedule", "cosine", "--alpha", "2"], "alpha=2.0"),
    (["--patience", "-1"], "patience=-1"),
    (["--patience", "5", "--val-fraction", "0"], "val_fraction=0.0"),
    (["--restore-best", "maybe"], "'maybe'"),
    (["--dropout", "1"], "dropout=1.0"),
    (["--recurrent-dropout", "-0.2"], "recurrent_dropout=-0.2"),
    (["--layers", "0"], "layers=0"),
    (["--layers", "100000"], "layers=100000"),
    (["--optimizer", "adam", "--epsilon", "1e-300"], "epsilon=1e-300"),  # float32 would flush it to 0
    (["--optimizer", "adam", "--beta-1", "0.99999999"], "beta_1=0.99999999"),  # float32 rounds it to 1
    (["--dropout", "0.99999999"], "dropout=0.99999999"),
    (["--patience", "1", "--min-delta", "1e300"], "min_delta=1e+300"),
    (["--min-delta", "0.5"], "min_delta=0.5"),  # early stopping's, without early stopping
    (["--patience", "3000000000"], "patience=3000000000"),
    (["--models", "gru:4", "--hidden", "20"], "--hidden 20 is not used"),
    # #22: sizes past int32, numbers past float, an unused seed, a pickled array
    (["--seeds", str(2**70)], "seeds=1180591620717411303424 is not allowed: must be an integer between 1 and"),
    (["--epochs", str(2**62)], "epochs=4611686018427387904 is not allowed"),
    (["--lr", "1e400"], "'1e400'"),
    (["--noise-seed", "3"], "--noise-seed is not used without --noise"),
    (["--data", "{tmp}/objects.npy"], "holds Python objects (a pickled array), which rnnjax never loads"),
    (["--data", "{tmp}/text.npy"], "is not a .npy file (no NumPy header)"),  # it was called a pickled array
    # several channels: unknown or repeated columns and channels, targets not among the inputs
    (["--data", "{tmp}/two.csv", "--columns", "a,c"], "columns='c' is not in"),
    (["--data", "{tmp}/two.csv", "--columns", "a,a"], "names 'a' twice"),
    (["--data", "{tmp}/two.csv", "--column", "a", "--columns", "a,b"], "give one or the other"),
    (["--data", "{tmp}/short.npy", "--columns", "0"], "not allowed with a .npy file"),
    (["--columns", "a,b"], "no data is given"),
    (["--series", "lorenz", "--channels", "x,w"], "'w' is not a channel of lorenz"),
    (["--series", "lorenz", "--channels", "x,y", "--targets", "z"], "'z' is not among the input channels"),
    (["--channels", "x"], "series='damped_cos' has one channel"),
    (["--data", "{tmp}/two.csv", "--channels", "a"], "not used with data"),
    (["--data", "{tmp}/nanb.csv", "--columns", "a,b"], "has nan at row 4, column 'b'"),
    (
        ["--import", "{tmp}/bad_cells.py", "--models", "gru,mycell"],
        "error: --import {tmp}/bad_cells.py failed: NameError: name 'q' is not defined (bad_cells.py line 3)",
    ),
    (["--import", "{tmp}/taken.py"], "registers cell 'gru', a name already taken (built into rnnjax)"),
    (["--import", "{tmp}/none.py"], "--import {tmp}/none.py failed: no such file"),
    (["--import", "no_such_cells"], "failed: ModuleNotFoundError: No module named 'no_such_cells'"),
    (["--import"], "--import: expected one argument"),
    (["--resume", "{tmp}/edited"], "its --import plain.py ('{tmp}/plain.py') has changed since the run"),
    (["--resume", "{tmp}/lost"], "its --import plain.py is missing ('{tmp}/lost.py')"),
    (["--resume", "{tmp}/partial", "--import", "{tmp}/plain.py"], "differs from the run's imports (none)"),
]


@pytest.mark.parametrize("args, named", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(args, named, folders, capsys, monkeypatch):
    monkeypatch.setattr(GRU_VS_LSTM.cli, "run_with_progress", lambda *a, **k: pytest.fail("bad input reached training"))
    monkeypatch.setattr(GRU_VS_LSTM.cli, "compile_cache", lambda off: None)  # no persistent cache for this worker
    argv = [a.replace("{tmp}", str(folders)) for a in args]
    with pytest.raises(SystemExit) as stop:
        GRU_VS_LSTM.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert named.replace("{tmp}", str(folders)) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (folders / "full" / "x.txt").read_text() == "keep me"
    assert not (folders / "x").exists()


def test_models_are_named_by_their_cell_and_a_size_only_when_needed():
    from argparse import Namespace

    from rnnjax.study.cli import models_from_args

    assert models_from_args(Namespace(models=None)) == {"gru": {"cell": "gru"}, "lstm": {"cell": "lstm"}}
    sized = {"gru": {"cell": "gru", "hidden": 40}, "lstm": {"cell": "lstm", "hidden": 34}}
    assert models_from_args(Namespace(models="gru:40,lstm:34")) == sized
    # a name is a path in the run folder (checkpoints/<model>/): no colon, and one per model
    assert list(models_from_args(Namespace(models="gru:20,gru:40,lstm"))) == ["gru-20", "gru-40", "lstm"]


def test_a_linked_data_file_is_read_by_its_own_name(folders):
    """A link named .csv to a .dat file is a CSV: the name given decides, and is what the
    run records (made absolute, not resolved)."""
    args = GRU_VS_LSTM.parse(["--data", str(folders / "link.csv"), "--horizon", "30"])
    cfg = GRU_VS_LSTM.cli.config_from_args(args, cell="gru")
    assert cfg.data == str(folders / "link.csv") and cfg.length == 80


def test_as_a_process_too():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--lr", "nan"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "'nan'" in proc.stderr


def test_the_ctrl_c_handler_lives_only_while_training():
    import signal

    from rnnjax.study import cli

    before = signal.getsignal(signal.SIGINT)
    with cli.CtrlC() as ctrl_c:
        assert signal.getsignal(signal.SIGINT) == ctrl_c._handler
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_a_bad_host_device_count_is_refused(value):
    env = {**__import__("os").environ, "RNNJAX_HOST_DEVICES": value}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"RNNJAX_HOST_DEVICES={value!r}" in proc.stderr and "integer >= 1" in proc.stderr


@pytest.mark.parametrize("tty", [False, True], ids=["log", "terminal"])
def test_progress_is_a_bar_on_a_terminal_and_a_line_per_chunk_elsewhere(tty, capsys, monkeypatch):
    from rnnjax.core.config import Config
    from rnnjax.core.train import History, Progress
    from rnnjax.study import cli
    from rnnjax.study.runner import Unit

    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    units = [Unit("gru", 0, 3, 3), Unit("gru", 3, 5, 3)]  # two programs: the lines say which runs
    bars = cli.Bars(cli.CtrlC())
    bars.start_model("gru", Config(epochs=10), units, dict.fromkeys(units, 0))
    loss = np.array([[0.5, 0.2], [0.5, 0.4], [0.5, np.nan]])  # a diverged run is left out of the median
    bars.chunk(units[0], Progress(2, History(loss, loss + 0.1), None, 0.0))
    bars.chunk(units[1], Progress(2, History(loss[:2], loss[:2] + 0.1), None, 0.0))
    bars.end_model("gru", None, None)
    err = capsys.readouterr().err
    if tty:
        assert "\r" in err and "gru: 5 runs in 2 programs" in err and "median_loss=0.3" in err
    else:
        assert "\r" not in err
        lines = [line.rsplit("  ", 1)[0] for line in err.splitlines()]  # the elapsed seconds vary
        assert lines == [
            "gru  runs 0-2  epoch 2/10  median loss 0.3  val 0.4",
            "gru  runs 3-4  epoch 2/10  median loss 0.3  val 0.4",
        ]


@pytest.mark.parametrize("script", ["gru_vs_lstm", "sweep"])
def test_help_names_the_choices_of_every_registry_backed_flag(script, capsys, monkeypatch):
    from rnnjax.core.cells import CELLS
    from rnnjax.study import cli

    monkeypatch.setenv("COLUMNS", "2000")  # one line per flag
    module = scripts.load(script)
    monkeypatch.setitem(CELLS, "mycell", CELLS["gru"])  # registered by user code after the script loaded
    with pytest.raises(SystemExit) as done:
        module.parse(["--help"])
    assert done.value.code == 0
    blocks = re.split(r"\n(?=  -)", capsys.readouterr().out)  # a flag's block: its line(s) of help
    help_of = {words[0]: " ".join(words[1:]) for words in map(str.split, blocks)}
    for field, names in cli.choices().items():
        flag = "--models" if field == "cell" else "--" + field.replace("_", "-")
        assert ", ".join(names) in help_of[flag], (flag, help_of[flag])
    assert "mycell" in help_of["--models"]
    if script == "gru_vs_lstm":
        assert "naive, seasonal, drift, mean, ar" in help_of["--baselines"]
        assert "forecast_rmse" in help_of["--primary"] and "mase" in help_of["--primary"]


def test_the_choices_the_help_names_are_those_config_allows():
    import dataclasses

    from rnnjax.core.config import Config, ConfigError
    from rnnjax.study import cli

    choices = cli.choices()
    for field in dataclasses.fields(Config):
        if field.type is not str:
            continue
        try:
            Config(**{field.name: "nonsense"})
            refused = ""
        except ConfigError as err:
            refused = str(err)
        if field.name in choices:
            assert refused.endswith("must be one of " + ", ".join(choices[field.name])), refused
        else:
            assert "must be one of" not in refused, f"{field.name} has choices cli.choices() does not list"


ENVIRONMENTS = [
    # JAX_ENABLE_X64 would change every number without a record
    ({"JAX_ENABLE_X64": "1"}, "JAX_ENABLE_X64=1 is not allowed: rnnjax trains in float32"),
    # a platform this machine cannot start (JAX raised a bare AssertionError deep in its bridge)
    ({"JAX_PLATFORMS": "cuda"}, "JAX_PLATFORMS='cuda' cannot start JAX's backend on this machine"),
    # XLA aborted the process printing its whole flag list
    ({"XLA_FLAGS": "--xla_force_host_platform_device_count=abc"}, "must be an integer >= 1 (it is 'abc')"),
    # and aborted in C++ on a flag it does not know
    ({"XLA_FLAGS": "--xla_bogus_flag=1"}, "XLA refuses it (Unknown flag in XLA_FLAGS: --xla_bogus_flag=1)"),
    # values JAX and matplotlib refuse when imported: a ValueError traceback from the script's imports
    ({"JAX_DEFAULT_MATMUL_PRECISION": "bogus"}, 'Invalid value "bogus" for JAX flag jax_default_matmul_precision'),
    ({"MPLBACKEND": "nonexistent"}, "'nonexistent' is not a valid value for backend"),
]


@pytest.mark.parametrize("env, named", ENVIRONMENTS, ids=[" ".join(e.values()) for e, _ in ENVIRONMENTS])
def test_an_environment_that_cannot_run_is_one_line_before_anything_is_written(tmp_path, env, named):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-2000:]
    assert named in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()
