"""What a run folder holds (README: Run folders, Sweeps), written from a study's Results,
and read back whole by `load_run`.

Both kinds of folder have config.json (written when the run starts, so that it can be
resumed, and again when it has finished), metrics.csv, history.npz, forecasts.npz and
params.npz (every run's trained parameters). An experiment adds summary.json with the
paired comparison and verdicts, report.md and its figures; a sweep adds summary.json per
grid point and its figure.
"""

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rnnjax.core.config import Config, ConfigError
from rnnjax.study import folders, metrics, plots, report, user_code
from rnnjax.study.grid import GRID_FIELDS, Grid, Study, at_point, is_model_name
from rnnjax.study.results import Pooled, Result, Timing

KINDS = ("experiment", "sweep")


def record(kind: str, study: Study, command: str, imports: list[dict] = (), **extra) -> dict:
    """config.json's content when a run starts: what it is, how to resume it, and the user
    code it imported (`user_code.load`'s records), which a resume and `load_run` import again."""
    return {
        "kind": kind,
        "command": command,
        "cwd": os.getcwd(),  # where the command reruns as written (its relative paths)
        "imports": list(imports),
        "models": {name: cfg.as_dict() for name, cfg in study.configs.items()},
        "grid": study.grid.points,
        "swept": list(study.grid.swept),
        **extra,
        "environment": folders.environment(),
    }


def read_record(out: Path) -> dict:
    """A run folder's config.json, or a RunDirError naming what is wrong with it. A finished
    folder's outputs are checked against their record, and its data is read from its own
    copy, wherever the file has gone."""
    try:
        rec = json.loads((out / "config.json").read_text())
        if not isinstance(rec, dict):
            raise TypeError("not an object")
        if rec.get("finished"):
            _check_config(out, rec)  # first: its outputs' checksums are part of it
            _check_outputs(out, rec)
            if (out / DATA_COPY).exists():
                _use_data_copy(out)
        if "kind" not in rec:
            raise folders.RunDirError(f"{str(out)!r} was written by an older rnnjax (no kind in config.json)")
        _check_record(rec)
        user_code.restore(rec.get("imports", []))  # before the models: they may name its cells
        _check_model_names(out, rec["models"])
        study = study_of(rec)
        first = next(iter(study.configs.values()))
        for point in study.grid.points:  # every point a valid config
            first.replace(**point)
        return rec
    except folders.RunDirError:
        raise
    except (ConfigError, user_code.UserCodeError) as err:  # e.g. its data file or imported code changed
        raise folders.RunDirError(f"{str(out)!r} cannot be used: {err}") from None
    except FileNotFoundError:
        raise folders.RunDirError(f"{str(out)!r} is not a run folder (no config.json)") from None
    except (ValueError, KeyError, TypeError, StopIteration, OSError, RecursionError) as err:
        raise folders.RunDirError(f"{str(out)!r} has an unreadable config.json ({type(err).__name__})") from None


def _positive_or_none(value) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)


def _check_record(rec: dict) -> None:
    """The fields a resume reads, with their types: anything else is a damaged record."""
    ok = (
        rec.get("kind") in KINDS
        and isinstance(rec.get("command"), str)
        and isinstance(rec.get("models"), dict)
        and len(rec["models"]) >= 1
        and isinstance(rec.get("grid"), list)
        and len(rec["grid"]) >= 1
        and all(isinstance(p, dict) for p in rec["grid"])  # a knob added since: the config's value (study_of)
        and isinstance(rec.get("swept"), list)
        and "chunk" in rec
        and _positive_or_none(rec["chunk"])
        and _positive_or_none(rec.get("seed_chunk"))
        and isinstance(rec.get("processes"), int)
        and rec["processes"] >= 1
        and isinstance(rec.get("imports", []), list)
        and all(_is_import(i) for i in rec.get("imports", []))
    )
    if not ok:
        raise ValueError("fields missing or of the wrong type")


def _is_import(rec) -> bool:
    return (
        isinstance(rec, dict)
        and all(isinstance(rec.get(k), str) for k in ("module", "given"))
        and all(isinstance(rec.get(k), str | None) for k in ("path", "sha256"))
    )


