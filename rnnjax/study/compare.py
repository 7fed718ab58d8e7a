"""Two finished experiments compared model by model, seed by seed: what changing the
training (an optimiser, a schedule, early stopping) did to the same models from the same
initial weights. Runs of one model that share a seed index start from the same parameters
and see the same batches, so the comparison is paired (`stats.paired`)."""

from pathlib import Path

from rnnjax.study import folders, outputs, stats
from rnnjax.study.metrics import METRICS


def _same_start(a: dict, b: dict, folder_b: Path) -> None:
    """The two runs' seeds pair only if their models start alike and see the same data."""
    for field in ("seed", "seeds", "hidden", "window", "layers", "init", "series", "data_sha256", "n_points", "tau"):
        for name in a["models"]:
            va, vb = a["models"][name].get(field), b["models"][name].get(field)
            if va != vb:
                raise folders.RunDirError(
                    f"{str(folder_b)!r} differs in {field} for {name} ({vb!r}, not {va!r}): its seeds do not pair"
                )


def compare(folder_a: str | Path, folder_b: str | Path, metric: str) -> dict:
    """{model: stats.paired(a, b)} of `metric` over seeds (lower is better; diverged seeds
    leave their pair out), for every model both experiments trained."""
    if metric not in METRICS:
        raise folders.RunDirError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    folder_a, folder_b = Path(folder_a), Path(folder_b)
    recs = [outputs.read_record(f) for f in (folder_a, folder_b)]
    for folder, rec in zip((folder_a, folder_b), recs, strict=True):
        if rec["kind"] != "experiment" or not rec.get("finished") or len(rec["grid"]) != 1:
            raise folders.RunDirError(f"{str(folder)!r} is not a finished experiment of one grid point")
    common = [name for name in recs[0]["models"] if name in recs[1]["models"]]
    if not common:
        raise folders.RunDirError(f"{str(folder_a)!r} and {str(folder_b)!r} have no model in common")
    _same_start({"models": {n: recs[0]["models"][n] for n in common}}, recs[1], folder_b)
    rows = [outputs.load_metrics(f) for f in (folder_a, folder_b)]
    out = {}
    for name in common:
        a, b = (r[name] for r in rows)
        masked = [m[metric].copy() for m in (a, b)]
        for values, cols in zip(masked, (a, b), strict=True):
            values[cols["diverged"]] = float("nan")
        out[name] = stats.paired(*masked)
    return out
