"""Two finished experiments compared model by model, seed by seed: what changing the
training (an optimiser, a schedule, early stopping) did to the same models from the same
initial weights. Runs of one model that share a seed index start from the same parameters
and see the same batches, so the comparison is paired (`stats.paired`)."""

from pathlib import Path

from rnnjax.study import folders, outputs, stats
from rnnjax.study.metrics import METRICS

# What must agree for seed i of one run to pair with seed i of the other: the same initial
# weights (seed, size, init) and the same data, windows and forecast span
PAIRING_FIELDS = (
    "seed", "seeds", "hidden", "window", "layers", "init",
    "series", "channels", "targets", "data", "data_sha256", "column", "columns", "n_points", "x_start", "x_stop", "spacing", "tau", "noise",
    "noise_seed", "normalize", "val_fraction", "protocol", "test", "origins", "stride", "horizon", "forecast_mode",
)  # fmt: skip


def _same_start(models_a: dict, models_b: dict, names: list[str], folder_b: Path) -> None:
    """The two runs' seeds pair only if their models start alike and see the same data."""
    for field in PAIRING_FIELDS:
        for name in names:
            va, vb = models_a[name].get(field), models_b[name].get(field)
            if va != vb:
                raise folders.RunDirError(
                    f"{str(folder_b)!r} differs in {field} for {name} ({vb!r}, not {va!r}): its seeds do not pair"
                )


def only_in(folder_a: str | Path, folder_b: str | Path) -> tuple[list[str], list[str]]:
    """The models of each experiment that the other did not train (by name)."""
    a, b = (list(outputs.read_record(Path(f))["models"]) for f in (folder_a, folder_b))
    return [n for n in a if n not in b], [n for n in b if n not in a]


def compare(folder_a: str | Path, folder_b: str | Path, metric: str) -> dict:
    """{model: stats.paired(a, b)} of `metric` over seeds (lower is better; diverged seeds
    leave their pair out), for every model both experiments trained (`only_in`: the rest)."""
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
    _same_start(recs[0]["models"], recs[1]["models"], common, folder_b)
    rows = [outputs.load_metrics(f) for f in (folder_a, folder_b)]
    out = {}
    for name in common:
        a, b = (r[name] for r in rows)
        masked = [m[metric].copy() for m in (a, b)]
        for values, cols in zip(masked, (a, b), strict=True):
            values[cols["diverged"]] = float("nan")
        out[name] = stats.paired(*masked)
    return out
