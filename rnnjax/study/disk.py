"""Room on disk for a run folder: what a study's checkpoints, arrays and figures will take,
from shapes alone, checked against the file system's free space before anything is written
or compiled (a full disk found while writing is survivable, `cli.writing_outputs`, but
found here it costs no training)."""

import shutil
from pathlib import Path

from rnnjax.core import series
from rnnjax.core.train import traits_of
from rnnjax.scaling import memory
from rnnjax.study.folders import RunDirError
from rnnjax.study.grid import Study, point_values, shape_groups

FIGURES = 12  # figure files a run draws, PNG and SVG (the experiment's six of each)
FIGURE_BYTES = 400_000  # one figure file besides its curves (the largest here: ~270 kB)
CURVE_BYTES = 16  # an SVG figure's bytes per point drawn: every run's loss, val loss, forecast
METRIC_ROW_BYTES = 1_000  # metrics.csv: one run's row


class NoRoom(RunDirError):
    """A file system with less free space than a run folder needs; the message is one line."""


def needed_bytes(study: Study) -> int:
    """About the most a finished run folder of `study` holds, from shapes alone: every
    checkpoint (each run's training state and history) twice (a checkpoint is written beside
    the one it replaces), the params, history and forecast arrays, the data's copy, one
    metrics row per run, and the figures (a fixed size each, and their SVG curves)."""
    total = 0
    for cfg in study.configs.values():
        for group in shape_groups(study.grid, study.seeds):
            runs = group.stop - group.start
            points = slice(group.start // study.seeds, group.stop // study.seeds)
            shaped = cfg.replace(**group.shape)
            state, params = memory.run_bytes(shaped, traits_of(point_values(study.grid, cfg, points)))
            targets = len(series.targets(shaped))
            history, forecast = 2 * shaped.epochs * 4, shaped.steps * targets * 4
            curves = CURVE_BYTES * (2 * shaped.epochs + shaped.steps * targets)
            total += runs * (2 * (state + history) + params + history + forecast + METRIC_ROW_BYTES + curves)
            total += shaped.length * len(series.channels(shaped)) * 8
    return total + FIGURES * FIGURE_BYTES


def folder_bytes(folder: Path) -> int:
    """What the files under `folder` hold now (0 if it does not exist)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def check_room(study: Study, folder: str | Path) -> int | None:
    """The bytes `study` still needs in `folder` (its files so far counted as room it will
    reuse), or NoRoom naming the need, the free space and the folder, when its file system
    (the folder's, or its nearest existing parent's) has less free; None when the folder is
    a file or cannot be looked at (making or reading it then says why)."""
    folder = Path(folder).absolute()
    try:
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir():  # a file where a folder should be: making the folder says why
            return None
        need = max(0, needed_bytes(study) - folder_bytes(folder))
        usage = shutil.disk_usage(existing)
    except OSError:
        return None
    if usage.total == 0:  # no disk at all (/proc): making the folder says why
        return None
    free = usage.free
    if need > free:
        raise NoRoom(
            f"{str(folder)!r} needs about {need / 2**20:.3g} MB for the run's checkpoints and outputs, and its "
            f"file system has {free / 2**20:.3g} MB free"
        )
    return need
