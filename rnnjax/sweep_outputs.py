"""What a sweep's run folder holds: config.json, metrics.csv (one row per model, grid point
and seed), history.npz, forecasts.npz, summary.json and the sweep figure."""

from pathlib import Path

import numpy as np

from rnnjax import io, metrics, plots, stats
from rnnjax.experiment import ModelRun, Timing
from rnnjax.sweep import Grid

SWEEP_METRICS = ("forecast_rmse", "final_val_loss")  # summarised per point and drawn


def metric_rows(model_runs: dict[str, list[ModelRun]], grid: Grid) -> list[dict]:
    rows = []
    for name, runs in model_runs.items():
        for point, run in zip(grid.points, runs, strict=True):
            rows += [{"model": name} | point | row for row in metrics.metric_rows({name: run})]
    return rows


def point_summary(run: ModelRun, point: dict) -> dict:
    """Per metric: describe() over the seeds that did not diverge, and a bootstrap 95% CI
    of the median; diverged seeds are counted, never averaged."""
    out = point | {
        "seeds": run.cfg.seeds,
        "params": run.params,
        "diverged": int(run.diverged.sum()),
        "diverged_seeds": [int(s) for s in np.flatnonzero(run.diverged)],
    }
    for metric in SWEEP_METRICS:
        kept = stats.finite(np.where(run.diverged, np.nan, metrics.METRICS[metric](run)))
        out[metric] = stats.describe(kept) | {"median_ci95": stats.bootstrap_ci(kept, np.median)}
    return out


def summarize(model_runs: dict[str, list[ModelRun]], grid: Grid, timings: dict[str, Timing], processes: int) -> dict:
    models = {}
    for name, runs in model_runs.items():
        points = [point_summary(run, point) for run, point in zip(runs, grid.points, strict=True)]
        scored = [p for p in points if p["forecast_rmse"]["median"] is not None]
        best = min(scored, key=lambda p: p["forecast_rmse"]["median"]) if scored else None
        cfg, t = runs[0].cfg, timings[name]
        run_epochs = len(runs) * cfg.seeds * cfg.epochs
        models[name] = {
            "cell": cfg.cell,
            "points": points,
            "best_by_forecast_rmse": None if best is None else {f: best[f] for f in grid.swept or ("lr",)},
            "timing": t._asdict() | {"seed_epochs_per_s": run_epochs / t.train_s if t.train_s else None},
        }
    return {
        "swept": list(grid.swept),
        "grid": grid.points,
        "seeds": next(iter(model_runs.values()))[0].cfg.seeds,
        "processes": processes,
        "statistics": "median over the seeds that did not diverge, percentile bootstrap 95% CI "
        f"({stats.RESAMPLES} resamples); diverged seeds are counted per point",
        "models": models,
    }


def write_sweep(out: Path, model_runs: dict[str, list[ModelRun]], grid: Grid, timings, record: dict) -> dict:
    """Everything but config.json (written at the start); returns the summary."""
    io.write_csv(out / "metrics.csv", metric_rows(model_runs, grid))
    histories, forecasts = {}, {}
    for name, runs in model_runs.items():
        for key, field in (("loss", "loss"), ("val_loss", "val_loss")):
            histories[f"{name}_{key}"] = np.stack([getattr(r, field) for r in runs])  # [points, seeds, epochs]
        forecasts[name] = np.stack([r.forecast for r in runs])  # [points, seeds, horizon]
        forecasts[f"{name}_truth"] = np.stack([r.truth for r in runs])  # [points, horizon]
    io.write_npz(out / "history.npz", **histories)
    io.write_npz(out / "forecasts.npz", **forecasts)
    summary = summarize(model_runs, grid, timings, record.get("processes", 1))
    io.write_json(out / "summary.json", summary)
    plots.sweep_figure(summary, out)
    return summary
