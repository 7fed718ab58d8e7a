"""Two finished experiments compared seed by seed (study/compare.py, experiments/compare.py)."""

import csv
import hashlib
import json
import shutil

import pytest
import scripts

from rnnjax.study import compare, folders, outputs

COMPARE = scripts.load("compare")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_pairs_each_models_seeds_and_leaves_out_diverged_ones(finished_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(finished_run, other, ignore=shutil.ignore_patterns("checkpoints"))
    rows = _rows(other / "metrics.csv")
    for row in rows:
        if row["model"] == "gru":
            row["forecast_rmse"] = str(float(row["forecast_rmse"]) - 0.25)  # b better by 0.25 on every seed
        if row["model"] == "lstm" and row["seed"] == "1":
            row["diverged"] = "True"
    _write(other / "metrics.csv", rows)
    rec = json.loads((other / "config.json").read_text())  # planted as a run would have written it
    rec["outputs_sha256"]["metrics.csv"] = hashlib.sha256((other / "metrics.csv").read_bytes()).hexdigest()
    (other / "config.json").write_text(json.dumps(outputs.sealed(rec)))
    got = compare.compare(finished_run, other, "forecast_rmse")
    assert set(got) == {"gru", "lstm"}
    assert got["gru"]["pairs"] == 2 and got["gru"]["median_diff"] == pytest.approx(0.25)
    assert got["gru"]["paired_fraction"] == 0.0  # a (the first folder) is never the better one
    assert got["lstm"]["pairs"] == 1 and got["lstm"]["median_diff"] == 0.0


def test_runs_whose_seeds_do_not_pair_are_refused(finished_run, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(finished_run, other, ignore=shutil.ignore_patterns("checkpoints"))
    rec = json.loads((other / "config.json").read_text())
    rec["models"]["gru"]["seed"] = 7
    (other / "config.json").write_text(json.dumps(outputs.sealed(rec)))  # as a run with seed 7 would have
    with pytest.raises(folders.RunDirError, match="differs in seed for gru"):
        compare.compare(finished_run, other, "mase")
    with pytest.raises(SystemExit) as stop:
        COMPARE.main([str(finished_run), str(other)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and "differs in seed" in err


def test_the_script_prints_a_row_per_model(finished_run, capsys):
    COMPARE.main([str(finished_run), str(finished_run), "--metric", "mase"])
    out = capsys.readouterr().out
    assert "| gru | 0 " in out and "| lstm | 0 " in out


def test_a_folder_whose_config_was_edited_is_refused(finished_run, tmp_path, capsys):
    """Its seed edited, the folder no longer pairs as it ran: refused as edited, not compared."""
    other = tmp_path / "other"
    shutil.copytree(finished_run, other, ignore=shutil.ignore_patterns("checkpoints"))
    rec = json.loads((other / "config.json").read_text())
    rec["models"]["gru"]["seed"] = 7
    (other / "config.json").write_text(json.dumps(rec))
    with pytest.raises(SystemExit) as stop:
        COMPARE.main([str(finished_run), str(other)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "has a config.json that changed since the run finished" in err
