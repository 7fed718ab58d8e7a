"""What a run folder holds, written from the finished ModelRuns (see README: Run folders)."""

import json
from pathlib import Path

import numpy as np

from rnnjax import io, plots, report
from rnnjax.config import Config
from rnnjax.experiment import ModelRun
from rnnjax.metrics import metric_rows
from rnnjax.model import summary as keras_summary


def write_config(out: Path, configs: dict[str, Config], command: str, wall_s: dict | None = None) -> dict:
    """config.json: written when a run starts (so that it can be resumed) and again at the end."""
    environment = io.environment()
    record = {"command": command, "models": io.config_record(configs), "environment": environment}
    io.write_json(out / "config.json", record | ({"wall_s": wall_s} if wall_s else {}))
    return environment


def read_configs(out: Path) -> tuple[dict[str, Config], str]:
    """The configs and command a run folder was started with, or a RunDirError."""
    try:
        record = json.loads((out / "config.json").read_text())
        return {name: Config(**fields) for name, fields in record["models"].items()}, record["command"]
    except FileNotFoundError:
        raise io.RunDirError(f"{str(out)!r} is not a run folder (no config.json)") from None
    except (ValueError, KeyError, TypeError) as err:
        raise io.RunDirError(f"{str(out)!r} has an unreadable config.json ({type(err).__name__})") from None


def write_run(out: Path, runs: dict[str, ModelRun], command: str, wall_s: float) -> dict:
    """config.json, metrics.csv, history.npz, forecasts.npz, figures, summary.json, report.md."""
    wall = {"total": wall_s} | {name: run.timing._asdict() for name, run in runs.items()}
    environment = write_config(out, {name: run.cfg for name, run in runs.items()}, command, wall)
    io.write_csv(out / "metrics.csv", metric_rows(runs))
    histories = {}
    for name, run in runs.items():
        histories |= {f"{name}_loss": run.loss, f"{name}_val_loss": run.val_loss}
    io.write_npz(out / "history.npz", **histories)
    first = next(iter(runs.values()))
    io.write_npz(
        out / "forecasts.npz",
        truth=first.truth,
        context=first.context,
        **{name: run.forecast for name, run in runs.items()},
    )
    figures = [p.name for p in plots.all_figures(runs, out) if p.suffix == ".png"]
    summary = report.summarize(runs)
    io.write_json(out / "summary.json", summary)
    summaries = {name: keras_summary(run.cfg, name) for name, run in runs.items()}
    io.write_text(out / "report.md", report.markdown(summary, summaries, figures, command, environment))
    return summary


def load_metrics(out: Path) -> dict[str, dict[str, np.ndarray]]:
    """metrics.csv back as {model: {column: [seeds]}}, for checks and later analysis."""
    rows = io.read_csv(out / "metrics.csv")
    models: dict[str, dict[str, list]] = {}
    for row in rows:
        cols = models.setdefault(row["model"], {})
        for key, value in row.items():
            if key != "model":
                cols.setdefault(key, []).append(value == "True" if key == "diverged" else float(value))
    return {m: {k: np.asarray(v) for k, v in cols.items()} for m, cols in models.items()}
