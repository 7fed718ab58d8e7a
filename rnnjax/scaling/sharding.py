"""The runs axis sharded over devices (GPUs, TPU cores, or CPU host devices).

Runs never talk to each other, so a program vmapped over runs and given inputs sharded
along that axis runs each device's slice independently (jax.jit follows the input
shardings). The run count is padded to a multiple of the device count with repeats of
real runs, whose results are dropped.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rnnjax.core.train import TrainState

AXIS = "seeds"


def seed_mesh(devices=None) -> Mesh:
    """A 1-D mesh over `devices` (default: every local device)."""
    return Mesh(np.asarray(jax.local_devices() if devices is None else devices), (AXIS,))


def pad_seeds(seeds: np.ndarray, n_devices: int) -> np.ndarray:
    """`seeds` repeated cyclically up to the next multiple of n_devices."""
    size = -(-len(seeds) // n_devices) * n_devices
    return np.resize(np.asarray(seeds), size)


def shard_seeds(tree, mesh: Mesh):
    """Place every leaf with its leading (seeds) axis split over the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec(AXIS)))


def replicate(tree, mesh: Mesh):
    """Place every leaf whole on every device of the mesh (data all runs share)."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def device_state(host: TrainState, mesh) -> TrainState:
    """A host state (`core.train.host_state`) back on the devices, padded with repeated rows
    as the runs are padded."""
    rows = pad_seeds(np.arange(len(host.epoch)), mesh.size)
    state = jax.tree.map(lambda a: np.asarray(a)[rows], host)
    return shard_seeds(state._replace(key=jax.random.wrap_key_data(state.key)), mesh)
