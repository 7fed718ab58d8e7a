"""Figures of a run: each labels its axes, has a legend, and says what a band means.
Diverged seeds are left out of every band and median, and the figures say how many."""

import io
from functools import partial
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from rnnjax.core import data as data_lib
from rnnjax.core.series import describe, normalization
from rnnjax.study import baselines, folders
from rnnjax.study.grid import VMAPPED
from rnnjax.study.metrics import METRICS, SWEEP_METRICS, forecast_rmse
from rnnjax.study.report import point_label
from rnnjax.study.results import Result

FORMATS = ("png", "svg")
FAINT_SEEDS = 5
BASELINE_STYLES = (":", "-.", (0, (5, 1)), (0, (1, 3)), (0, (3, 1, 1, 1)))
COLORS = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]  # one colour per model


def subplots(nrows: int = 1, ncols: int = 1, figsize=None, **kw):
    """(figure, axes) as `pyplot.subplots` gives them, without pyplot: a Figure tied to no
    backend, so that drawing one leaves the process's matplotlib backend alone."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


def save(fig, out: Path, name: str) -> list[Path]:
    """Write the figure as PNG and SVG, each atomically (`folders.write_bytes`). The SVG has
    no date and ids salted by its name, so that a figure redrawn from the same numbers
    (`rj.report`) is the same file."""
    paths = []
    for fmt in FORMATS:
        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": name}):
            fig.savefig(
                buf, format=fmt, dpi=150, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None
            )
        paths.append(folders.write_bytes(out / f"{name}.{fmt}", buf.getvalue()))
    return paths


def finish(fig, ax, out: Path, name: str, legend=None, grid=None) -> list[Path]:
    """Legend, light grid, then `save`."""
    ax.legend(**(legend or {"fontsize": 8}))
    ax.grid(**(grid or {"alpha": 0.3}))
    return save(fig, out, name)


def _label(name: str, run: Result) -> str:
    n_div = int(run.diverged.sum())
    return f"{name} ({run.cfg.seeds - n_div} seeds" + (f", {n_div} diverged left out)" if n_div else ")")


def _band(ax, x, values_SxN, lo, hi, color, label, what, ls="-"):
    """Median line and a [lo, hi] percentile band over seeds."""
    if len(values_SxN) == 0:
        return
    q_lo, med, q_hi = np.percentile(values_SxN, [lo, 50, hi], axis=0)
    ax.plot(x, med, color=color, ls=ls, label=f"{label}: median")
    ax.fill_between(x, q_lo, q_hi, color=color, alpha=0.2, lw=0, label=f"{label}: {what}")


def series_figure(runs: dict[str, Result], out: Path) -> list[Path]:
    cfg = next(iter(runs.values())).cfg
    y, seen = data_lib.series(cfg), data_lib.observed(cfg)
    t = np.arange(cfg.length)
    fig, ax = subplots(figsize=(8, 3.5))
    # a window's inputs and targets span window + 1 samples
    # spans from the first value these models saw (a backtest origin's slides by its stride)
    start, val_end = cfg.start, cfg.start + cfg.seen - 1
    train_end, val_start = start + cfg.n_train + cfg.window, start + cfg.n_train
    ax.axvspan(
        start, train_end, color="tab:blue", alpha=0.12, label=f"{cfg.n_train} training windows: y[{start}..{train_end}]"
    )
    ax.axvspan(
        val_start,
        val_end,
        color="tab:orange",
        alpha=0.18,
        label=f"{cfg.n_val} validation windows: y[{val_start}..{val_end}]",
    )
    if cfg.forecast_protocol != "notebook":
        stop = cfg.origin + cfg.steps - 1
        ax.axvspan(cfg.origin, stop, color="tab:red", alpha=0.12, label=f"held out, scored: y[{cfg.origin}..{stop}]")
    ax.plot(t, seen, "k.-", ms=3, lw=0.8, label=describe(cfg) + (" (as observed)" if cfg.noise else ""))
    if cfg.noise:
        ax.plot(t, y, "-", color="tab:red", lw=1.0, label="clean series (the forecast's truth)")
    first, last = cfg.origin - cfg.window, cfg.origin - 1
    ax.axvspan(first, last, ymin=0.0, ymax=0.06, color="tab:green", label=f"forecast context: y[{first}..{last}]")
    ax.set(xlabel="sample index", ylabel="y", title="The series and the windows trained and validated on")
    return finish(fig, ax, out, "series", legend={"fontsize": 8, "loc": "upper right"})


OVERLAID = 2  # up to this many models share one panel; more get a panel each


def panels(names: list[str], size=(8, 4.5)):
    """(figure, {model: axes}, axes in use): one panel for up to OVERLAID models, else small
    multiples, one panel per model, sharing their axes so that panels compare at a glance."""
    if len(names) <= OVERLAID:
        fig, ax = subplots(figsize=size)
        return fig, dict.fromkeys(names, ax), [ax]
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, grid = subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), sharex=True, sharey=True, squeeze=False)
    flat = list(grid.ravel())
    for ax in flat[len(names) :]:
        ax.set_visible(False)
    return fig, dict(zip(names, flat, strict=False)), flat[: len(names)]


def finish_panels(fig, axes, out: Path, name: str, title: str, xlabel: str, ylabel: str, legend=None, **ax_set):
    """Labels, legend and grid on every panel, one title, then `save`."""
    for ax in axes:
        ax.set(xlabel=xlabel, ylabel=ylabel, **ax_set)
        ax.legend(**(legend or {"fontsize": 7}))
        ax.grid(alpha=0.3, which="both")
    if len(axes) == 1:
        axes[0].set_title(title)
    else:
        fig.suptitle(title)
        fig.tight_layout()
    return save(fig, out, name)


def loss_figure(runs: dict[str, Result], out: Path) -> list[Path]:
    fig, ax_of, axes = panels(list(runs))
    for i, (name, run) in enumerate(runs.items()):
        ax, color = ax_of[name], COLORS[i % len(COLORS)]
        epochs = np.arange(1, run.cfg.epochs + 1)
        label = _label(name, run)
        _band(ax, epochs, run.masked(run.loss, drop=True), 25, 75, color, f"{label} train", "IQR over seeds")
        _band(ax, epochs, run.masked(run.val_loss, drop=True), 25, 75, color, f"{label} val", "IQR over seeds", ls="--")
    title = "Loss: median over seeds, band = 25-75%"
    if any(run.stopped_epoch is not None for run in runs.values()):  # NaN after a run's stop
        title += "; early-stopped runs leave the median at their stop"
    legend = {"fontsize": 7, "ncol": 2 if len(axes) == 1 else 1}
    scaled = " of the standardized series" if normalization(next(iter(runs.values())).cfg) == "standard" else ""
    return finish_panels(fig, axes, out, "loss", title, "epoch", f"MSE loss{scaled} (log scale)", legend, yscale="log")


def forecast_figure(runs: dict[str, Result], out: Path, baseline_names: list[str] | None = None) -> list[Path]:
    first = next(iter(runs.values()))
    cfg = first.cfg
    t_ctx = np.arange(cfg.origin - cfg.window, cfg.origin)
    t = np.arange(cfg.origin, cfg.origin + cfg.steps)
    fig, ax_of, axes = panels(list(runs), size=(9, 4.5))
    for ax in axes:
        ax.plot(t_ctx, first.context, "k-", lw=2.5, label="context (as observed)" if cfg.noise else "context (true)")
        ax.plot(
            t, first.truth, "k--", lw=1.2, label="truth (held out)" if cfg.forecast_protocol == "holdout" else "truth"
        )
        for j, (name, values) in enumerate(baselines.of(cfg, baseline_names).items()):
            style, grey = BASELINE_STYLES[j % len(BASELINE_STYLES)], str(0.2 + 0.5 * (j % 4) / 3)
            ax.plot(t, values, color=grey, lw=0.9, ls=style, label=f"baseline: {name}")
    for i, (name, run) in enumerate(runs.items()):
        ax, color = ax_of[name], COLORS[i % len(COLORS)]
        kept = run.masked(run.forecast, drop=True)
        for row in kept[:FAINT_SEEDS]:
            ax.plot(t, row, color=color, alpha=0.15, lw=0.8)
        ax.plot([], [], color=color, alpha=0.3, lw=0.8, label=f"{name}: first {min(FAINT_SEEDS, len(kept))} seeds")
        _band(ax, t, kept, 10, 90, color, _label(name, run), "10-90% over seeds")
    held = "held-out " if cfg.forecast_protocol == "holdout" else ""
    title = f"Closed-loop {held}forecast ({cfg.forecast_mode} mode, {cfg.steps} steps); band = 10-90% over seeds"
    legend = {"fontsize": 7, "ncol": 2 if len(axes) == 1 else 1}
    return finish_panels(fig, axes, out, "forecast", title, "sample index", "y", legend)


def horizon_figure(runs: dict[str, Result], out: Path) -> list[Path]:
    fig, ax_of, axes = panels(list(runs), size=(8, 4))
    for i, (name, run) in enumerate(runs.items()):
        err = np.abs(run.masked(run.forecast, drop=True) - run.truth)
        steps = np.arange(1, run.cfg.steps + 1)
        _band(ax_of[name], steps, err, 25, 75, COLORS[i % len(COLORS)], _label(name, run), "IQR over seeds")
    title = "Forecast error against horizon: median over seeds, band = 25-75%"
    return finish_panels(fig, axes, out, "horizon_error", title, "steps ahead (closed loop)", "|forecast - truth|")


def rmse_figure(runs: dict[str, Result], out: Path) -> list[Path]:
    fig, ax = subplots(figsize=(6, 4.5))
    rng = np.random.default_rng(0)
    names = list(runs)
    values = [run.masked(forecast_rmse(run), drop=True) for run in runs.values()]
    ax.boxplot(values, tick_labels=names, showfliers=False, widths=0.5)
    for i, (name, v) in enumerate(zip(names, values, strict=True)):
        jitter = rng.uniform(-0.12, 0.12, len(v))
        ax.scatter(
            np.full(len(v), i + 1) + jitter,
            v,
            s=14,
            alpha=0.7,
            color=COLORS[i % len(COLORS)],
            label=_label(name, runs[name]),
        )
    ax.plot([], [], color="tab:orange", label="box: median and IQR, whiskers 1.5 IQR")
    ax.set(xlabel="model", ylabel=METRICS["forecast_rmse"].label, title="Forecast RMSE per seed (one point per seed)")
    return finish(fig, ax, out, "forecast_rmse", legend={"fontsize": 8}, grid={"alpha": 0.3, "axis": "y"})


def seed_figure(runs: dict[str, Result], out: Path, seed: int = 0) -> list[Path]:
    """The seed notebook's two plots, for one seed: its loss curves and its forecast."""
    first = next(iter(runs.values()))
    fig, (ax_loss, ax_fc) = subplots(1, 2, figsize=(12, 4))
    for i, (name, run) in enumerate(runs.items()):  # one colour per model: solid train, dashed val
        epochs, color = np.arange(run.cfg.epochs), COLORS[i % len(COLORS)]
        ax_loss.plot(epochs, run.loss[seed], color=color, label=f"{name}_loss")
        ax_loss.plot(epochs, run.val_loss[seed], color=color, ls="--", label=f"{name}_val_loss")
    ylabel = "MSE loss" + (" (standardized units)" if normalization(first.cfg) == "standard" else "")
    ax_loss.set(xlabel="epoch", ylabel=ylabel, title=f"Loss, seed {seed} only", yscale="log")
    ax_loss.legend(fontsize=7, ncol=2 if len(runs) > OVERLAID else 1)
    ax_loss.grid(alpha=0.3)
    cfg = first.cfg
    ax_fc.plot(np.arange(cfg.length), data_lib.series(cfg), "k-", lw=1.2, label="truth")
    t = np.arange(cfg.origin - cfg.window, cfg.origin + cfg.steps)
    for i, (name, run) in enumerate(runs.items()):
        ax_fc.plot(
            t, np.concatenate([run.context, run.forecast[seed]]), color=COLORS[i % len(COLORS)], label=f"{name} result"
        )
    ax_fc.set(xlabel="sample index", ylabel="y", title=f"Context + closed-loop forecast, seed {seed} only")
    ax_fc.legend(fontsize=7)
    ax_fc.grid(alpha=0.3)
    return save(fig, out, f"seed{seed}")


