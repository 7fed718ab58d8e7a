"""summary.json and report.md: the summaries of an experiment and of a sweep, every number
computed from the Results (the same values as metrics.csv), and the sentences that say them.

The report knows no particular model. Claims about two of the models are a plug-in
(`Claims`, e.g. `rnnjax.study.notebook`): it gives each claim as paired comparisons with the
words for their outcomes, and this module renders the verdict and evidence sentences."""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from rnnjax.study import stats
from rnnjax.study.grid import Grid
from rnnjax.study.metrics import METRICS, SWEEP_METRICS, by_channel, score
from rnnjax.study.metrics import value as metric_value
from rnnjax.study.results import Pooled, Result

ALPHA = 0.05  # significance level of the verdicts
RANKED_BY = "forecast_rmse"  # the metric of the ranking and of the comparisons (notebook protocol)
PRIMARY = {
    "notebook": "forecast_rmse",
    "holdout": "mase",
    "backtest": "mase",
}  # per protocol: ranking, comparisons, baselines


def primary(cfg) -> str:
    """The metric a run's comparisons, ranking and baseline table use."""
    return PRIMARY[cfg.forecast_protocol]


class Claims(NamedTuple):
    """Claims about two of a run's models, judged from its Results: the report's plug-in."""

    title: str  # the report's heading for them, e.g. "The seed notebook's claims"
    pair: tuple[str, str]  # the models they compare: also the report's headline comparison
    judge: Callable[[dict[str, Result]], list[dict]]  # the claims as `render_claim` reads them


def fmt(x, digits: int = 3) -> str:
    """A statistic as text: 'n/a' where there is none (every seed diverged)."""
    return "n/a" if x is None else f"{x:.{digits}g}"


def point_label(point: dict, fields) -> str:
    """A grid point's values of `fields` as text: "lr=0.01, optimizer=adam"."""
    return ", ".join(f"{f}={point[f]:g}" if isinstance(point[f], (int, float)) else f"{f}={point[f]}" for f in fields)


def _ci(ci) -> str:
    return "n/a" if ci is None else f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def median(values) -> float | None:
    """Median of the finite values, as `stats.describe` gives it; None if there are none."""
    return stats.describe(values)["median"]


def values(run, metric: str) -> np.ndarray:
    """[seeds] values of `metric`, diverged seeds NaN: a Result's, or a backtest's (Pooled)
    mean over its origins. Several channels: the mean over the channels (`metrics.value`)."""
    if isinstance(run, Pooled):
        return run.values(lambda f: metric_value(f, metric))
    return run.masked(metric_value(run, metric))


def channel_values(run, metric: str) -> dict[str, np.ndarray] | None:
    """{channel: [seeds]} of a per-channel metric of a run with several channels (diverged
    seeds NaN; a backtest's mean over its origins), else None."""
    first = run.folds[0] if isinstance(run, Pooled) else run
    names = first.channels
    if names is None or not METRICS[metric].per_channel:
        return None
    if isinstance(run, Pooled):
        return {c: run.values(lambda f, c=c: by_channel(f, metric)[c]) for c in names}
    return {c: run.masked(v) for c, v in by_channel(run, metric).items()}


def channel_summaries(run, metrics) -> dict:
    """Several channels: {"channels": {channel: {metric: describe()}}} of the per-channel
    `metrics`; {} for one channel."""
    per = {m: v for m in metrics if (v := channel_values(run, m)) is not None}
    if not per:
        return {}
    return {"channels": {c: {m: stats.describe(v[c]) for m, v in per.items()} for c in next(iter(per.values()))}}


def _number(x) -> str:
    return str(x) if isinstance(x, int) else fmt(x)


