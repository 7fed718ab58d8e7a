"""The "Extending" promise (docs/python.md): a new cell is one class and one registry line."""

import jax
import jax.numpy as jnp
import numpy as np

from rnnjax.core.cells import CELLS, FusedCell
from rnnjax.core.config import Config
from rnnjax.core.model import summary
from rnnjax.study import train as driver


class MinimalGRUCell(FusedCell):
    """h' = (1 − f) ⊙ h + f ⊙ tanh(x W_h + (f ⊙ h) U_h + b_h), f = σ(x W_f + h U_f + b_f)."""

    gates = 2  # kernel [I, 2H], recurrent_kernel [H, 2H], bias [2H], initialised per scheme

    def recur(self, h_H, xw_G):  # xw_G = x W + b, from project()
        (xf, xh), (Uf, Uh) = jnp.split(xw_G, 2, -1), jnp.split(self.recurrent_kernel, 2, -1)
        f = jax.nn.sigmoid(xf + h_H @ Uf)
        h_new = (1 - f) * h_H + f * jnp.tanh(xh + (f * h_H) @ Uh)
        return h_new, h_new


def test_a_registered_cell_trains_and_summarises(monkeypatch):
    monkeypatch.setitem(CELLS, "mgu", MinimalGRUCell)
    cfg = Config(cell="mgu", hidden=8, epochs=15, seeds=2)
    assert "Total params: 169" in summary(cfg)  # W 1x16 + U 8x16 + b 16 + Dense 8+1
    loss = np.asarray(driver.train(cfg).history.loss)
    assert np.all(loss[:, -1] < loss[:, 0])


def test_a_new_series_is_one_function(monkeypatch):
    from rnnjax.core import data

    monkeypatch.setitem(data.SERIES, "ramp", lambda x, tau: x / tau)
    cfg = Config(series="ramp", n_points=11, x_stop=10.0, window=3, tau=2.0)
    np.testing.assert_allclose(data.series(cfg), np.arange(11) / 2.0)