FIGURES = (series_figure, loss_figure, forecast_figure, horizon_figure, rmse_figure, seed_figure)


def all_figures(runs: dict[str, Result], out: Path, baseline_names: list[str] | None = None) -> list[Path]:
    """Every figure of an experiment; the forecast figure draws `baseline_names` (default
    every baseline that applies)."""
    figures = [partial(f, baseline_names=baseline_names) if f is forecast_figure else f for f in FIGURES]
    return [path for figure in figures for path in figure(runs, out)]


def _log_spaced(values) -> bool:
    """Log-x for positive values spanning at least a factor of 10."""
    v = np.asarray(values, dtype=float)
    return bool(np.all(v > 0) and v.max() / v.min() >= 10)


def sweep_figure(summary: dict, out: Path) -> list[Path]:
    """Median and bootstrap 95% CI of the median against the swept value, per model (and per
    value of any other swept field). Diverged seeds are left out and counted; a point whose
    seeds all diverged is drawn as an x at the top of the panel."""
    swept = summary["swept"] or ["lr"]
    x_field = next((f for f in swept if f in VMAPPED), swept[0])  # a vmapped knob if there is one
    others = [f for f in swept if f != x_field]
    metrics = list(SWEEP_METRICS)
    fig, axes = subplots(1, len(metrics), figsize=(6 * len(metrics), 4.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        line = 0
        for name, model in summary["models"].items():
            groups: dict[tuple, list[dict]] = {}
            for p in model["points"]:
                groups.setdefault(tuple(p[f] for f in others), []).append(p)
            for key, points in groups.items():
                color = COLORS[line % len(COLORS)]
                line += 1
                label = ", ".join(
                    [name] + ([point_label(dict(zip(others, key, strict=True)), others)] if others else [])
                )
                points = sorted(points, key=lambda p: p[x_field])
                live = [p for p in points if p[metric]["median"] is not None]
                x = [p[x_field] for p in live]
                med = [p[metric]["median"] for p in live]
                ci = np.array([p[metric]["median_ci95"] or [p[metric]["median"]] * 2 for p in live]).reshape(-1, 2)
                n = points[0]["seeds"]
                ax.plot(x, med, marker="o", color=color, label=f"{label}: median of {n} seeds")
                ax.fill_between(x, ci[:, 0], ci[:, 1], color=color, alpha=0.2, lw=0, label=f"{label}: 95% CI")
                for p in points:
                    if p[metric]["median"] is None:
                        ax.plot(p[x_field], 0.97, "x", ms=10, mew=2, color=color, transform=ax.get_xaxis_transform())
                        ax.annotate(
                            "all diverged",
                            (p[x_field], 0.93),
                            xycoords=("data", "axes fraction"),
                            ha="center",
                            fontsize=7,
                            color=color,
                        )
                    elif p["diverged"]:
                        ax.annotate(
                            f"{p['diverged']}/{n} diverged",
                            (p[x_field], p[metric]["median"]),
                            textcoords="offset points",
                            xytext=(0, 6),
                            ha="center",
                            fontsize=7,
                            color=color,
                        )
        ax.plot([], [], "x", color="gray", label="all seeds diverged")
        xs = [p[x_field] for m in summary["models"].values() for p in m["points"]]
        drawn = [p[metric]["median"] for m in summary["models"].values() for p in m["points"]]
        any_positive = any(v is not None and v > 0 for v in drawn)  # a log axis needs a value to show
        yscale = "log" if METRICS[metric].log_scale and any_positive else "linear"
        ax.set(
            xlabel=x_field, ylabel=METRICS[metric].label, yscale=yscale, xscale="log" if _log_spaced(xs) else "linear"
        )
        ax.set_title(f"{METRICS[metric].label} against {x_field}", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(
        "Band: percentile bootstrap 95% CI of the median over seeds; diverged seeds left out and counted",
        fontsize=9,
    )
    fig.tight_layout()
    return save(fig, out, "sweep")
