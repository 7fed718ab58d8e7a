"""Several processes (hosts) with jax.distributed: each trains a contiguous block of the
runs on its own devices, then the blocks are gathered (multihost_utils.process_allgather)
so that process 0 can write the run folder. The runs never talk to each other, so no
training program spans processes, and the numbers are those of one process.

Launch: under SLURM (srun) or Open MPI (mpirun) jax.distributed finds its peers itself;
elsewhere give every process --coordinator HOST:PORT --num-processes N --process-id I.
"""

import os
import socket
import time

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


class PeerError(RuntimeError):
    """The processes did not all start within the timeout; the message is one line."""


def rendezvous(coordinator: str, num_processes: int, process_id: int, timeout_s: float) -> None:
    """Wait until every process has started, over a plain TCP socket on the port after the
    coordinator's, or raise a PeerError naming what is missing. jax.distributed's own wait
    ends in an abort with a C++ stack trace; this one ends in a sentence."""
    host, _, port = coordinator.rpartition(":")
    address, deadline = (host, int(port) + 1), time.monotonic() + timeout_s
    if process_id == 0:
        waiting = set(range(1, num_processes))
        peers = []
        with socket.create_server(("", address[1]), reuse_port=False) as server:
            while waiting and time.monotonic() < deadline:
                server.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    conn, _ = server.accept()
                    conn.settimeout(5)
                    waiting.discard(int(conn.recv(16).decode() or -1))
                    peers.append(conn)
                except (TimeoutError, ValueError, OSError):
                    continue
            for conn in peers:
                with conn:
                    if not waiting:
                        conn.sendall(b"go")
        if waiting:
            missing = ", ".join(map(str, sorted(waiting)))
            raise PeerError(
                f"process 0 at {coordinator}: process(es) {missing} of {num_processes} did not start within "
                f"{timeout_s:g} s (--init-timeout); start every process with the same --coordinator"
            )
        return
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(address, timeout=max(0.01, deadline - time.monotonic())) as conn:
                conn.sendall(str(process_id).encode())
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                if conn.recv(2) == b"go":
                    return
        except OSError:
            time.sleep(0.2)
    raise PeerError(
        f"process {process_id} of {num_processes}: process 0 at {coordinator} (and port {address[1]}) did not "
        f"gather every process within {timeout_s:g} s (--init-timeout); is process 0 running?"
    )


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: int = 120,
):
    """jax.distributed.initialize with the explicit settings (after `rendezvous`), or from
    the cluster's environment, or not at all (one process). Call before anything runs on a
    device."""
    if coordinator is None and not cluster_launched():
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # gathers between CPU processes
    if coordinator is None:
        jax.distributed.initialize(initialization_timeout=timeout_s)
    else:
        rendezvous(coordinator, num_processes, process_id, timeout_s)
        jax.distributed.initialize(coordinator, num_processes, process_id, initialization_timeout=timeout_s)


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
