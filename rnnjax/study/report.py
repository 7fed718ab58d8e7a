"""summary.json and report.md of a run, every number computed from the run's Results
(the same values as metrics.csv), and verdicts on the seed notebook's three claims; a
sweep's summary.json, per grid point."""

import numpy as np

from rnnjax.study import stats
from rnnjax.study.grid import Grid
from rnnjax.study.metrics import METRICS, SWEEP_METRICS, amplitude_ratio, epochs_to_reach, forecast_rmse
from rnnjax.study.results import Result

ALPHA = 0.05  # significance level of the verdicts
ABOUT_20_PERCENT = (0.15, 0.25)  # what "about 20% fewer parameters" admits


def _median(values) -> float | None:
    """Median of the finite values; None if there are none."""
    return stats.describe(values)["median"]


def model_summary(run: Result) -> dict:
    cfg, t = run.cfg, run.timing
    out = {
        "cell": cfg.cell,
        "params": run.n_params,
        "seeds": cfg.seeds,
        "diverged": int(run.diverged.sum()),
        "diverged_seeds": [int(s) for s in np.flatnonzero(run.diverged)],
        "diverged_epochs": [int(run.diverged_epoch[s]) for s in np.flatnonzero(run.diverged)],
    }
    out |= {metric: stats.describe(run.masked(m.fn(run))) for metric, m in METRICS.items()}
    out["timing"] = {
        "compile_s": t.compile_s,
        "train_s": t.train_s,
        "forecast_s": t.forecast_s,
        "seed_epochs_per_s": t.seed_epochs_per_s(cfg),
        "s_per_epoch": t.s_per_epoch(cfg),
    }
    return out


def comparison(runs: dict[str, Result], a: str, b: str, metric: str = "forecast_rmse") -> dict:
    fn = METRICS[metric].fn
    return {"metric": metric, "a": a, "b": b} | stats.paired(runs[a].masked(fn(runs[a])), runs[b].masked(fn(runs[b])))


def _significant(cmp: dict) -> bool:
    return cmp["p_value"] is not None and cmp["p_value"] < ALPHA


def fmt(x, digits: int = 3) -> str:
    """A statistic as text: 'n/a' where there is none (every seed diverged)."""
    return "n/a" if x is None else f"{x:.{digits}g}"


def _ci(ci) -> str:
    return "n/a" if ci is None else f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def _test_text(cmp: dict) -> str:
    if cmp["p_value"] is None:
        return f"{cmp['pairs']} paired seed(s): too few for a test"
    return (
        f"median paired difference {fmt(cmp['median_diff'])} (95% CI {_ci(cmp['diff_ci95'])}), "
        f"P(a seed of {cmp['a']} is better) = {fmt(cmp['prob_a_better'], 2)}, "
        f"{cmp['test']}: p = {fmt(cmp['p_value'], 2)}, {cmp['pairs']} pairs"
    )


def _directional(cmp: dict, worse: str, better: str) -> str:
    """Verdict on "a is worse than b" (lower is better) from a paired comparison."""
    if cmp["p_value"] is None:
        return "undecided: needs at least 2 non-diverged seeds of each model"
    if 2.0 / 2 ** cmp["pairs"] >= ALPHA:  # the smallest two-sided p of the exact signed-rank test
        return f"undecided: a paired test on {cmp['pairs']} seeds cannot reach p < {ALPHA} (it needs at least 6)"
    if not _significant(cmp):
        return f"not supported: no significant difference at the {ALPHA:.0%} level"
    return worse if cmp["median_diff"] > 0 else better


def _what(cfg) -> str:
    """The notebook's words for its own series; the series' name for any other."""
    from rnnjax.core.series import describe

    if cfg.series == "damped_cos" and not cfg.data and not cfg.noise:
        return "the damped oscillation"
    return f"the series ({describe(cfg)})"