def training(cfg) -> str:
    """How a model was trained, in a line: optimiser, its hyperparameters, schedule,
    clipping, early stopping, dropout, layers."""
    from rnnjax.core.optim import OPTIMIZER_READS, SCHEDULE_READS, schedule_of

    hyper = ", ".join(f"{k} {_number(getattr(cfg, k))}" for k in ("lr", *OPTIMIZER_READS[cfg.optimizer]))
    parts = [f"{cfg.optimizer} ({hyper}), batch {cfg.batch_size}, {cfg.epochs} epochs"]
    if cfg.schedule != "constant":  # with its defaults resolved (decay over the whole run, ...)
        resolved = schedule_of(cfg)._asdict()
        sched = ", ".join(f"{k} {_number(resolved[k])}" for k in SCHEDULE_READS[cfg.schedule])
        parts.append(f"{cfg.schedule} schedule" + (f" ({sched})" if sched else ""))
    parts += [f"{k} {fmt(getattr(cfg, k))}" for k in ("clipnorm", "global_clipnorm", "clipvalue") if getattr(cfg, k)]
    if cfg.patience:
        restore = "best weights restored" if cfg.restore_best else "last weights kept"
        parts.append(f"early stopping on val_loss (patience {cfg.patience}, min_delta {fmt(cfg.min_delta)}, {restore})")
    parts += [f"{k} {fmt(getattr(cfg, k))}" for k in ("dropout", "recurrent_dropout") if getattr(cfg, k)]
    if cfg.layers > 1:
        parts.append(f"{cfg.layers} stacked layers")
    return "; ".join(parts)


def early_stopping(run) -> dict | None:
    """Each seed's stop and best epochs (1-based; stopped 0: trained every epoch), per
    origin for a backtest; None without early stopping."""
    folds = run.folds if isinstance(run, Pooled) else [run]
    if folds[0].stopped_epoch is None:
        return None
    per = {key: [[int(e) for e in getattr(f, key)] for f in folds] for key in ("stopped_epoch", "best_epoch")}
    if not isinstance(run, Pooled):
        per = {key: lists[0] for key, lists in per.items()}
    return {"stopped_epochs": per["stopped_epoch"], "best_epochs": per["best_epoch"]}


def model_summary(run: Result) -> dict:
    cfg, t = run.cfg, run.timing
    out = {
        "cell": cfg.cell,
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "params": run.n_params,
        "seeds": cfg.seeds,
        "diverged": int(run.diverged.sum()),
        "diverged_seeds": [int(s) for s in np.flatnonzero(run.diverged)],
        "diverged_epochs": [int(run.diverged_epoch[s]) for s in np.flatnonzero(run.diverged)],
    }
    out |= {metric: stats.describe(values(run, metric)) for metric in METRICS}
    out |= channel_summaries(run, METRICS)
    out["training"] = training(cfg)
    stops = early_stopping(run)
    if stops is not None:
        out["early_stopping"] = stops
    runs_cfg = getattr(run, "runs_cfg", cfg)  # a backtest's timing covers every origin's runs
    out["timing"] = {
        "compile_s": t.compile_s,
        "train_s": t.train_s,
        "forecast_s": t.forecast_s,
        "seed_epochs_per_s": t.seed_epochs_per_s(runs_cfg),
        "s_per_epoch": t.s_per_epoch(cfg),
    }
    if isinstance(run, Pooled):  # and each origin's median
        scored = [m for m, spec in METRICS.items() if spec.of_forecast]
        out["per_origin"] = {m: [median(f.masked(metric_value(f, m))) for f in run.folds] for m in scored}
    return out


def paired(a: str, b: str, values_a, values_b, **fields) -> dict:
    """Models a and b compared seed by seed (lower is better): `stats.paired`'s numbers, then
    the `fields` their sentences read (see `render_claim`)."""
    return {"a": a, "b": b} | stats.paired(values_a, values_b) | fields


def comparison(runs: dict[str, Result], a: str, b: str, metric: str = RANKED_BY) -> dict:
    return {"metric": metric} | paired(a, b, values(runs[a], metric), values(runs[b], metric))


def comparisons(runs: dict[str, Result], metric: str = RANKED_BY) -> list[dict]:
    """Every pair of models, paired by seed, with Holm's adjustment over the family of pairs."""
    names = list(runs)
    pairs = [comparison(runs, a, b, metric) for i, a in enumerate(names) for b in names[i + 1 :]]
    for cmp, p_holm in zip(pairs, stats.holm([c["p_value"] for c in pairs]), strict=True):
        cmp["p_holm"] = p_holm
    return pairs


def ranking(runs: dict[str, Result], metric: str = RANKED_BY) -> list[dict]:
    """Models by median `metric` over their non-diverged seeds (best first; a model with no
    finite value last), each with a percentile-bootstrap 95% CI of its median."""
    m = METRICS[metric]
    rows = []
    for name, run in runs.items():
        kept = stats.finite(values(run, metric))
        middle = float(np.median(kept)) if len(kept) else None
        rows.append(
            {"model": name, "n": len(kept), "median": middle, "median_ci95": stats.bootstrap_ci(kept, np.median)}
        )
    sign = -1.0 if m.lower_is_better is False else 1.0
    return sorted(rows, key=lambda r: (r["median"] is None, sign * (r["median"] or 0.0)))


