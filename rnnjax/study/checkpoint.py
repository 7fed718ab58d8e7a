"""Checkpoint files: one per block of runs trained together (a model's runs [start, stop)),
holding every run's training state (params, optimiser state, PRNG key, epoch, divergence),
the runs themselves, the history so far and the time spent.

A file is a header line, a JSON line (config, epoch, leaf count, the payload's SHA-256)
and an .npz payload whose arrays are named by what they are: `state<path>` by the state's
tree path (`.params['cell']['kernel']`, `.opt_state.hyperparams['learning_rate']`),
`runs/<name>` and `history/<field>`, so that a reordered or upgraded optimiser state can
never load into the wrong leaf. It is written to a temporary name and renamed, so a killed
run leaves the previous checkpoint or the new one. A truncated or altered file fails the
checksum and is refused whole, never loaded in part.
"""

import hashlib
import io as bytes_io
import json
from pathlib import Path

import jax
import numpy as np

from rnnjax.core import series
from rnnjax.core.config import Config
from rnnjax.core.train import History, Progress, Runs, host_state_shapes
from rnnjax.study import folders

FORMAT = 6  # 6: optimiser states of every kind, early stopping, dropout; 5: arrays named by tree path
MAGIC = b"rnnjax checkpoint %d\n" % FORMAT


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line."""


HEADER_FIELDS = ("config", "series_sha256", "epoch", "train_s", "leaves")


def _digest(header: dict, payload: bytes) -> str:
    """SHA-256 of every byte read back: the header's fields (canonical JSON) and the payload."""
    fields = json.dumps({k: header[k] for k in HEADER_FIELDS}, sort_keys=True).encode()
    return hashlib.sha256(fields + b"\n" + payload).hexdigest()


def _series_sha256(cfg: Config) -> str | None:
    """The recorded data's checksum (None: a computed series): a checkpoint resumes only on
    the data it was trained on, whether or not the config names the checksum itself."""
    source = series.source(cfg)
    return None if source is None else source.sha256


def _named_state(state) -> dict:
    """{"state<tree path>": leaf} in tree order."""
    return {"state" + jax.tree_util.keystr(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(state)[0]}


def save(path: Path, cfg: Config, runs: Runs, progress: Progress) -> Path:
    arrays = _named_state(progress.state)
    leaves = list(arrays)
    arrays |= {f"runs/{name}": value for name, value in runs.arrays().items()}
    arrays |= {f"history/{field}": value for field, value in progress.history._asdict().items()}
    buf = bytes_io.BytesIO()
    np.savez(buf, **arrays)
    payload = buf.getvalue()
    header = {
        "config": cfg.as_dict(),
        "series_sha256": _series_sha256(cfg),
        "epoch": progress.epoch,
        "train_s": progress.train_s,
        "leaves": len(leaves),
    }
    header["sha256"] = _digest(header, payload)
    return folders.write_bytes(path, MAGIC + json.dumps(header).encode() + b"\n" + payload)


def _header(data: bytes, path: Path) -> tuple[dict, bytes]:
    try:
        magic, header_line, payload = data[: len(MAGIC)], *data[len(MAGIC) :].split(b"\n", 1)
        header = json.loads(header_line)
    except ValueError:
        raise CheckpointError(f"checkpoint {str(path)!r} is not an rnnjax checkpoint or is truncated") from None
    if magic != MAGIC:
        older = magic.startswith(b"rnnjax checkpoint ")
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written by another rnnjax (format {magic[18:].decode(errors='replace').strip()}"
            f", not {FORMAT}); it cannot be resumed by this version"
            if older
            else f"checkpoint {str(path)!r} is not an rnnjax checkpoint"
        )
    if not isinstance(header, dict) or set(header) != {*HEADER_FIELDS, "sha256"}:
        raise CheckpointError(f"checkpoint {str(path)!r} has a damaged header; not loaded")
    return header, payload


def read_epoch(path: Path) -> int:
    """The epochs a checkpoint says are done (unverified: for progress display only)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
        return int(_header(head, path)[0]["epoch"])
    except (CheckpointError, KeyError, TypeError, ValueError, OSError):
        return 0


def load(path: Path, cfg: Config, runs: Runs) -> Progress:
    """The Progress saved in `path` by a run of these `runs` of `cfg`, or a CheckpointError:
    the checksum covers the header's fields and the payload, and every field is checked."""
    try:
        data = path.read_bytes()
    except OSError as err:  # a folder where the file should be, no permission, ...
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {err.strerror}") from None
    header, payload = _header(data, path)
    try:
        intact = _digest(header, payload) == header["sha256"]
    except TypeError:  # a field that JSON cannot sort
        intact = False
    if not intact:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupted or truncated (checksum mismatch); not loaded")
    if header["config"] != cfg.as_dict():
        raise CheckpointError(f"checkpoint {str(path)!r} was written for another config")
    if header["series_sha256"] != _series_sha256(cfg):
        raise CheckpointError(
            f"checkpoint {str(path)!r} was trained on other data than {series.describe(cfg)!r} holds now"
        )
    epoch, train_s, n_leaves = header["epoch"], header["train_s"], header["leaves"]
    if not (isinstance(epoch, int) and 0 <= epoch <= cfg.epochs and isinstance(n_leaves, int)):
        raise CheckpointError(f"checkpoint {str(path)!r} has an epoch or leaf count out of range; not loaded")
    if not (isinstance(train_s, int | float) and train_s >= 0):
        raise CheckpointError(f"checkpoint {str(path)!r} has a negative or non-numeric time; not loaded")
    shapes = host_state_shapes(cfg, runs)
    expected = _named_state(shapes)
    try:
        arrays = np.load(bytes_io.BytesIO(payload))
        names = set(arrays.files)
        state_names = {n for n in names if n.startswith("state")}
        if state_names != set(expected) or n_leaves != len(expected):
            raise CheckpointError(f"checkpoint {str(path)!r} does not match this model's state; not loaded")
        leaves = [arrays[name] for name in expected]
        saved = {name: arrays[f"runs/{name}"] for name in runs.arrays()}
        if {n for n in names if n.startswith("runs/")} != {f"runs/{name}" for name in saved}:
            raise CheckpointError(f"checkpoint {str(path)!r} holds other runs than this block")
        history = History(*(arrays[f"history/{field}"] for field in History._fields))
    except (KeyError, ValueError, OSError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint {str(path)!r} lacks an array it needs; not loaded") from None
    if any(not np.array_equal(saved[name], value) for name, value in runs.arrays().items()):
        raise CheckpointError(f"checkpoint {str(path)!r} holds other runs than this block")
    shapes_ok = all(
        np.shape(a) == s.shape and a.dtype == s.dtype for a, s in zip(leaves, expected.values(), strict=True)
    )
    history_ok = all(np.shape(h) == (runs.count, epoch) for h in history)
    if not (shapes_ok and history_ok):
        raise CheckpointError(f"checkpoint {str(path)!r} holds arrays of the wrong shape; not loaded")
    state = jax.tree.unflatten(jax.tree.structure(shapes), leaves)
    return Progress(epoch, history, state, float(train_s))
