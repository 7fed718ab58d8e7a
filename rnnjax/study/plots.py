"""Figures of a run: each labels its axes, has a legend, and says what a band means.
Diverged seeds are left out of every band and median, and the figures say how many.
Several channels: the series, forecast, error and seed figures draw a row of panels per
channel."""

import io
from functools import partial
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from rnnjax.core import data as data_lib
from rnnjax.core.series import channels, describe, normalization
from rnnjax.study import baselines, folders
from rnnjax.study.grid import VMAPPED
from rnnjax.study.metrics import METRICS, SWEEP_METRICS
from rnnjax.study.metrics import value as metric_value
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


# a legend right of its axes, never over the data
BESIDE = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0}


def finish(fig, ax, out: Path, name: str, legend=None, grid=None) -> list[Path]:
    """Legend beside the axes, light grid, then `save`."""
    ax.legend(**(legend or {"fontsize": 8}) | BESIDE)
    ax.grid(**(grid or {"alpha": 0.3}))
    return save(fig, out, name)


def legend_beside(fig, axes, **kw) -> None:
    """One legend right of the panels, outside every one of them: each label once, in the
    order drawn (the panels of small multiples share their context, truth and baselines)."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if len(axes) == 1:
        axes[0].legend(entries.values(), entries.keys(), **kw | BESIDE)
    else:  # after tight_layout: right of the figure's panels, inside the saved (tight) bounding box
        fig.legend(entries.values(), entries.keys(), loc="upper left", bbox_to_anchor=(1.0, 0.95), **kw)


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


def by_channel(runs: dict[str, Result]) -> list[tuple[str | None, dict[str, Result]]]:
    """[(channel, {model: the run as that channel sees it})]: one entry per predicted
    channel, or [(None, runs)] for one channel."""
    names = next(iter(runs.values())).channels
    if names is None:
        return [(None, runs)]
    return [(c, {name: run.channel(k) for name, run in runs.items()}) for k, c in enumerate(names)]


def series_figure(runs: dict[str, Result], out: Path) -> list[Path]:
    cfg = next(iter(runs.values())).cfg
    y, seen = data_lib.series(cfg), data_lib.observed(cfg)
    names = channels(cfg) if y.ndim == 2 else [None]
    fig, axes = subplots(len(names), 1, figsize=(8, 3.5 if len(names) == 1 else 2.6 * len(names)), squeeze=False)
    for c, (name, ax) in enumerate(zip(names, axes[:, 0], strict=True)):
        one = (lambda v: v) if name is None else (lambda v, c=c: v[:, c])
        _series_panel(ax, cfg, one(y), one(seen), name, legend=c == 0)
    axes[0, 0].set_title("The series and the windows trained and validated on")
    if len(names) > 1:
        fig.tight_layout()
    return save(fig, out, "series")


def _series_panel(ax, cfg, y, seen, channel: str | None, legend: bool):
    t = np.arange(cfg.length)
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
    ax.set(xlabel="sample index", ylabel="y" if channel is None else f"channel {channel}")
    if legend:
        ax.legend(fontsize=8, **BESIDE)
    ax.grid(alpha=0.3)


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


def channel_panels(names: list[str], channel_names: list[str | None], size=(8, 4.5)):
    """`panels` for each channel: (figure, {(channel, model): axes}, axes in use), a row per
    channel (one channel: `panels` itself), sharing the time axis."""
    if len(channel_names) == 1:
        fig, ax_of, axes = panels(names, size)
        return fig, {(channel_names[0], n): ax for n, ax in ax_of.items()}, axes
    cols = 1 if len(names) <= OVERLAID else len(names)
    rows = len(channel_names)
    fig, grid = subplots(
        rows, cols, figsize=(size[0] if cols == 1 else 5 * cols, 3.2 * rows), sharex=True, squeeze=False
    )
    ax_of = {(c, n): grid[r, 0 if cols == 1 else j] for r, c in enumerate(channel_names) for j, n in enumerate(names)}
    for (c, _), ax in ax_of.items():
        ax.set_ylabel(f"channel {c}")
    return fig, ax_of, list(grid.ravel())


def finish_panels(fig, axes, out: Path, name: str, title: str, xlabel: str, ylabel: str, legend=None, **ax_set):
    """Labels (`ylabel` where a panel has none) and grid on every panel, one title, one legend
    beside them, then `save`."""
    for ax in axes:
        ax.set(xlabel=xlabel, ylabel=ax.get_ylabel() or ylabel, **ax_set)
        ax.grid(alpha=0.3, which="both")
    if len(axes) == 1:
        axes[0].set_title(title)
    else:
        fig.suptitle(title)
        fig.tight_layout()
    legend_beside(fig, axes, **(legend or {"fontsize": 7}))
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
    legend = {"fontsize": 7}
    scaled = " of the standardized series" if normalization(next(iter(runs.values())).cfg) == "standard" else ""
    return finish_panels(fig, axes, out, "loss", title, "epoch", f"MSE loss{scaled} (log scale)", legend, yscale="log")


def forecast_figure(runs: dict[str, Result], out: Path, baseline_names: list[str] | None = None) -> list[Path]:
    cfg = next(iter(runs.values())).cfg
    t_ctx = np.arange(cfg.origin - cfg.window, cfg.origin)
    t = np.arange(cfg.origin, cfg.origin + cfg.steps)
    per_channel = by_channel(runs)
    fig, ax_of, axes = channel_panels(list(runs), [c for c, _ in per_channel], size=(9, 4.5))
    base = baselines.of(cfg, baseline_names)
    shown, lines = [], []  # per channel: the y range kept, and each baseline's line
    for k, (channel, views) in enumerate(per_channel):
        first = next(iter(views.values()))
        shown.append(
            _shown_range(first.context, first.truth, *(r.masked(r.forecast, drop=True) for r in views.values()))
        )
        lines.append({name: values if channel is None else values[:, k] for name, values in base.items()})
    # a baseline that runs off any panel (an unstable AR) says so, in the one legend
    off = {
        name: any(not np.all((ln[name] >= lo) & (ln[name] <= hi)) for ln, (lo, hi) in zip(lines, shown))
        for name in base
    }
    for k, (channel, views) in enumerate(per_channel):
        first = next(iter(views.values()))
        for ax in dict.fromkeys(ax_of[channel, name] for name in views):
            ax.plot(
                t_ctx, first.context, "k-", lw=2.5, label="context (as observed)" if cfg.noise else "context (true)"
            )
            held = cfg.forecast_protocol == "holdout"
            ax.plot(t, first.truth, "k--", lw=1.2, label="truth (held out)" if held else "truth")
            for j, (name, line) in enumerate(lines[k].items()):
                style, grey = BASELINE_STYLES[j % len(BASELINE_STYLES)], str(0.2 + 0.5 * (j % 4) / 3)
                label = f"baseline: {name}" + (" (leaves the plot)" if off[name] else "")
                ax.plot(t, line, color=grey, lw=0.9, ls=style, label=label)
            ax.set_ylim(*shown[k])
        for i, (name, run) in enumerate(views.items()):
            ax, color = ax_of[channel, name], COLORS[i % len(COLORS)]
            kept = run.masked(run.forecast, drop=True)
            for row in kept[:FAINT_SEEDS]:
                ax.plot(t, row, color=color, alpha=0.15, lw=0.8)
            ax.plot([], [], color=color, alpha=0.3, lw=0.8, label=f"{name}: first {min(FAINT_SEEDS, len(kept))} seeds")
            _band(ax, t, kept, 10, 90, color, _label(name, run), "10-90% over seeds")
    held = "held-out " if cfg.forecast_protocol == "holdout" else ""
    title = f"Closed-loop {held}forecast ({cfg.forecast_mode} mode, {cfg.steps} steps); band = 10-90% over seeds"
    legend = {"fontsize": 7}
    return finish_panels(fig, axes, out, "forecast", title, "sample index", "y", legend)


def _shown_range(*values) -> tuple[float, float]:
    """The y range that shows the context, the truth and the models' forecasts with a
    margin: a baseline that runs off it (an unstable AR) is cut, not the scale of the rest."""
    finite = np.concatenate([np.ravel(v)[np.isfinite(np.ravel(v))] for v in values])
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    pad = 0.15 * (hi - lo) or 1.0
    return lo - pad, hi + pad


def horizon_figure(runs: dict[str, Result], out: Path) -> list[Path]:
    per_channel = by_channel(runs)
    fig, ax_of, axes = channel_panels(list(runs), [c for c, _ in per_channel], size=(8, 4))
    for channel, views in per_channel:
        for i, (name, run) in enumerate(views.items()):
            err = np.abs(run.masked(run.forecast, drop=True) - run.truth)
            steps = np.arange(1, run.cfg.steps + 1)
            _band(
                ax_of[channel, name], steps, err, 25, 75, COLORS[i % len(COLORS)], _label(name, run), "IQR over seeds"
            )
    title = "Forecast error against horizon: median over seeds, band = 25-75%"
    return finish_panels(fig, axes, out, "horizon_error", title, "steps ahead (closed loop)", "|forecast - truth|")


def rmse_figure(runs: dict[str, Result], out: Path) -> list[Path]:
    fig, ax = subplots(figsize=(6, 4.5))
    rng = np.random.default_rng(0)
    names = list(runs)
    values = [run.masked(metric_value(run, "forecast_rmse"), drop=True) for run in runs.values()]
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
    several = next(iter(runs.values())).channels is not None
    ylabel = METRICS["forecast_rmse"].label + (" (mean over the predicted channels)" if several else "")
    ax.set(xlabel="model", ylabel=ylabel, title="Forecast RMSE per seed (one point per seed)")
    return finish(fig, ax, out, "forecast_rmse", legend={"fontsize": 8}, grid={"alpha": 0.3, "axis": "y"})


def seed_figure(runs: dict[str, Result], out: Path, seed: int = 0) -> list[Path]:
    """The seed notebook's two plots, for one seed: its loss curves and its forecast (a
    forecast panel per channel)."""
    first = next(iter(runs.values()))
    per_channel = by_channel(runs)
    fig, axes = subplots(1, 1 + len(per_channel), figsize=(6 * (1 + len(per_channel)), 4))
    ax_loss = axes[0]
    for i, (name, run) in enumerate(runs.items()):  # one colour per model: solid train, dashed val
        epochs, color = np.arange(run.cfg.epochs), COLORS[i % len(COLORS)]
        ax_loss.plot(epochs, run.loss[seed], color=color, label=f"{name}_loss")
        ax_loss.plot(epochs, run.val_loss[seed], color=color, ls="--", label=f"{name}_val_loss")
    ylabel = "MSE loss" + (" (standardized units)" if normalization(first.cfg) == "standard" else "")
    ax_loss.set(xlabel="epoch", ylabel=ylabel, title=f"Loss, seed {seed} only", yscale="log")
    below = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.15), "fontsize": 7}  # clear of the other panel
    ax_loss.legend(ncol=2 if len(runs) > OVERLAID else 1, **below)
    ax_loss.grid(alpha=0.3)
    cfg = first.cfg
    truth = data_lib.series(cfg)
    t = np.arange(cfg.origin - cfg.window, cfg.origin + cfg.steps)
    for k, (ax_fc, (channel, views)) in enumerate(zip(axes[1:], per_channel, strict=True)):
        column = None if channel is None else data_lib.targets(cfg)[k]
        ax_fc.plot(np.arange(cfg.length), truth if column is None else truth[:, column], "k-", lw=1.2, label="truth")
        for i, (name, run) in enumerate(views.items()):
            ax_fc.plot(
                t,
                np.concatenate([run.context, run.forecast[seed]]),
                color=COLORS[i % len(COLORS)],
                label=f"{name} result",
            )
        what = "y" if channel is None else f"channel {channel}"
        ax_fc.set(xlabel="sample index", ylabel=what, title=f"Context + closed-loop forecast, seed {seed} only")
        ax_fc.legend(ncol=2 if len(runs) > OVERLAID else 1, **below)
        ax_fc.grid(alpha=0.3)
    return save(fig, out, f"seed{seed}")


FIGURES = (series_figure, loss_figure, forecast_figure, horizon_figure, rmse_figure, seed_figure)


def all_figures(runs: dict[str, Result], out: Path, baseline_names: list[str] | None = None) -> list[Path]:
    """Every figure of an experiment; the forecast figure draws `baseline_names` (default
    every baseline that applies)."""
    figures = [partial(f, baseline_names=baseline_names) if f is forecast_figure else f for f in FIGURES]
    return [path for figure in figures for path in figure(runs, out)]


def _log_spaced(values) -> bool:
    """Log-x for positive numbers spanning at least a factor of 10."""
    if not all(isinstance(v, (int, float)) for v in values):
        return False
    v = np.asarray(values, dtype=float)
    return bool(np.all(v > 0) and v.max() / v.min() >= 10)


def sweep_figure(summary: dict, out: Path) -> list[Path]:
    """Median and bootstrap 95% CI of the median against one swept value, a line per model.
    A sweep over more fields draws small multiples: a column per value of the others, a row
    per metric, y shared along a row. Diverged seeds are left out and counted; a point whose
    seeds all diverged is drawn as an x at the top of its panel. The legend is outside the panels."""
    swept = summary["swept"] or ["lr"]
    x_field = next((f for f in swept if f in VMAPPED), swept[0])  # a vmapped knob if there is one
    others = [f for f in swept if f != x_field]
    columns = list(dict.fromkeys(tuple(p[f] for f in others) for p in summary["grid"]))
    metrics = list(SWEEP_METRICS)
    if len(columns) == 1:  # the metrics side by side
        fig, grid = subplots(1, len(metrics), figsize=(6 * len(metrics), 4.5), squeeze=False)
        panel = {(m, columns[0]): grid[0][i] for i, m in enumerate(metrics)}
    else:
        size = (max(8, 3.6 * len(columns)), 3.2 * len(metrics))
        fig, grid = subplots(len(metrics), len(columns), figsize=size, sharex=True, sharey="row", squeeze=False)
        panel = {(m, key): grid[i][j] for i, m in enumerate(metrics) for j, key in enumerate(columns)}
    xs = list(dict.fromkeys(p[x_field] for p in summary["grid"]))
    numeric = all(isinstance(v, (int, float)) for v in xs)
    at = (lambda v: v) if numeric else xs.index  # names (optimizers) at 0, 1, ... in grid order
    for (metric, key), ax in panel.items():
        for i, (name, model) in enumerate(summary["models"].items()):
            points = [p for p in model["points"] if tuple(p[f] for f in others) == key]
            _sweep_line(ax, points, metric, x_field, at, name, COLORS[i % len(COLORS)])
        drawn = [p[metric]["median"] for m in summary["models"].values() for p in m["points"]]
        any_positive = any(v is not None and v > 0 for v in drawn)  # a log axis needs a value to show
        yscale = "log" if METRICS[metric].log_scale and any_positive else "linear"
        ax.set(yscale=yscale, xscale="log" if _log_spaced(xs) else "linear")
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.grid(alpha=0.3, which="both")
        if len(columns) == 1:
            ax.set(xlabel=x_field, ylabel=METRICS[metric].label)
            ax.set_title(f"{METRICS[metric].label} against {x_field}", fontsize=10)
        else:  # shared axes: each row and column labelled once
            row, col = metrics.index(metric), columns.index(key)
            if row == len(metrics) - 1:
                ax.set_xlabel(x_field)
            if col == 0:
                ax.set_ylabel(METRICS[metric].label)
            if row == 0:
                ax.set_title(point_label(dict(zip(others, key, strict=True)), others), fontsize=10)
    first = next(iter(panel.values()))
    first.plot([], [], "x", color="gray", label="all seeds diverged")
    fig.suptitle(
        "Median over seeds; band: percentile bootstrap 95% CI of the median; diverged seeds left out and counted",
        fontsize=9,
    )
    fig.tight_layout()
    legend_beside(fig, list(panel.values()), fontsize=7)
    return save(fig, out, "sweep")


def _sweep_line(ax, points: list[dict], metric: str, x_field: str, at, name: str, color) -> None:
    """One model's median and 95% CI band over its `points`; x marks where every seed diverged."""
    points = sorted(points, key=lambda p: at(p[x_field]))
    live = [p for p in points if p[metric]["median"] is not None]
    x = [at(p[x_field]) for p in live]
    med = [p[metric]["median"] for p in live]
    ci = np.array([p[metric]["median_ci95"] or [p[metric]["median"]] * 2 for p in live]).reshape(-1, 2)
    n = points[0]["seeds"]
    ax.plot(x, med, marker="o", color=color, label=f"{name}: median of {n} seeds")
    ax.fill_between(x, ci[:, 0], ci[:, 1], color=color, alpha=0.2, lw=0, label=f"{name}: 95% CI")
    for p in points:
        if p[metric]["median"] is None:
            ax.plot(at(p[x_field]), 0.97, "x", ms=10, mew=2, color=color, transform=ax.get_xaxis_transform())
            ax.annotate(
                "all diverged",
                (at(p[x_field]), 0.93),
                xycoords=("data", "axes fraction"),
                ha="center",
                fontsize=7,
                color=color,
            )
        elif p["diverged"]:
            ax.annotate(
                f"{p['diverged']}/{n} diverged",
                (at(p[x_field]), p[metric]["median"]),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
                color=color,
            )