def headline(
    runs: dict[str, Result], ranked: list[dict], plugin: Claims | None = None, metric: str = RANKED_BY
) -> dict | None:
    """The report's one comparison: the pair the claims compare when there are claims, else
    the two best models of the ranking; None for a single model. `chosen` says which."""
    if plugin is not None and set(plugin.pair) <= set(runs):
        a, b = plugin.pair
        chosen = "the two models the claims compare"
    elif len(ranked) >= 2:
        a, b = ranked[0]["model"], ranked[1]["model"]
        chosen = f"the two best models by median {METRICS[metric].label}"
    else:
        return None
    return comparison(runs, a, b, metric) | {"chosen": chosen}


def _test_text(cmp: dict) -> str:
    """A paired comparison's test; `a_better` words what prob_a_better is the probability of."""
    if cmp["p_value"] is None:
        return f"{cmp['pairs']} paired seed(s): too few for a test"
    better = cmp.get("a_better", f"a seed of {cmp['a']} is better")
    return (
        f"median paired difference {fmt(cmp['median_diff'])} (95% CI {_ci(cmp['diff_ci95'])}), "
        f"{better} in {fmt(cmp['paired_fraction'], 2)} of the seed pairs "
        f"(paired fraction, Wilson 95% CI {_ci(cmp['paired_fraction_ci95'])}), "
        f"{cmp['test']}: p = {fmt(cmp['p_value'], 2)}, {cmp['pairs']} pairs"
    )


def _outcome(cmp: dict) -> str:
    """The verdict of a paired comparison on "a is worse than b": undecided, not supported, or
    the claim's words for either direction (`if_a_worse`, `if_a_better`)."""
    if cmp["p_value"] is None:
        return "undecided: needs at least 2 non-diverged seeds of each model"
    if 2.0 / 2 ** cmp["pairs"] >= ALPHA:  # the smallest two-sided p of the exact signed-rank test
        return f"undecided: a paired test on {cmp['pairs']} seeds cannot reach p < {ALPHA} (it needs at least 6)"
    if cmp["p_value"] >= ALPHA:
        return f"not supported: no significant difference at the {ALPHA:.0%} level"
    return cmp["if_a_worse"] if cmp["median_diff"] > 0 else cmp["if_a_better"]


def _evidence(cmp: dict) -> str:
    """'<quantity>: median <a> m_a vs <b> m_b <aside>; on <on>: <test>' (aside and on optional)."""
    name_a, name_b = cmp.get("names", (cmp["a"], cmp["b"]))
    median_a, median_b = cmp["medians"]
    aside = f" {cmp['aside']}" if "aside" in cmp else ""
    on = f"on {cmp['on']}: " if "on" in cmp else ""
    return (
        f"{cmp['quantity']}: median {name_a} {fmt(median_a)} vs {name_b} {fmt(median_b)}{aside}; {on}{_test_text(cmp)}"
    )


def render_claim(claim: dict) -> dict:
    """A claim as summary.json keeps it: `claim`, and its `verdict` and `evidence` rendered
    from its fields: `comparisons` (`paired` dicts with `quantity`, `medians`, optionally
    `names`, `aside`, `on`, `a_better`; `by`, `if_a_worse`, `if_a_better` for the verdict),
    then plain `statements` (verdicts without a test) and `facts` (evidence without one).
    Its other fields follow, and the comparisons last."""
    tests = claim.get("comparisons", [])
    verdicts = [f"by {c['by']}: {_outcome(c)}" if "by" in c else _outcome(c) for c in tests]
    evidence = [_evidence(c) for c in tests]
    rest = {k: v for k, v in claim.items() if k not in ("claim", "comparisons", "statements", "facts")}
    return {
        "claim": claim["claim"],
        "verdict": "; ".join(verdicts + claim.get("statements", [])),
        "evidence": ". ".join(evidence + claim.get("facts", [])),
        **rest,
        "comparisons": tests,
    }


