"""Several processes (hosts) with jax.distributed: each trains a contiguous block of the
runs on its own devices, then the blocks are gathered (multihost_utils.process_allgather)
so that process 0 can write the run folder. The runs never talk to each other, so no
training program spans processes, and the numbers are those of one process.

Launch: under SLURM (srun) or Open MPI (mpirun) jax.distributed finds its peers itself;
elsewhere give every process --coordinator HOST:PORT --num-processes N --process-id I.
"""

import os

import jax
import numpy as np
from jax.experimental import multihost_utils


def cluster_size() -> int:
    """The process count of a SLURM job step or an Open MPI launch; 1 elsewhere."""
    for var in ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"):
        count = os.environ.get(var, "")
        if count.isdigit() and int(count) > 1:
            return int(count)
    return 1


def cluster_launched() -> bool:
    """True under a SLURM job step or an Open MPI launch of more than one process."""
    return cluster_size() > 1


def process_id_before_start(process_id: int | None = None) -> int:
    """This process's index before jax.distributed starts (to choose the writer early): the
    explicit id, else the cluster's rank, else 0."""
    if process_id is not None:
        return process_id
    if cluster_launched():
        for var in ("SLURM_PROCID", "OMPI_COMM_WORLD_RANK"):
            if os.environ.get(var, "").isdigit():
                return int(os.environ[var])
    return 0


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None):
    """jax.distributed.initialize with the explicit settings, or from the cluster's
    environment, or not at all (one process). Call before anything runs on a device."""
    if coordinator is None and not cluster_launched():
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # gathers between CPU processes
    if coordinator is None:
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(coordinator, num_processes, process_id)


def block(n: int, index: int | None = None, count: int | None = None) -> tuple[int, int]:
    """[start, stop) of process `index`'s share of n runs: equal contiguous blocks, the last
    one shorter (or empty)."""
    index = jax.process_index() if index is None else index
    count = jax.process_count() if count is None else count
    size = -(-n // count)
    return min(n, index * size), min(n, (index + 1) * size)


def gather(tree, counts: list[int]):
    """Every process's rows of a pytree of [counts[i], ...] NumPy arrays (process i holds
    counts[i] rows), concatenated in process order; with one process, `tree` itself."""
    if jax.process_count() == 1:
        return tree
    size = max(max(counts), 1)

    def pad(a):
        a = np.asarray(a)
        return np.concatenate([a, np.zeros((size - len(a), *a.shape[1:]), a.dtype)])

    whole = multihost_utils.process_allgather(jax.tree.map(pad, tree), tiled=False)
    return jax.tree.map(lambda a: np.concatenate([np.asarray(a)[i, :c] for i, c in enumerate(counts)]), whole)
