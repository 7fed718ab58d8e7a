"""A study run into a run folder: the one composition the scripts and
`rj.run_study(study, folder=...)` share. config.json first (so that the run can be resumed),
the runner over the folder's checkpoints, then every output; and `rj.report(folder)`, which
redraws a finished folder's report, summary and figures from its saved arrays, without
training, byte for byte as the run wrote them."""

import json
import time
from pathlib import Path
from typing import NamedTuple

from rnnjax.scaling import runtime
from rnnjax.study import checkpoint, disk, folders, outputs, runner, user_code
from rnnjax.study.grid import Study, check_study, is_model_name
from rnnjax.study.results import Result


class Trained(NamedTuple):
    results: dict[str, list[Result]]  # {model: [Result per grid point]}
    wall_s: float  # the training's wall time, this process's part of it (a resume: since resuming)


def kind_of(study: Study) -> str:
    """An experiment has one grid point (or one per backtest origin); anything else is a sweep."""
    return "experiment" if set(study.grid.swept) <= {"fold"} else "sweep"


def new(study: Study, folder: str | Path | None) -> Path:
    """A new or empty run folder for `study`, claimed (`folders.make_run_dir`); refused
    (RunDirError) before anything is written if a model's name could not be a path in it, or
    its data is an array a resume could not read back."""
    for name, cfg in study.configs.items():
        if not is_model_name(name, cfg.cell, cfg.hidden):
            raise folders.RunDirError(
                f"model name {name!r} is not allowed in a run folder: name a model by its cell ({cfg.cell!r}), "
                f"or {cfg.cell}-{cfg.hidden} to tell sizes apart"
            )
        if not isinstance(cfg.data, str):
            raise folders.RunDirError(
                f"model {name!r} trains on an array, which a run folder cannot record: save it "
                "(numpy.save('series.npy', y)) and give Config(data='series.npy')"
            )
    return folders.make_run_dir(folder)


def begin(out: Path, study: Study, command: str, imports: list[dict] = (), kind: str | None = None, **extra) -> dict:
    """Write `study`'s config.json in the new folder `out` (`outputs.record` of `kind`,
    default `kind_of(study)`, with `extra`: chunk, seed_chunk, processes, ...) and return it;
    a RunDirError if it cannot be written."""
    rec = outputs.record(kind or kind_of(study), study, command, imports, **extra)
    try:
        folders.write_json(out / "config.json", rec)
    except OSError as err:  # a full disk, a file-size limit: a RunDirError (one line), as for the folder itself
        raise folders.RunDirError(f"{str(out)!r}: its config.json cannot be written: {err.strerror}") from None
    return rec


def reopen(folder: str | Path, study: Study | None = None) -> tuple[Path, dict]:
    """An unfinished run folder and its record (its recorded imports imported again), claimed;
    a RunDirError (one line) if it is finished, or holds another study than `study`."""
    out = Path(folder)
    rec = outputs.read_record(out)
    if rec.get("finished"):
        raise folders.RunDirError(f"{str(out)!r} is a finished run: read it with rj.load_run, or give a new folder")
    if study is not None:
        ours = json.loads(json.dumps({name: cfg.as_dict() for name, cfg in study.configs.items()}))
        if ours != rec["models"] or study.grid.points != outputs.study_of(rec).grid.points:
            raise folders.RunDirError(f"{str(out)!r} holds another study (other models, configs or grid points)")
    folders.claim(out)
    return out, rec


def record_import_changes(out: Path, rec: dict) -> list[str]:
    """After a resume that accepted changed imports (`user_code.accept_changes`: given
    again), record their new sources in config.json (each import's "sha256", and the earlier
    ones under "replaced"), so that the folder says what code finished it; the imports that
    changed, as given."""
    updated = {u["path"]: u for u in user_code.changed(rec.get("imports", []))}
    if updated:
        rec["imports"] = [updated.get(i["path"], i) for i in rec["imports"]]
        folders.write_json(out / "config.json", rec)
    return [u["given"] for u in updated.values()]


def train(out: Path, rec: dict, chunk: int | None = None, monitor=None, devices=None) -> Trained:
    """The runner over `out`'s checkpoints (resuming from what is there), `chunk` epochs per
    compiled chunk (default: the run's own; any value gives the same numbers); refused
    (CheckpointError) under another environment than the run's (`folders.environment_change`)."""
    change = folders.environment_change(rec["environment"])
    if change is not None:  # a resume elsewhere: its checkpoints' numbers and the rest would differ unrecorded
        raise checkpoint.CheckpointError(
            f"the run was made under another environment ({change}): resumed here, its numbers would mix "
            "two; resume it where it ran, or start a new run"
        )
    start = time.perf_counter()
    chunk = rec["chunk"] if chunk is None else chunk
    results = runner.run_study(outputs.study_of(rec), out, chunk, rec.get("seed_chunk"), monitor, devices)
    return Trained(results, time.perf_counter() - start)


def write(out: Path, rec: dict, trained: Trained) -> dict:
    """Every output of the run's kind, config.json last (marked finished); returns the summary."""
    writer = outputs.write_experiment if rec["kind"] == "experiment" else outputs.write_sweep
    return writer(out, rec, trained.results, trained.wall_s)


def run_study(
    study: Study,
    folder: str | Path | None = None,
    chunk: int | None = None,
    seed_chunk: int | None = None,
    monitor: runner.Monitor | None = None,
    devices=None,
    imports: tuple[str, ...] = (),
) -> dict[str, list[Result]]:
    """Train, forecast and score every model of `study`: {model: [Result per grid point]}.
    With `folder`, the run folder the scripts write (config.json, metrics.csv, history,
    forecasts and params, summary.json, report.md, figures, checkpoints): a new or empty
    folder starts, an unfinished one resumes (here, or with the scripts' --resume).
    `imports` (files or module names that register the study's own cells, series or
    metrics, already imported) are recorded, for a resume and `load_run` to import again.
    A folder whose file system has less free space than the run needs is refused
    (`disk.NoRoom`, a RunDirError) before anything is written."""
    records = user_code.load_all(list(imports))
    if folder is None:
        return runner.run_study(study, None, chunk, seed_chunk, monitor, devices)
    runtime.use_all_cores()  # before anything below starts JAX: one host device per core
    check_study(study)
    disk.check_room(study, folder)  # before anything is written: a full disk costs no training
    if (Path(folder) / "config.json").exists():
        out, rec = reopen(folder, study)
    else:
        out = new(study, folder)
        command = f"rj.run_study(study, folder={str(folder)!r})"
        rec = begin(out, study, command, records, chunk=chunk, seed_chunk=seed_chunk, processes=1)
    trained = train(out, rec, chunk, monitor, devices)
    write(out, rec, trained)
    return trained.results


def report(folder: str | Path) -> dict:
    """Redraw a finished experiment's or sweep's report.md, summary.json and figures from its
    saved arrays and config.json, without training (its recorded imports imported again);
    returns the summary. A RunDirError (one line) if the folder is not a finished run."""
    out = Path(folder)
    loaded = outputs.load_run(out)
    rec = outputs.read_record(out)
    writer = outputs.write_experiment_report if loaded.kind == "experiment" else outputs.write_sweep_report
    return writer(out, rec, loaded.results)
