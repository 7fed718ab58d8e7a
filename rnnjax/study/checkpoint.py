"""Checkpoint files: one per block of runs trained together (a model's runs [start, stop)),
holding every run's training state (params, optimiser state, PRNG key, epoch, divergence),
the runs themselves, the history so far and the time spent.

A file is a header line, a JSON line (config, epoch, leaf count, the payload's SHA-256)
and an .npz payload; it is written to a temporary name and renamed, so a killed run leaves
the previous checkpoint or the new one. A truncated or altered file fails the checksum and
is refused whole, never loaded in part.
"""

import hashlib
import io as bytes_io
import json
from pathlib import Path

import jax
import numpy as np

from rnnjax.core.config import Config
from rnnjax.core.train import History, Runs
from rnnjax.scaling.sharding import Progress, state_structure, state_structure_shapes
from rnnjax.study import folders

MAGIC = b"rnnjax checkpoint 4\n"  # 4: runs hold their observation noise


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line."""


HEADER_FIELDS = ("config", "epoch", "train_s", "leaves")


def _digest(header: dict, payload: bytes) -> str:
    """SHA-256 of every byte read back: the header's fields (canonical JSON) and the payload."""
    fields = json.dumps({k: header[k] for k in HEADER_FIELDS}, sort_keys=True).encode()
    return hashlib.sha256(fields + b"\n" + payload).hexdigest()


def save(path: Path, cfg: Config, runs: Runs, progress: Progress) -> Path:
    leaves = jax.tree.leaves(progress.state)
    arrays = {f"state_{i}": leaf for i, leaf in enumerate(leaves)}
    arrays |= {f"runs_{field}": value for field, value in runs._asdict().items()}
    arrays |= {f"history_{field}": value for field, value in progress.history._asdict().items()}
    buf = bytes_io.BytesIO()
    np.savez(buf, **arrays)
    payload = buf.getvalue()
    header = {
        "config": cfg.as_dict(),
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
        raise CheckpointError(f"checkpoint {str(path)!r} is not an rnnjax checkpoint")
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
    epoch, train_s, n_leaves = header["epoch"], header["train_s"], header["leaves"]
    if not (isinstance(epoch, int) and 0 <= epoch <= cfg.epochs and isinstance(n_leaves, int)):
        raise CheckpointError(f"checkpoint {str(path)!r} has an epoch or leaf count out of range; not loaded")
    if not (isinstance(train_s, int | float) and train_s >= 0):
        raise CheckpointError(f"checkpoint {str(path)!r} has a negative or non-numeric time; not loaded")
    try:
        arrays = np.load(bytes_io.BytesIO(payload))
        saved = Runs(*(arrays[f"runs_{field}"] for field in Runs._fields))
        treedef = state_structure(cfg, runs.has_momentum)
        if treedef.num_leaves != n_leaves:
            raise CheckpointError(f"checkpoint {str(path)!r} does not match this model's state")
        leaves = [arrays[f"state_{i}"] for i in range(n_leaves)]
        history = History(*(arrays[f"history_{field}"] for field in History._fields))
    except (KeyError, ValueError, OSError):
        raise CheckpointError(f"checkpoint {str(path)!r} lacks an array it needs; not loaded") from None
    if any(not np.array_equal(a, b) for a, b in zip(saved, runs, strict=True)):
        raise CheckpointError(f"checkpoint {str(path)!r} holds other runs than this block")
    expected = jax.tree.leaves(state_structure_shapes(cfg, runs))
    shapes_ok = all(np.shape(a) == s.shape and a.dtype == s.dtype for a, s in zip(leaves, expected, strict=True))
    history_ok = all(np.shape(h) == (runs.count, epoch) for h in history)
    if not (shapes_ok and history_ok):
        raise CheckpointError(f"checkpoint {str(path)!r} holds arrays of the wrong shape; not loaded")
    state = jax.tree.unflatten(treedef, leaves)
    return Progress(epoch, history, state, float(train_s))