def claims(runs: dict[str, Result]) -> list[dict]:
    """Verdicts on the notebook's claims; they need a `gru` and an `lstm` model in the run."""
    if not {"gru", "lstm"} <= set(runs):
        return []
    gru, lstm = runs["gru"], runs["lstm"]
    out = []

    # judged twice: by RMSE, and by how far the forecast's amplitude is from the truth's
    pair = (("gru", gru), ("lstm", lstm))
    rmse = comparison(runs, "gru", "lstm", "forecast_rmse")
    log_amp = {k: np.abs(np.log(r.masked(amplitude_ratio(r)))) for k, r in pair}
    amp = stats.paired(log_amp["gru"], log_amp["lstm"]) | {"a": "gru", "b": "lstm"}
    amp_med = {k: _median(r.masked(amplitude_ratio(r))) for k, r in pair}
    rmse_med = {k: _median(r.masked(forecast_rmse(r))) for k, r in pair}
    out.append(
        {
            "claim": f"The GRU reproduces {_what(gru.cfg)} worse than the LSTM.",
            "verdict": "by forecast RMSE: "
            + _directional(rmse, "supported", "contradicted, the GRU's RMSE is lower")
            + "; by oscillation amplitude: "
            + _directional(amp, "supported, the GRU's forecast is flatter", "contradicted, the GRU's is closer"),
            "evidence": f"forecast RMSE median GRU {fmt(rmse_med['gru'])} vs LSTM {fmt(rmse_med['lstm'])}: "
            + _test_text(rmse)
            + f". Amplitude (forecast std / truth std, 1 is right) median GRU {fmt(amp_med['gru'])} vs LSTM "
            + f"{fmt(amp_med['lstm'])}; on |log amplitude|: "
            + _test_text(amp).replace("P(a seed of gru is better)", "P(a GRU seed is closer)"),
        }
    )

    # epochs until the training loss first reaches a level both models reach at the median
    levels = [_median(r.masked(r.loss[:, -1])) for r in (gru, lstm)]
    level = None if None in levels else max(levels)
    reach = np.inf if level is None else level  # no level: no pair, the verdict is undecided
    to_learn = {k: r.masked(epochs_to_reach(r.loss, reach)) for k, r in (("lstm", lstm), ("gru", gru))}
    if level is None:
        to_learn = {k: np.full_like(v, np.nan) for k, v in to_learn.items()}
    speed = stats.paired(to_learn["lstm"], to_learn["gru"]) | {"a": "lstm", "b": "gru"}
    per_epoch = {k: r.timing.train_s / (r.cfg.epochs * r.cfg.seeds) for k, r in (("gru", gru), ("lstm", lstm))}
    wall = per_epoch["lstm"] / per_epoch["gru"]
    epochs_med = {k: fmt(_median(v)) for k, v in to_learn.items()}
    out.append(
        {
            "claim": "The LSTM takes more time to learn.",
            "verdict": _directional(speed, "supported", "contradicted: the LSTM learns in fewer epochs")
            + f"; per epoch the LSTM's training took {wall:.2f}x the GRU's wall time in this run",
            "evidence": f"epochs until the training loss first reaches {fmt(level)}: median LSTM {epochs_med['lstm']} "
            f"vs GRU {epochs_med['gru']} (a seed that never does counts as epochs + 1); "
            + _test_text(speed).replace("P(a seed of lstm is better)", "P(an LSTM seed needs fewer epochs)"),
            "level": level,
            "wall_time_ratio_lstm_over_gru": float(wall),
        }
    )

    fewer = 1 - gru.n_params / lstm.n_params
    lo, hi = ABOUT_20_PERCENT
    out.append(
        {
            "claim": "The GRU has about 20% fewer parameters.",
            "verdict": "supported" if lo <= fewer <= hi else "not supported",
            "evidence": f"GRU {gru.n_params:,} vs LSTM {lstm.n_params:,} parameters: {fewer:.1%} fewer",
        }
    )
    return out


def comparisons(runs: dict[str, Result], metric: str = "forecast_rmse") -> list[dict]:
    """Every pair of models, paired by seed, with Holm's adjustment over the family of pairs."""
    names = list(runs)
    pairs = [comparison(runs, a, b, metric) for i, a in enumerate(names) for b in names[i + 1 :]]
    for cmp, p_holm in zip(pairs, stats.holm([c["p_value"] for c in pairs]), strict=True):
        cmp["p_holm"] = p_holm
    return pairs


def ranking(runs: dict[str, Result], metric: str = "forecast_rmse") -> list[dict]:
    """Models by median `metric` over their non-diverged seeds (best first; a model with no
    finite value last), each with a percentile-bootstrap 95% CI of its median."""
    m = METRICS[metric]
    rows = []
    for name, run in runs.items():
        values = stats.finite(run.masked(m.fn(run)))
        median = float(np.median(values)) if len(values) else None
        rows.append(
            {"model": name, "n": len(values), "median": median, "median_ci95": stats.bootstrap_ci(values, np.median)}
        )
    sign = -1.0 if m.lower_is_better is False else 1.0
    return sorted(rows, key=lambda r: (r["median"] is None, sign * (r["median"] or 0.0)))


