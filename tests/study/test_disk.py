"""Room on disk: the estimate holds what a finished run folder takes, and too little free
space is refused in one line before anything is written (scripts, resume and the API)."""

import json
import shutil

import pytest
import scripts

import rnnjax as rj
from rnnjax.study import disk, outputs
from rnnjax.study.grid import single

GRU_VS_LSTM = scripts.load("gru_vs_lstm")


def test_the_estimate_holds_every_file_of_a_finished_run(finished_run):
    study = outputs.study_of(outputs.read_record(finished_run))
    have = disk.folder_bytes(finished_run)
    assert (finished_run / "checkpoints").is_dir() and have > 0
    assert disk.needed_bytes(study) >= have
    assert disk.check_room(study, finished_run) == max(0, disk.needed_bytes(study) - have)  # its files reused


@pytest.fixture
def full_disk(monkeypatch):
    """Every file system with 1 MB free: less than any run needs (its figures alone)."""
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(2**30, 2**30, 2**20))


def test_too_little_room_for_a_new_run_is_one_line_before_anything(full_disk, tmp_path, capsys):
    out = tmp_path / "new" / "run"
    with pytest.raises(SystemExit) as stop:
        GRU_VS_LSTM.main(["--seeds", "2", "--epochs", "3", "--hidden", "4", "--out", str(out)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1
    assert f"error: --out {str(out)!r} needs about " in err and "file system has 1 MB free" in err
    assert not (tmp_path / "new").exists()


def test_too_little_room_for_a_resume_is_one_line(finished_run, full_disk, tmp_path, capsys):
    partial = tmp_path / "partial"
    partial.mkdir()
    rec = {k: v for k, v in json.loads((finished_run / "config.json").read_text()).items() if k != "finished"}
    (partial / "config.json").write_text(json.dumps(rec))  # the run as it began: nothing trained yet
    with pytest.raises(SystemExit) as stop:
        GRU_VS_LSTM.main(["--resume", str(partial)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "error: --resume" in err and "free some space there, then resume again" in err


def test_too_little_room_is_refused_by_the_api_too(full_disk, tmp_path):
    study = single(rj.Config(seeds=2, epochs=3, hidden=4))
    with pytest.raises(disk.NoRoom, match="needs about .* MB"):
        rj.run_study(study, folder=str(tmp_path / "api"))
    assert not (tmp_path / "api").exists()


def test_the_runs_already_under_runs_are_no_room_for_a_new_one(full_disk, tmp_path, monkeypatch, capsys):
    """Without --out, the size of every earlier run under runs/ was counted as room reused."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "old").mkdir(parents=True)
    with open(tmp_path / "runs" / "old" / "history.npz", "wb") as f:
        f.truncate(2**30)  # an earlier run's gigabyte (sparse)
    with pytest.raises(SystemExit) as stop:
        GRU_VS_LSTM.main(["--seeds", "2", "--epochs", "3", "--hidden", "4"])
    assert stop.value.code == 2 and "file system has 1 MB free" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["old"]
