"""Checkpoint files: one per block of runs trained together (a model's runs [start, stop)),
holding every run's training state (params, optimiser state, PRNG key, epoch, divergence),
the runs themselves, the history so far and the time spent.

A file is a header line, a JSON line (config, epoch, leaf count, the payload's SHA-256)
and an .npz payload; it is written to a temporary name and renamed, so a killed run leaves
the previous checkpoint or the new one. A truncated or altered file fails the checksum and
is refused whole, never loaded in part.
"""

import dataclasses
import hashlib
import io as bytes_io
import json
from pathlib import Path

import jax
import numpy as np

from rnnjax.core.config import Config
from rnnjax.core.train import History, Runs
from rnnjax.scaling.sharding import Progress, state_structure
from rnnjax.study import folders

MAGIC = b"rnnjax checkpoint 2\n"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line."""


def save(path: Path, cfg: Config, runs: Runs, progress: Progress) -> Path:
    leaves = jax.tree.leaves(progress.state)
    arrays = {f"state_{i}": leaf for i, leaf in enumerate(leaves)}
    arrays |= {f"runs_{field}": value for field, value in runs._asdict().items()}
    arrays |= {f"history_{field}": value for field, value in progress.history._asdict().items()}
    buf = bytes_io.BytesIO()
    np.savez(buf, **arrays)
    payload = buf.getvalue()
    header = {
        "config": dataclasses.asdict(cfg),
        "epoch": progress.epoch,
        "train_s": progress.train_s,
        "leaves": len(leaves),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    return folders.write_bytes(path, MAGIC + json.dumps(header).encode() + b"\n" + payload)


def _header(data: bytes, path: Path) -> tuple[dict, bytes]:
    try:
        magic, header_line, payload = data[: len(MAGIC)], *data[len(MAGIC) :].split(b"\n", 1)
        header = json.loads(header_line)
    except ValueError:
        raise CheckpointError(f"checkpoint {str(path)!r} is not an rnnjax checkpoint or is truncated") from None
    if magic != MAGIC:
        raise CheckpointError(f"checkpoint {str(path)!r} is not an rnnjax checkpoint")
    return header, payload


def read_epoch(path: Path) -> int:
    """The epochs a checkpoint says are done (unverified: for progress display only)."""
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    try:
        return int(_header(head, path)[0]["epoch"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return 0


def load(path: Path, cfg: Config, runs: Runs) -> Progress:
    """The Progress saved in `path` by a run of these `runs` of `cfg`, or a CheckpointError."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {err.strerror}") from None
    header, payload = _header(data, path)
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupted or truncated (checksum mismatch); not loaded")
    if header["config"] != dataclasses.asdict(cfg):
        raise CheckpointError(f"checkpoint {str(path)!r} was written for another config")
    arrays = np.load(bytes_io.BytesIO(payload))
    saved = Runs(*(arrays[f"runs_{field}"] for field in Runs._fields))
    if any(not np.array_equal(a, b) for a, b in zip(saved, runs, strict=True)):
        raise CheckpointError(f"checkpoint {str(path)!r} holds other runs than this block")
    treedef = state_structure(cfg, runs.has_momentum)
    if treedef.num_leaves != header["leaves"]:
        raise CheckpointError(f"checkpoint {str(path)!r} does not match this model's state")
    state = jax.tree.unflatten(treedef, [arrays[f"state_{i}"] for i in range(header["leaves"])])
    history = History(*(arrays[f"history_{field}"] for field in History._fields))
    return Progress(int(header["epoch"]), history, state, float(header["train_s"]))