def claims(runs: dict[str, Result], plugin: Claims | None = None) -> list[dict]:
    """The plug-in's claims, rendered; none without a plug-in or when the run lacks its pair."""
    if plugin is None or not set(plugin.pair) <= set(runs):
        return []
    return [render_claim(c) for c in plugin.judge(runs)]


def summarize(
    runs: dict[str, Result], plugin: Claims | None = None, baselines: list[str] | None = None, metric: str | None = None
) -> dict:
    """summary.json: `baselines` (default every one that applies) scored and compared on
    `metric` (default the protocol's primary metric) beside the models."""
    first = next(iter(runs.values()))
    cfg = first.cfg
    metric = metric or primary(cfg)
    ranked = ranking(runs, metric)
    folds = [f.cfg for f in first.folds] if isinstance(first, Pooled) else [cfg]
    scored = pooled_baseline_scores([baseline_scores(c, baselines) for c in folds])
    origin_spans = [spans(c) for c in folds]
    return {
        "protocol": cfg.forecast_protocol,
        "spans": origin_spans[0],
        **(
            {"origins": [s | {"fold": c.fold, "origin": c.origin} for s, c in zip(origin_spans, folds, strict=True)]}
            if cfg.forecast_protocol == "backtest"
            else {}
        ),
        "primary": metric,
        "models": {name: model_summary(run) for name, run in runs.items()},
        "comparison": headline(runs, ranked, plugin, metric),
        "comparisons": comparisons(runs, metric),
        "ranking": {"metric": metric, "models": ranked},
        "baselines": scored,
        "against_baselines": against_baselines(runs, scored, metric),
        "claims": claims(runs, plugin),
        "series": _series(cfg),
    }


def _series(cfg) -> dict:
    from rnnjax.core.series import channels, describe, normalization, targets

    out = {"name": describe(cfg), "normalize": normalization(cfg), "points": cfg.length}
    names = channels(cfg)
    if len(names) > 1:  # several channels: which are read and which predicted
        out |= {"channels": list(names), "targets": [names[i] for i in targets(cfg)]}
    return out


def _channel_lines(series: dict) -> list[str]:
    """Several channels: what the models read and predict, and where covariates come from."""
    if "channels" not in series:
        return []
    read, predicted = series["channels"], series["targets"]
    known = [c for c in read if c not in predicted]
    line = (
        f"**Channels.** The models read {len(read)} channels ({', '.join(read)}), each standardized by its own "
        f"training statistics, and predict {', '.join(predicted)}."
    )
    if known:
        line += (
            f" {', '.join(known)} {'is a known covariate' if len(known) == 1 else 'are known covariates'}: the "
            "closed-loop forecast reads their observed values over the horizon and feeds back only its predictions."
        )
    return [
        line + " Forecast metrics are the mean over the predicted channels (MASE: of each channel's MASE); "
        "each channel's are under Metrics per channel.",
        "",
    ]


def spans(cfg) -> dict:
    """Sample-index spans [start, stop): what the models trained and validated on, and what
    the forecast is scored on (`test`: held out; under the notebook's protocol, `forecast`,
    which lies inside the span trained on)."""
    forecast = [cfg.origin, cfg.origin + cfg.steps]
    first = cfg.start
    out = {"train": [first, first + cfg.n_train + cfg.window], "validation": [first + cfg.n_train, first + cfg.seen]}
    return out | (
        {"forecast": forecast, "in_sample": True} if cfg.forecast_protocol == "notebook" else {"test": forecast}
    )


def pooled_baseline_scores(per_origin: list[dict]) -> dict:
    """One origin's baseline scores as they are; several origins' (a backtest) as each
    metric's mean over the origins, with the per-origin values and forecasts beside it."""
    if len(per_origin) == 1:
        return per_origin[0]
    out = {}
    for name, first in per_origin[0].items():
        metrics = [m for m in first if m in METRICS]
        out[name] = {"label": first["label"]} | {m: float(np.mean([o[name][m] for o in per_origin])) for m in metrics}
        out[name] |= {"per_origin": {m: [o[name][m] for o in per_origin] for m in metrics}}
        out[name] |= {"forecast": [o[name]["forecast"] for o in per_origin]}
    return out