def summarize(runs: dict[str, Result]) -> dict:
    names = list(runs)
    out = {"models": {name: model_summary(run) for name, run in runs.items()}}
    out["comparison"] = comparison(runs, names[0], names[1]) if len(names) >= 2 else None
    out["comparisons"] = comparisons(runs)
    out["ranking"] = {"metric": "forecast_rmse", "models": ranking(runs)}
    out["claims"] = claims(runs)
    out["series"] = _series(next(iter(runs.values())).cfg)
    return out


def _series(cfg) -> dict:
    from rnnjax.core.series import describe, normalization

    return {"name": describe(cfg), "normalize": normalization(cfg), "points": cfg.n_points}


def point_summary(run: Result, point: dict) -> dict:
    """Per sweep metric: describe() over the seeds that did not diverge, and a bootstrap 95%
    CI of the median; diverged seeds are counted, never averaged."""
    out = point | {
        "seeds": run.cfg.seeds,
        "params": run.n_params,
        "diverged": int(run.diverged.sum()),
        "diverged_seeds": [int(s) for s in np.flatnonzero(run.diverged)],
    }
    for metric in SWEEP_METRICS:
        kept = stats.finite(run.masked(METRICS[metric].fn(run)))
        out[metric] = stats.describe(kept) | {"median_ci95": stats.bootstrap_ci(kept, np.median)}
    return out


def sweep_summary(results: dict[str, list[Result]], grid: Grid, processes: int) -> dict:
    models = {}
    for name, runs in results.items():
        points = [point_summary(run, point) for run, point in zip(runs, grid.points, strict=True)]
        scored = [p for p in points if p["forecast_rmse"]["median"] is not None]
        best = min(scored, key=lambda p: p["forecast_rmse"]["median"]) if scored else None
        cfg, t = runs[0].cfg, runs[0].timing
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
        "seeds": next(iter(results.values()))[0].cfg.seeds,
        "processes": processes,
        "statistics": "median over the seeds that did not diverge, percentile bootstrap 95% CI "
        f"({stats.RESAMPLES} resamples); diverged seeds are counted per point",
        "models": models,
    }


def markdown(summary: dict, summaries: dict[str, str], figures: list[str], command: str, environment: dict) -> str:
    """report.md: parameters, metrics with CIs, comparison, verdicts, timing, figures."""
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
        (
            f"{first['seeds']} seeds per model; backend {environment['backend']} "
            f"({', '.join(environment['devices'])}); jax {environment['versions']['jax']}, "
            f"flax {environment['versions']['flax']}. Every number below is computed from `metrics.csv` "
            "(diverged seeds are counted and left out of the statistics)." + units
        ),
        "",
        "## Models",
        "",
        "| model | params | seeds | diverged | diverged seeds (at epoch) |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for n, m in models.items():
        which = ", ".join(
            f"{s} ({e or 'forecast'})" for s, e in zip(m["diverged_seeds"], m["diverged_epochs"], strict=True)
        )
        lines.append(f"| {n} | {m['params']:,} | {m['seeds']} | {m['diverged']} | {which or 'none'} |")
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
            "| a | b | pairs | median a − b | 95% CI | P(a better) | p | Holm p |",
            "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
        ]
        for c in summary["comparisons"]:
            lines.append(
                f"| {c['a']} | {c['b']} | {c['pairs']} | {fmt(c['median_diff'])} | {_ci(c['diff_ci95'])} | "
                f"{fmt(c['prob_a_better'], 2)} | {fmt(c['p_value'], 2)} | {fmt(c['p_holm'], 2)} |"
            )
    cmp = summary["comparison"]
    if cmp:
        better = {True: "lower is better", False: "higher is better", None: "neither is better"}
        direction = better[METRICS[cmp["metric"]].lower_is_better]
        lines += ["", f"## {cmp['a']} vs {cmp['b']} on {cmp['metric']} ({direction})", "", _test_text(cmp) + "."]
    if summary["claims"]:
        lines += ["", "## The seed notebook's claims", "", "| claim | verdict | evidence |", "| --- | --- | --- |"]
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
