from rnnjax.core.config import Config
from rnnjax.scaling import memory
from rnnjax.study.grid import grid_runs, make_grid

TINY = Config(hidden=6, epochs=4, seeds=3)


class NoMemoryReport:  # a CPU device: no memory_stats
    pass


def test_chunk_size_fits_the_free_memory_in_multiples_of_the_devices():
    mb = 2**20
    assert memory.block_size(per_run_bytes=1 * mb, free_bytes=100 * mb, n_runs=1000, n_devices=1) == 80
    assert memory.block_size(1 * mb, 100 * mb, n_runs=1000, n_devices=3) == 78
    assert memory.block_size(1 * mb, 100 * mb, n_runs=10, n_devices=4) == 12  # all runs, padded
    assert memory.block_size(1000 * mb, 100 * mb, n_runs=10, n_devices=2) == 2  # one per device at least


def test_without_a_memory_report_every_run_goes_at_once():
    runs = grid_runs(make_grid(TINY), 5)
    assert memory.free_device_bytes([NoMemoryReport()]) is None
    assert memory.runs_that_fit(TINY, runs, [NoMemoryReport()], epochs_per_chunk=2) == 5