def baseline_scores(cfg, names: list[str] | None = None) -> dict:
    """{baseline: {"label", "forecast", metric: value}} on the run's span, every metric that
    is a function of the forecast alone (none under the notebook's protocol)."""
    from rnnjax.core import data as data_lib
    from rnnjax.study import baselines

    _, truth = data_lib.forecast_truth(cfg)
    history = data_lib.history(cfg)
    if history.ndim == 2:  # several channels: the predicted ones' (MASE's scale)
        history = history[:, list(data_lib.targets(cfg))]
    out = {}
    for name, values in baselines.of(cfg, names).items():
        scores = {
            m: float(score(m, values[None], truth, history)[0]) for m, spec in METRICS.items() if spec.of_forecast
        }
        out[name] = {"label": baselines.BASELINES[name].label} | scores | {"forecast": values.tolist()}
    return out


def against_baselines(runs: dict[str, Result], scored: dict, metric: str) -> list[dict]:
    """Each model's seeds against each baseline on `metric`: the paired fraction of seeds
    better than it (Wilson 95% CI), and a signed-rank test of the seeds against the best
    baseline, Holm-adjusted over the models."""
    if not scored:
        return []
    best = min(scored, key=lambda name: scored[name][metric] if np.isfinite(scored[name][metric]) else np.inf)
    rows = []
    for name, run in runs.items():
        seeds = values(run, metric)
        fractions = {}
        for base, s in scored.items():
            cmp = stats.paired(seeds, np.full(len(seeds), s[metric]))
            fractions[base] = {"fraction": cmp["paired_fraction"], "ci95": cmp["paired_fraction_ci95"]}
        test = stats.paired(seeds, np.full(len(seeds), scored[best][metric]))
        rows.append(
            {
                "model": name,
                "metric": metric,
                "median": median(seeds),
                "median_ci95": stats.bootstrap_ci(stats.finite(seeds), np.median),
            }
            | {"better_than": fractions, "best_baseline": best, "vs_best": test}
        )
    for row, p_holm in zip(rows, stats.holm([r["vs_best"]["p_value"] for r in rows]), strict=True):
        row["vs_best"]["p_holm"] = p_holm
    return rows


def point_summary(run: Result, point: dict) -> dict:
    """Per sweep metric: describe() over the seeds that did not diverge, and a bootstrap 95%
    CI of the median; diverged seeds are counted, never averaged. The point's knobs as the
    model ran them (a knob the grid does not sweep is the model's own: its hidden size)."""
    out = {f: getattr(run.cfg, f) for f in point} | {
        "seeds": run.cfg.seeds,
        "params": run.n_params,
        "diverged": int(run.diverged.sum()),
        "diverged_seeds": [int(s) for s in np.flatnonzero(run.diverged)],
    }
    metrics = tuple(dict.fromkeys((*SWEEP_METRICS, primary(run.cfg))))
    for metric in metrics:
        kept = stats.finite(values(run, metric))
        out[metric] = stats.describe(kept) | {"median_ci95": stats.bootstrap_ci(kept, np.median)}
    out |= channel_summaries(run, metrics)
    return out


MOVING_TARGET = (
    "under the notebook's protocol the forecast starts after the first target window (at y[window + 1]), "
    "so its origin and truth move with window: grid points of different windows are scored on different "
    "values (--protocol holdout scores every window on the same held-out values)"
)


def sweep_warnings(protocol: str, swept) -> list[str]:
    """What the sweep's numbers do not say for themselves, one line each: under the notebook's
    protocol the forecast starts after the first target window, so a window axis moves it."""
    return [MOVING_TARGET] if protocol == "notebook" and "window" in swept else []


def sweep_summary(results: dict[str, list[Result]], grid: Grid, processes: int) -> dict:
    models = {}
    for name, runs in results.items():
        points = [point_summary(run, point) for run, point in zip(runs, grid.points, strict=True)]
        cfg, t = runs[0].cfg, runs[0].timing
        # the notebook's forecast is in-sample, so it may choose; a held-out one must not: the
        # validation loss chooses there, and the test span only scores the choice
        chooser = "forecast_rmse" if cfg.forecast_protocol == "notebook" else "final_val_loss"
        scored = [p for p in points if p[chooser]["median"] is not None]
        best = min(scored, key=lambda p: p[chooser]["median"]) if scored else None
        run_epochs = len(runs) * cfg.seeds * cfg.epochs
        models[name] = {
            "cell": cfg.cell,
            "points": points,
            f"best_by_{chooser}": None if best is None else {f: best[f] for f in grid.swept or ("lr",)},
            "timing": t._asdict() | {"seed_epochs_per_s": run_epochs / t.train_s if t.train_s else None},
        }
    cfg = next(iter(results.values()))[0].cfg
    return {
        "protocol": cfg.forecast_protocol,
        "primary": primary(cfg),
        "swept": list(grid.swept),
        "warnings": sweep_warnings(cfg.forecast_protocol, grid.swept),
        "grid": grid.points,
        "seeds": next(iter(results.values()))[0].cfg.seeds,
        "processes": processes,
        "statistics": "median over the seeds that did not diverge, percentile bootstrap 95% CI "
        f"({stats.RESAMPLES} resamples); diverged seeds are counted per point",
        "models": models,
    }


