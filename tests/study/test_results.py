"""Result: which seeds count."""

import numpy as np

from rnnjax.core.config import Config
from rnnjax.core.train import History
from rnnjax.study.results import Result, Timing


def test_masked_blanks_or_drops_the_diverged_seeds():
    loss = np.arange(6, dtype=np.float32).reshape(3, 2)
    forecast = np.ones((3, 4))
    run = Result(Config(seeds=3), {}, History(loss, loss), np.array([0, 2, 0]), forecast, None, None, Timing(1, 1, 1))
    np.testing.assert_array_equal(run.masked(np.array([1.0, 2.0, 3.0])), [1.0, np.nan, 3.0])
    masked = run.masked(loss)  # every epoch of seed 1, in the values' own dtype
    assert masked.dtype == np.float32 and np.isnan(masked[1]).all() and np.array_equal(masked[[0, 2]], loss[[0, 2]])
    np.testing.assert_array_equal(run.masked(loss, drop=True), loss[[0, 2]])