def _check_model_names(out: Path, models: dict) -> None:
    """Model names become file names (checkpoints): only registered cells, each named as
    `grid.model_name` names it (its cell, or cell-hidden)."""
    from rnnjax.core.cells import CELLS

    for name, fields in models.items():
        ok = isinstance(fields, dict) and fields.get("cell") in CELLS
        if not ok or not is_model_name(name, fields["cell"], fields.get("hidden", Config.hidden)):
            raise folders.RunDirError(f"{str(out)!r} has a config.json naming model {name!r}: not a registered cell")


def study_of(rec: dict) -> Study:
    configs = {name: Config(**fields) for name, fields in rec["models"].items()}
    first = next(iter(configs.values()))
    # a knob added since the run was written has the config's value at every point
    points = [{f: p.get(f, getattr(first, f)) for f in GRID_FIELDS} for p in rec["grid"]]
    return Study(configs, Grid(points, tuple(rec["swept"])))


# what load_run reads, checksummed when the run finishes: a finished folder is read anywhere
# (its data file's values kept in data.npz) and refused whole if any of them was edited
DATA_COPY = "data.npz"
READ_BACK = ("metrics.csv", "history.npz", "forecasts.npz", "params.npz", DATA_COPY)
# config.json's own checksum, of its content (every other field), recorded when the run finishes
CONFIG_SHA = "config_sha256"


def finish_record(out: Path, rec: dict, results: dict[str, list[Result]], wall_s: float) -> None:
    """config.json, last: wall times, the SHA-256 of every file load_run reads, the mark
    that the run has finished, and the SHA-256 of all of that (`sealed`)."""
    _write_data_copy(out, results)
    timing = {name: points[0].timing._asdict() for name, points in results.items()}
    sums = {name: _sha256(out / name) for name in READ_BACK if (out / name).exists()}
    done = {"wall_s": {"total": wall_s} | timing, "outputs_sha256": sums, "finished": True}
    folders.write_json(out / "config.json", sealed(rec | done))