def sweep_markdown(summary: dict, command: str, environment: dict) -> str:
    """A sweep's report.md: at every grid point, the models ranked by the median of the
    primary metric over their non-diverged seeds, with its bootstrap 95% CI."""
    metric = summary.get("primary", "forecast_rmse")
    label = METRICS[metric].label
    models = summary["models"]
    protocol = summary.get("protocol", "notebook")
    where = {
        "holdout": "held-out values",
        "backtest": "held-out values, ranked per origin (`fold`)",
    }.get(protocol, "values inside the span the models trained on")
    intro = (
        f"**Protocol: {protocol}** (forecasts scored on {where}). {summary['seeds']} seeds per model and grid "
        f"point; swept: {', '.join(summary['swept']) or 'nothing'}; backend {environment['backend']}. "
        f"Statistics: {summary['statistics']}."
    )
    lines = [
        "# Sweep",
        "",
        f"`{command}`",
        "",
        intro,
        "",
        *(f"**Warning:** {warning}.\n" for warning in summary.get("warnings", [])),
        f"## Ranking per grid point by median {label} (lower is better)",
        "",
    ]
    for g, point in enumerate(summary["grid"]):
        where = point_label(point, summary["swept"]) or "the one point"
        rows = sorted(
            ((name, m["points"][g]) for name, m in models.items()),
            key=lambda item: (item[1][metric]["median"] is None, item[1][metric]["median"] or 0.0),
        )
        channels = list(rows[0][1].get("channels", {}))  # several channels: each one's median too
        lines += [
            f"### {where}",
            "",
            "| rank | model | params | median [95% CI] | diverged |" + "".join(f" {c} |" for c in channels),
            "| ---: | --- | ---: | --- | ---: |" + " ---: |" * len(channels),
        ]
        for i, (name, p) in enumerate(rows, 1):
            per = "".join(f" {fmt(p['channels'][c][metric]['median'])} |" for c in channels)
            lines.append(
                f"| {i} | {name} | {p['params']:,} | {fmt(p[metric]['median'])} {_ci(p[metric]['median_ci95'])} | "
                f"{p['diverged']}/{p['seeds']} |" + per
            )
        lines.append("")
    lines += ["![sweep.png](sweep.png)", ""]
    return "\n".join(lines)


def _span(span) -> str:
    return f"y[{span[0]}..{span[1] - 1}]"


def _protocol_lines(summary: dict, series: dict) -> list[str]:
    """The report's first lines: the protocol and its spans; a warning when the notebook's
    in-sample protocol scores any series but the notebook's own."""
    if "protocol" not in summary:  # a summary written before protocols
        return []
    s = summary["spans"]
    trained = f"trained on {_span(s['train'])} (training windows), validated on {_span(s['validation'])}"
    if summary["protocol"] == "backtest":
        listed = "; ".join(
            f"origin {o['fold']}: trained on {_span(o['train'])}, scored on {_span(o['test'])}"
            for o in summary["origins"]
        )
        rolling = (
            f"**Protocol: backtest.** {len(summary['origins'])} rolling forecast origins, each model trained only on "
            f"values before its origin, over training spans of one length ({listed}). A seed's score is its mean over "
            f"the origins; the figures show the last origin. Primary metric: {METRICS[summary['primary']].label}."
        )
        return [rolling, ""]
    if summary["protocol"] == "holdout":
        held = (
            f"**Protocol: holdout.** The forecast is held out: the models {trained}; the closed-loop forecast "
            f"starts at y[{s['test'][0]}] from the values before it and is scored on {_span(s['test'])}, which no "
            f"training, validation, scaling or noise statistic saw. Primary metric: {METRICS[summary['primary']].label}."
        )
        return [held, ""]
    notebook = (
        f"**Protocol: notebook.** The models {trained}; the closed-loop forecast is scored on "
        f"{_span(s['forecast'])}, **inside the span the models trained on** (the seed notebook's protocol)."
    )
    lines = [notebook, ""]
    if not series["name"].startswith("damped_cos"):
        warning = (
            "> **Warning: in-sample forecast.** On any series but the notebook's, score held-out values "
            "instead: `--protocol holdout --test N`."
        )
        lines += [warning, ""]
    return lines


