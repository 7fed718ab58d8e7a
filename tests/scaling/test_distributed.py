import numpy as np

from rnnjax.scaling import distributed


def test_processes_share_the_runs_in_contiguous_blocks():
    assert [distributed.block(10, i, 3) for i in range(3)] == [(0, 4), (4, 8), (8, 10)]
    assert [distributed.block(5, i, 4) for i in range(4)] == [(0, 2), (2, 4), (4, 5), (5, 5)]
    assert distributed.block(7) == (0, 7)  # one process


def test_one_process_gathers_its_own_rows():
    tree = {"a": np.arange(6).reshape(3, 2)}
    assert distributed.gather(tree, [3]) is tree


def test_cluster_size_reads_the_launcher(monkeypatch):
    for var in ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert distributed.cluster_size() == 1 and not distributed.cluster_launched()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert distributed.cluster_size() == 4 and distributed.cluster_launched()
