"""Figures, by their structure (panels, labels, where the legend is), not their pixels."""

import itertools

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from rnnjax.core import data as data_lib
from rnnjax.core.config import Config
from rnnjax.core.train import History
from rnnjax.study import plots
from rnnjax.study.metrics import METRICS, SWEEP_METRICS
from rnnjax.study.results import Result, Timing


@pytest.fixture
def drawn(monkeypatch):
    """The figures the module would save, as {name: Figure}, none written."""
    figures = {}
    monkeypatch.setattr(plots, "save", lambda fig, out, name: figures.setdefault(name, fig) and [])
    return figures


def _legends_clear_of_every_panel(fig):
    fig.draw_without_rendering()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    assert len(legends) >= 1
    for legend in legends:
        box = legend.get_window_extent()
        assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes if ax.get_visible())
    return legends


def _sweep_summary(swept: dict[str, list], models=("gru", "lstm")) -> dict:
    """A sweep's summary.json as `report.sweep_summary` writes it, with made-up statistics."""
    grid = [dict(zip(swept, values, strict=True)) for values in itertools.product(*swept.values())]
    rng = np.random.default_rng(0)

    def stat():
        m = float(rng.uniform(0.01, 1.0))
        return {"median": m, "median_ci95": [0.8 * m, 1.2 * m]}

    points = {
        name: [p | {"seeds": 4, "diverged": 0} | {m: stat() for m in SWEEP_METRICS} for p in grid] for name in models
    }
    points["gru"][0] |= {"diverged": 4, "forecast_rmse": {"median": None, "median_ci95": None}}
    return {"swept": list(swept), "grid": grid, "models": {name: {"points": p} for name, p in points.items()}}


def test_a_sweep_over_two_axes_draws_small_multiples(drawn, tmp_path):
    plots.sweep_figure(_sweep_summary({"hidden": [8, 16, 32], "lr": [0.001, 0.01, 0.1]}), tmp_path)
    fig = drawn["sweep"]
    axes = np.array(fig.axes).reshape(len(SWEEP_METRICS), 3)  # a row per metric, a column per hidden size
    assert [ax.get_title() for ax in axes[0]] == ["hidden=8", "hidden=16", "hidden=32"]
    assert [ax.get_xlabel() for ax in axes[-1]] == ["lr"] * 3  # the vmapped knob along x
    assert [ax.get_ylabel() for ax in axes[:, 0]] == [METRICS[m].label for m in SWEEP_METRICS]
    for row in axes:
        assert all(row[0].get_shared_y_axes().joined(row[0], ax) for ax in row)
        for ax in row:  # a line per model, three grid points each (or two where all seeds diverged)
            medians = [line for line in ax.get_lines() if line.get_label().endswith("median of 4 seeds")]
            assert [len(line.get_xdata()) for line in medians] in ([3, 3], [2, 3])
    assert "95% CI of the median" in fig._suptitle.get_text()
    (legend,) = _legends_clear_of_every_panel(fig)
    labels = [t.get_text() for t in legend.get_texts()]  # each label once, not once per panel
    assert labels == [
        "gru: median of 4 seeds",
        "gru: 95% CI",
        "lstm: median of 4 seeds",
        "lstm: 95% CI",
        "all seeds diverged",
    ]


@pytest.mark.parametrize("swept", [{"lr": [0.001, 0.01, 0.1]}, {"optimizer": ["sgd", "adam"]}], ids=["lr", "names"])
def test_a_sweep_over_one_axis_draws_the_metrics_side_by_side(swept, drawn, tmp_path):
    plots.sweep_figure(_sweep_summary(swept), tmp_path)
    fig = drawn["sweep"]
    (field,) = swept
    assert len(fig.axes) == len(SWEEP_METRICS)
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes] == [(field, METRICS[m].label) for m in SWEEP_METRICS]
    if field == "optimizer":  # names along x, in grid order
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["sgd", "adam"]
    _legends_clear_of_every_panel(fig)


def _results(names) -> dict[str, Result]:
    cfg = Config(seeds=3, epochs=5, hidden=4, horizon=30)
    context, truth = data_lib.forecast_truth(cfg)
    rng = np.random.default_rng(0)
    results = {}
    for name in names:
        loss = rng.uniform(0.01, 1.0, (3, 5))
        forecast = truth + rng.normal(0, 0.1, (3, 30))
        params = {"cell": {"kernel": np.zeros((3, 1, 12))}}
        results[name] = Result(
            cfg, params, History(loss, loss / 2), np.zeros(3, int), forecast, context, truth, Timing(1, 1, 1)
        )
    return results


@pytest.mark.parametrize("names", [("gru", "lstm"), ("gru", "lstm", "rnn")], ids=["one panel", "a panel each"])
def test_every_experiment_figure_labels_its_axes_and_keeps_its_legend_off_the_data(names, drawn, tmp_path):
    plots.all_figures(_results(names), tmp_path)
    assert set(drawn) == {"series", "loss", "forecast", "horizon_error", "forecast_rmse", "seed0"}
    for name, fig in drawn.items():
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in panels), name
        legends = _legends_clear_of_every_panel(fig)
        labels = [t.get_text() for legend in legends for t in legend.get_texts()]
        bands = [c.get_label() for ax in panels for c in ax.collections if isinstance(c, PolyCollection)]
        for band in bands:  # every band says what it spans, in the legend
            assert ("over seeds" in band or "CI" in band) and band in labels, (name, band)