def _baseline_lines(summary: dict) -> list[str]:
    """The models against the baselines on the primary metric: the paired fraction of seeds
    better than each, and a signed-rank test against the best, Holm-adjusted over models."""
    rows, scored = summary.get("against_baselines") or [], summary.get("baselines") or {}
    if not rows:
        return []
    metric = summary["primary"]
    label = METRICS[metric].label
    names = list(scored)
    listed = "; ".join(f"`{n}` {scored[n]['label']} = {fmt(scored[n][metric])}" for n in names)
    how = (
        "Per model: the median over seeds [95% percentile-bootstrap CI]; for each baseline the fraction of seeds "
        "that beat it (ties count half) [Wilson score 95% CI]; and against the best baseline "
        f"(`{rows[0]['best_baseline']}`) a two-sided Wilcoxon signed-rank test of the seeds' values against its "
        f"value, Holm-adjusted over the {len(rows)} models."
    )
    lines = [
        f"## Against baselines ({label}, lower is better)",
        "",
        f"Baselines on the same span, origin and units: {listed}.",
        "",
        how,
        "",
        "| model | median [95% CI] | " + " | ".join(f"beats `{n}`" for n in names) + " | p vs best | Holm p |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " | ---: | ---: |",
    ]
    for r in rows:
        beats = [f"{fmt(r['better_than'][n]['fraction'], 2)} {_ci(r['better_than'][n]['ci95'])}" for n in names]
        lines.append(
            f"| {r['model']} | {fmt(r['median'])} {_ci(r['median_ci95'])} | "
            + " | ".join(beats)
            + f" | {fmt(r['vs_best']['p_value'], 2)} | {fmt(r['vs_best']['p_holm'], 2)} |"
        )
    return lines + [""]