def content_sha256(rec: dict) -> str:
    """The SHA-256 of a record's content: its canonical JSON (keys sorted, no whitespace),
    every field but `CONFIG_SHA`; so reformatting the file keeps it, and any edited value,
    key or type changes it."""
    body = json.loads(json.dumps({k: v for k, v in rec.items() if k != CONFIG_SHA}))  # tuples as lists
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def sealed(rec: dict) -> dict:
    """A finished record with its content's checksum (`content_sha256`): a finished folder
    reads back with the configs, kind and options it ran with, or not at all."""
    return rec | {CONFIG_SHA: content_sha256(rec)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_data_copy(out: Path, results: dict[str, list[Result]]) -> None:
    """The values of every data file the run read (data.npz, by checksum, column and
    columns), so that load_run and rj.report read a finished folder after the file moved."""
    from rnnjax.core.series import source

    copies = {}
    for points in results.values():
        for cfg in {r.cfg for r in points}:
            if isinstance(cfg.data, str) and cfg.data:
                copies[(cfg.data_sha256, cfg.column, cfg.columns)] = source(cfg)
    if copies:
        arrays = {}
        for i, ((sha, column, columns), data) in enumerate(copies.items()):
            arrays |= {f"d{i}_values": data.values, f"d{i}_names": np.array(data.names, dtype=str)}
            arrays[f"d{i}_key"] = np.array([sha, column, columns], dtype=str)
        folders.write_npz(out / DATA_COPY, **arrays)


def _use_data_copy(out: Path) -> None:
    """Make a finished folder's saved data the data its configs name (by checksum)."""
    from rnnjax.core.series import recorded

    try:
        with np.load(out / DATA_COPY) as f:
            for i in range(sum(k.endswith("_key") for k in f.files)):
                sha, column, columns = (str(v) for v in f[f"d{i}_key"])
                names = tuple(str(n) for n in f[f"d{i}_names"])
                recorded.remember(sha, column, columns, f[f"d{i}_values"], names)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise folders.RunDirError(f"{str(out)!r} has a damaged {DATA_COPY} ({type(err).__name__})") from None


SEALED_FROM = (0, 2)  # the rnnjax version from which every finished folder records both checksums


def _version(rec: dict) -> tuple[int, ...]:
    """The rnnjax version that wrote a record, as numbers (() if it does not say)."""
    text = str((rec.get("environment") or {}).get("versions", {}).get("rnnjax") or "")
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _check_config(out: Path, rec: dict) -> None:
    """A finished folder's config.json as it was when it finished (its content's SHA-256):
    an edited config would read its outputs with other configs, or report other numbers
    than its metrics.csv. Folders written before the record are read without the check;
    one of a version that writes it, without it, was edited (the checksum deleted)."""
    missing = [k for k in (CONFIG_SHA, "outputs_sha256") if k not in rec]
    if missing and _version(rec) >= SEALED_FROM:
        raise folders.RunDirError(
            f"{str(out)!r} has a config.json without its {' and '.join(missing)}, which rnnjax "
            f"{'.'.join(map(str, _version(rec)))} writes when a run finishes: it was edited"
        )
    if CONFIG_SHA in rec and rec[CONFIG_SHA] != content_sha256(rec):
        raise folders.RunDirError(
            f"{str(out)!r} has a config.json that changed since the run finished (its content's SHA-256 "
            f"differs from its {CONFIG_SHA}): it was edited"
        )


def _check_outputs(out: Path, rec: dict) -> None:
    """A finished folder's read-back files as they were when it finished (their SHA-256)."""
    for name, sha in (rec.get("outputs_sha256") or {}).items():
        path = out / name
        if not path.exists():
            raise folders.RunDirError(f"{str(out)!r} has no {name}: it cannot be read back")
        if _sha256(path) != sha:
            raise folders.RunDirError(
                f"{str(out)!r} has a {name} that changed since the run finished (its SHA-256 differs from "
                "config.json's record): it was edited, cut short or replaced"
            )


def write_params(out: Path, results: dict[str, list[Result]]) -> None:
    """params.npz: `<model>/<grid point>/<layer>/<name>`, each [seeds, ...]."""
    from flax.traverse_util import flatten_dict  # JAX is loaded by now: it trained the runs

    params = {name: {str(g): r.params for g, r in enumerate(points)} for name, points in results.items()}
    folders.write_npz(out / "params.npz", **flatten_dict(params, sep="/"))


def claims_of(study: Study) -> report.Claims | None:
    """The claims an experiment's report judges: the seed notebook's, which are about its own
    protocol (an in-sample forecast), so only under it."""
    from rnnjax.study import notebook

    in_sample = next(iter(study.configs.values())).forecast_protocol == "notebook"
    return notebook.CLAIMS if in_sample else None


def write_experiment(out: Path, rec: dict, results: dict[str, list[Result]], wall_s: float) -> dict:
    """metrics.csv, history.npz, forecasts.npz, params.npz, the report
    (`write_experiment_report`), then config.json; returns the summary."""
    if len(next(iter(results.values()))) > 1:  # a backtest: one point per origin
        write_origins(out, results)
    else:
        runs = {name: points[0] for name, points in results.items()}
        folders.write_csv(out / "metrics.csv", metrics.metric_rows(runs))
        histories = {f"{name}_{field}": a for name, r in runs.items() for field, a in r.history._asdict().items()}
        folders.write_npz(out / "history.npz", **histories)
        first = next(iter(runs.values()))
        forecasts = {name: r.forecast for name, r in runs.items()}
        folders.write_npz(out / "forecasts.npz", truth=first.truth, context=first.context, **forecasts)
    write_params(out, results)
    summary = write_experiment_report(out, rec, results)
    finish_record(out, rec, results, wall_s)
    return summary


def write_experiment_report(out: Path, rec: dict, results: dict[str, list[Result]]) -> dict:
    """The figures, summary.json and report.md (with the verdicts of `claims_of` the study),
    from the results alone: a run writes them, and `report` redraws them from a finished
    folder's arrays, byte for byte. Returns the summary."""
    from rnnjax.core.model import summary as keras_summary  # traces the model: only when writing

    if len(next(iter(results.values()))) > 1:  # a backtest: one point per origin
        runs = {name: Pooled(points) for name, points in results.items()}
        drawn = {name: points[-1] for name, points in results.items()}  # the figures: the last origin
    else:
        runs = drawn = {name: points[0] for name, points in results.items()}
    claims = claims_of(study_of(rec))
    options = rec.get("report") or {}  # the script's --baselines and --primary, as the run was started
    figures = [p.name for p in plots.all_figures(drawn, out, options.get("baselines")) if p.suffix == ".png"]
    summary = report.summarize(runs, claims, options.get("baselines"), options.get("primary"))
    folders.write_json(out / "summary.json", summary)
    summaries = {name: keras_summary(r.cfg, name) for name, r in runs.items()}
    title = None if claims is None else claims.title
    text = report.markdown(summary, summaries, figures, rec["command"], rec["environment"], title)
    folders.write_text(out / "report.md", text)
    return summary


def write_origins(out: Path, results: dict[str, list[Result]]) -> None:
    """A backtest's metrics.csv (a row per model, origin and seed), history.npz [origins,
    seeds, epochs], forecasts.npz ([origins, seeds, horizon]; truth and context per origin)."""
    rows = []
    for name, points in results.items():
        for r in points:
            rows += metrics.metric_rows({name: r}, keys=("fold", "origin"))
    folders.write_csv(out / "metrics.csv", rows)
    histories, forecasts = {}, {}
    for name, points in results.items():
        for field in points[0].history._fields:
            histories[f"{name}_{field}"] = np.stack([getattr(r.history, field) for r in points])
        forecasts[name] = np.stack([r.forecast for r in points])
    first = next(iter(results.values()))
    truth, context = np.stack([r.truth for r in first]), np.stack([r.context for r in first])
    folders.write_npz(out / "history.npz", **histories)
    folders.write_npz(out / "forecasts.npz", truth=truth, context=context, **forecasts)


def sweep_rows(results: dict[str, list[Result]], grid: Grid) -> list[dict]:
    rows = []
    for name, points in results.items():
        for point, run in zip(grid.points, points, strict=True):
            rows += [{"model": name} | point | row for row in metrics.metric_rows({name: run})]
    return rows


def write_sweep(out: Path, rec: dict, results: dict[str, list[Result]], wall_s: float) -> dict:
    """metrics.csv, history.npz [points, seeds, epochs], forecasts.npz [points, seeds,
    horizon], params.npz, the report (`write_sweep_report`), then config.json; returns the summary."""
    grid = study_of(rec).grid
    folders.write_csv(out / "metrics.csv", sweep_rows(results, grid))
    histories, forecasts = {}, {}
    for name, runs in results.items():
        for field in runs[0].history._fields:
            histories[f"{name}_{field}"] = np.stack([getattr(r.history, field) for r in runs])
        forecasts[name] = np.stack([r.forecast for r in runs])
        forecasts[f"{name}_truth"] = np.stack([r.truth for r in runs])
    folders.write_npz(out / "history.npz", **histories)
    folders.write_npz(out / "forecasts.npz", **forecasts)
    write_params(out, results)
    summary = write_sweep_report(out, rec, results)
    finish_record(out, rec, results, wall_s)
    return summary


def write_sweep_report(out: Path, rec: dict, results: dict[str, list[Result]]) -> dict:
    """summary.json, the figure and report.md, from the results alone (as for an experiment)."""
    summary = report.sweep_summary(results, study_of(rec).grid, rec.get("processes", 1))
    folders.write_json(out / "summary.json", summary)
    plots.sweep_figure(summary, out)
    folders.write_text(out / "report.md", report.sweep_markdown(summary, rec["command"], rec["environment"]))
    return summary


class RunFolder(NamedTuple):
    """A finished run folder read back: `results[model]` is one Result per grid point (an
    experiment has one point, so `folder["gru"][0]`)."""

    kind: str
    study: Study
    results: dict[str, list[Result]]

    def __getitem__(self, model: str) -> list[Result]:
        return self.results[model]


def load_run(folder: str | Path) -> RunFolder:
    """Every model of a finished experiment or sweep folder, with its trained parameters,
    histories, forecasts and divergence, as plain NumPy."""
    out = Path(folder)
    rec = read_record(out)
    if not rec.get("finished"):
        raise folders.RunDirError(f"{str(out)!r} has not finished: resume it first")
    study = study_of(rec)
    sweep = rec["kind"] == "sweep" or len(study.grid.points) > 1  # a backtest: a point per origin
    arrays = {}
    for name in ("history.npz", "forecasts.npz", "params.npz"):
        try:
            with np.load(out / name) as f:
                arrays[name] = {key: f[key] for key in f.files}
        except FileNotFoundError:
            raise folders.RunDirError(f"{str(out)!r} has no {name}: it cannot be read back") from None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
            raise folders.RunDirError(f"{str(out)!r} has a damaged {name} ({type(err).__name__})") from None
    try:
        rows = folders.read_csv(out / "metrics.csv")
    except FileNotFoundError:
        raise folders.RunDirError(f"{str(out)!r} has no metrics.csv: it cannot be read back") from None
    try:
        results = _results(rec, study, arrays, rows, sweep)
    except (KeyError, ValueError, IndexError, TypeError) as err:  # arrays or rows another run's, or cut short
        raise folders.RunDirError(
            f"{str(out)!r} has outputs that do not match its config.json ({type(err).__name__}: {err})"
        ) from None
    return RunFolder(rec["kind"], study, results)


def _results(rec: dict, study: Study, arrays: dict, rows: list[dict], sweep: bool) -> dict[str, list[Result]]:
    """load_run's Results, from the folder's arrays and metrics.csv rows."""
    from flax.traverse_util import unflatten_dict

    from rnnjax.core import data as data_lib
    from rnnjax.core.train import History

    history, forecasts = arrays["history.npz"], arrays["forecasts.npz"]
    params = unflatten_dict(arrays["params.npz"], sep="/")  # {model: {grid point: {layer: ...}}}
    results, stopping = {}, {}
    for name in study.configs:
        mine_rows = [r for r in rows if r["model"] == name]
        diverged = np.array([int(r["diverged_epoch"]) for r in mine_rows]).reshape(-1, study.seeds)
        if study.configs[name].patience > 0:  # early stopping: each run's stop and best epochs
            stopping[name] = {
                column: np.array([int(r[column]) for r in mine_rows]).reshape(-1, study.seeds)
                for column in ("stopped_epoch", "best_epoch")
            }
        timing = Timing(**{k: rec["wall_s"][name][k] for k in Timing._fields})
        points = []
        for g, point in enumerate(study.grid.points):
            cfg = at_point(study.grid, study.configs[name], point)

            def pick(a, g=g):
                return a[g] if sweep else a

            hist = History(*(pick(history[f"{name}_{field}"]) for field in History._fields))
            mine = params.get(name, {}).get(str(g), {})
            context, truth = data_lib.forecast_truth(cfg)
            stops = (
                [stopping[name][column][g] for column in ("stopped_epoch", "best_epoch")] if name in stopping else []
            )
            points.append(Result(cfg, mine, hist, diverged[g], pick(forecasts[name]), context, truth, timing, *stops))
        results[name] = points
    return results


def load_metrics(out: Path) -> dict[str, dict[str, np.ndarray]]:
    """metrics.csv back as {model: {column: [rows]}}, for checks and later analysis."""
    rows = folders.read_csv(out / "metrics.csv")
    models: dict[str, dict[str, list]] = {}
    for row in rows:
        cols = models.setdefault(row["model"], {})
        for key, value in row.items():
            if key != "model":
                cols.setdefault(key, []).append(value == "True" if key == "diverged" else float(value))
    return {m: {k: np.asarray(v) for k, v in cols.items()} for m, cols in models.items()}
