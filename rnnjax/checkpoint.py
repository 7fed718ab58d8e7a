"""Checkpoint files: one per model, holding every seed's training state (params, optimiser
state, PRNG key, epoch, divergence), the history so far and the time spent.

A file is a header line, a JSON line (config, epoch, leaf shapes, the payload's SHA-256)
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

from rnnjax import io
from rnnjax.config import Config
from rnnjax.train import History, Progress, state_structure

MAGIC = b"rnnjax checkpoint 1\n"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line."""


def save(path: Path, cfg: Config, progress: Progress) -> Path:
    leaves = jax.tree.leaves(progress.state)
    arrays = {f"state_{i}": leaf for i, leaf in enumerate(leaves)}
    arrays |= {"loss": progress.history.loss, "val_loss": progress.history.val_loss}
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
    return io.write_bytes(path, MAGIC + json.dumps(header).encode() + b"\n" + payload)


def load(path: Path, cfg: Config) -> Progress:
    """The Progress saved in `path` by a run of `cfg`, or a CheckpointError."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {err.strerror}") from None
    try:
        magic, header_line, payload = data[: len(MAGIC)], *data[len(MAGIC) :].split(b"\n", 1)
        header = json.loads(header_line)
    except ValueError:
        raise CheckpointError(f"checkpoint {str(path)!r} is not an rnnjax checkpoint or is truncated") from None
    if magic != MAGIC:
        raise CheckpointError(f"checkpoint {str(path)!r} is not an rnnjax checkpoint")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupted or truncated (checksum mismatch); not loaded")
    if header["config"] != dataclasses.asdict(cfg):
        raise CheckpointError(f"checkpoint {str(path)!r} was written for another config")
    arrays = np.load(bytes_io.BytesIO(payload))
    treedef = state_structure(cfg)
    if treedef.num_leaves != header["leaves"]:
        raise CheckpointError(f"checkpoint {str(path)!r} does not match this model's state")
    state = jax.tree.unflatten(treedef, [arrays[f"state_{i}"] for i in range(header["leaves"])])
    history = History(arrays["loss"], arrays["val_loss"])
    return Progress(int(header["epoch"]), history, state, float(header["train_s"]))