def markdown(
    summary: dict,
    summaries: dict[str, str],
    figures: list[str],
    command: str,
    environment: dict,
    claims_title: str | None = None,
) -> str:
    """report.md: parameters, metrics with CIs, comparison, verdicts (under `claims_title`),
    timing, figures."""
    models = summary["models"]
    first = next(iter(models.values()))
    series = summary.get("series") or {"name": "damped_cos", "normalize": "none"}
    units = (
        " Losses are MSEs of the standardized series (z-scored by the training windows' mean and sd); "
        "forecasts and their errors are in the data's own units."
        if series["normalize"] == "standard"
        else ""
    )
    lines = [
        f"# Recurrent cells on {series['name']}",
        "",
        f"`{command}`",
        "",
        *_protocol_lines(summary, series),
        *_channel_lines(series),
        (
            f"{first['seeds']} seeds per model; backend {environment['backend']} "
            f"({', '.join(environment['devices'])}); jax {environment['versions']['jax']}, "
            f"flax {environment['versions']['flax']}. Every number below is computed from `metrics.csv` "
            "(diverged seeds are counted and left out of the statistics)." + units
        ),
        "",
        *_baseline_lines(summary),
        "## Models",
        "",
        "| model | hidden x layers | params | seeds | diverged | diverged seeds (at epoch) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for n, m in models.items():
        which = ", ".join(
            f"{s} ({e or 'forecast'})" for s, e in zip(m["diverged_seeds"], m["diverged_epochs"], strict=True)
        )
        size = f"{m['hidden']} x {m['layers']}" if "hidden" in m else "n/a"  # a summary written before sizes
        lines.append(f"| {n} | {size} | {m['params']:,} | {m['seeds']} | {m['diverged']} | {which or 'none'} |")
    lines += [""] + [f"Training of {n}: {m['training']}." for n, m in models.items()]
    for n, m in models.items():
        if "early_stopping" in m:
            stop = np.asarray(m["early_stopping"]["stopped_epochs"]).ravel()
            best = np.asarray(m["early_stopping"]["best_epochs"]).ravel()
            stopped = stop[stop > 0]
            lines.append(
                f"Early stopping of {n}: {len(stopped)} of {stop.size} runs stopped"
                + (f" (after epochs {int(stopped.min())}-{int(stopped.max())})" if len(stopped) else "")
                + f"; best epochs {int(best.min())}-{int(best.max())}, median {fmt(float(np.median(best)))}."
            )
    for name, text in summaries.items():
        lines += ["", f"```\n{text}\n```"]
    lines += [
        "",
        "## Metrics over seeds",
        "",
        "IQM: interquartile mean. CI: 95% percentile bootstrap of the mean.",
        "",
        "| metric | model | n | median | 25% | 75% | IQM | mean | mean 95% CI |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for metric in METRICS:
        for name, m in models.items():
            s = m[metric]
            cells = [fmt(s[k]) for k in ("median", "q25", "q75", "iqm", "mean")]
            label = f"{METRICS[metric].label} (`{metric}`)"
            lines.append(f"| {label} | {name} | {s['n']} | " + " | ".join(cells) + f" | {_ci(s['mean_ci95'])} |")
    if any("channels" in m for m in models.values()):
        lines += [
            "",
            "## Metrics per channel",
            "",
            "| metric | model | channel | n | median | 25% | 75% | mean 95% CI |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for name, m in models.items():
            for channel, per in m.get("channels", {}).items():
                for metric, s in per.items():
                    cells = " | ".join(fmt(s[k]) for k in ("median", "q25", "q75"))
                    lines.append(f"| `{metric}` | {name} | {channel} | {s['n']} | {cells} | {_ci(s['mean_ci95'])} |")
    rank = summary["ranking"]
    lines += [
        "",
        f"## Ranking by median {METRICS[rank['metric']].label}",
        "",
        "Median over the non-diverged seeds, with its 95% percentile-bootstrap CI.",
        "",
        "| rank | model | seeds | median | 95% CI |",
        "| ---: | --- | ---: | ---: | --- |",
    ]
    for i, r in enumerate(rank["models"], 1):
        lines.append(f"| {i} | {r['model']} | {r['n']} | {fmt(r['median'])} | {_ci(r['median_ci95'])} |")
    if len(summary["comparisons"]) > 1:
        lines += [
            "",
            f"## Every pair on {summary['comparisons'][0]['metric']} (lower is better)",
            "",
            f"Paired by seed (same seed, same data order); Holm-adjusted over the {len(summary['comparisons'])} pairs.",
            "",
            "| a | b | pairs | median a − b | 95% CI | paired fraction a better [Wilson 95% CI] | p | Holm p |",
            "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
        ]
        for c in summary["comparisons"]:
            lines.append(
                f"| {c['a']} | {c['b']} | {c['pairs']} | {fmt(c['median_diff'])} | {_ci(c['diff_ci95'])} | "
                f"{fmt(c['paired_fraction'], 2)} {_ci(c['paired_fraction_ci95'])} | {fmt(c['p_value'], 2)} | "
                f"{fmt(c['p_holm'], 2)} |"
            )
    cmp = summary["comparison"]
    if cmp:
        better = {True: "lower is better", False: "higher is better", None: "neither is better"}
        direction = better[METRICS[cmp["metric"]].lower_is_better]
        lines += ["", f"## {cmp['a']} vs {cmp['b']} on {cmp['metric']} ({direction})", ""]
        lines += [f"Compared here: {cmp['chosen']}.", "", _test_text(cmp) + "."]
    if summary["claims"]:
        lines += ["", f"## {claims_title or 'Claims'}", "", "| claim | verdict | evidence |", "| --- | --- | --- |"]
        lines += [f"| {c['claim']} | **{c['verdict']}** | {c['evidence']} |" for c in summary["claims"]]
    lines += [
        "",
        "## Timing",
        "",
        "| model | compile s | train s | seed-epochs/s | s per epoch (all seeds) | forecast s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in models.items():
        t = m["timing"]
        lines.append(
            f"| {name} | {t['compile_s']:.1f} | {t['train_s']:.1f} | {t['seed_epochs_per_s']:.0f} "
            f"| {t['s_per_epoch']:.4f} | {t['forecast_s']:.1f} |"
        )
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    return "\n".join(lines)
