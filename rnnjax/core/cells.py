"""Recurrent cells with Keras semantics, Flax's stock cells, and the name registry.

Every cell follows Flax's `(carry, x_I) -> (carry, h_H)` contract and is written for
one time step of one sequence; time is scanned in `model.py`, batches and seeds are vmapped.

The Keras-semantics cells keep Keras's fused layout: `kernel` [I, G*H],
`recurrent_kernel` [H, G*H], `bias`, with gate blocks in Keras order. Under
`scheme="keras"` the whole kernel is glorot_uniform and the whole recurrent kernel is
ONE orthogonal matrix (orthonormal rows), exactly as Keras initialises them; per-gate
orthogonal blocks train measurably differently. Under `scheme="flax"` they take Flax's
defaults: lecun_normal kernels, an orthogonal block per gate, zero biases.

Adding a cell: write the class (fields `features` and `scheme`) and add one line to CELLS.
"""

from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import linen as nn

Initializer = Callable[..., jax.Array]
SCHEMES = ("keras", "flax")


def per_gate(init: Initializer, gates: int) -> Initializer:
    """Initialise a [rows, gates*H] matrix as `gates` independent [rows, H] blocks."""

    def block_init(key, shape, dtype=jnp.float32):
        rows, cols = shape
        keys = jax.random.split(key, gates)
        return jnp.concatenate([init(k, (rows, cols // gates), dtype) for k in keys], axis=1)

    return block_init


def kernel_init(scheme: str) -> Initializer:
    """Input kernel: Keras's glorot_uniform over the whole matrix, or Flax's lecun_normal."""
    return nn.initializers.glorot_uniform() if scheme == "keras" else nn.initializers.lecun_normal()


def recurrent_init(scheme: str, gates: int) -> Initializer:
    """Recurrent kernel: one orthogonal [H, G*H] matrix (Keras) or one per gate (Flax)."""
    orthogonal = nn.initializers.orthogonal()
    return orthogonal if scheme == "keras" else per_gate(orthogonal, gates)


def _lstm_bias_init(scheme: str) -> Initializer:
    """Zeros, with Keras's `unit_forget_bias`: the f block (second of i, f, c, o) is one."""

    def init(key, shape, dtype=jnp.float32):
        bias = jnp.zeros(shape, dtype)
        if scheme != "keras":
            return bias
        hidden = shape[-1] // 4
        return bias.at[hidden : 2 * hidden].set(1.0)

    return init


class FusedCell(nn.RNNCellBase):
    """Base of the Keras-layout cells: `kernel` [I, G*H], `recurrent_kernel` [H, G*H] and
    `bias`, initialised per `scheme`; a zero carry.

    A step is `recur(carry, project(x))`: the input projection x W + b, which needs no
    state, and the recurrence proper. A subclass sets `gates` and writes `recur`. (Applying
    `project` to all steps before the time scan measured slower on CPU and on an H200, so
    the model does not.)
    """

    features: int
    scheme: str = "keras"
    in_features: int = 1
    gates: ClassVar[int] = 1

    def setup(self):
        G = self.gates * self.features
        self.kernel = self.param("kernel", kernel_init(self.scheme), (self.in_features, G))
        self.recurrent_kernel = self.param(
            "recurrent_kernel", recurrent_init(self.scheme, self.gates), (self.features, G)
        )
        self.bias = self.param("bias", self.bias_init(), (G,))

    def bias_init(self) -> Initializer:
        return nn.initializers.zeros_init()

    @nn.nowrap
    def initialize_carry(self, rng, input_shape):
        return jnp.zeros((*input_shape[:-1], self.features))

    @property
    def num_feature_axes(self) -> int:
        return 1

    def project(self, x_I):
        """The input projection x W + b, for one step [I] or all at once [T, I]."""
        return x_I @ self.kernel + self.bias

    def recur(self, carry, xw_G):
        raise NotImplementedError

    def __call__(self, carry, x_I):
        return self.recur(carry, self.project(x_I))


class KerasGRUCell(FusedCell):
    """Keras GRU, `reset_after=True`; gate blocks z, r, h; bias [2, 3H] = (input, recurrent).

    z = σ(x W_z + b_z + h U_z + c_z),  r = σ(x W_r + b_r + h U_r + c_r)
    h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + c_h)),  h' = z ⊙ h + (1 − z) ⊙ h̃
    """

    gates = 3

    def setup(self):
        G = self.gates * self.features
        self.kernel = self.param("kernel", kernel_init(self.scheme), (self.in_features, G))
        self.recurrent_kernel = self.param(
            "recurrent_kernel", recurrent_init(self.scheme, self.gates), (self.features, G)
        )
        self.bias = self.param("bias", nn.initializers.zeros_init(), (2, G))

    def project(self, x_I):
        return x_I @ self.kernel + self.bias[0]

    def recur(self, h_H, xw_G):
        xz, xr, xh = jnp.split(xw_G, 3, axis=-1)
        hz, hr, hh = jnp.split(h_H @ self.recurrent_kernel + self.bias[1], 3, axis=-1)
        z = jax.nn.sigmoid(xz + hz)
        r = jax.nn.sigmoid(xr + hr)
        h_new = z * h_H + (1.0 - z) * jnp.tanh(xh + r * hh)
        return h_new, h_new


class KerasLSTMCell(FusedCell):
    """Keras LSTM; gate blocks i, f, c, o; one bias [4H], forget block 1 under Keras init.

    i, f, o = σ(·), g = tanh(·) of x W + h U + b;  c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
    The carry is (c, h), as in Flax's LSTM cells.
    """

    gates = 4

    def bias_init(self) -> Initializer:
        return _lstm_bias_init(self.scheme)

    @nn.nowrap
    def initialize_carry(self, rng, input_shape):
        zeros = jnp.zeros((*input_shape[:-1], self.features))
        return zeros, zeros

    def recur(self, carry, xw_G):
        c_H, h_H = carry
        i, f, g, o = jnp.split(xw_G + h_H @ self.recurrent_kernel, 4, axis=-1)
        c_new = jax.nn.sigmoid(f) * c_H + jax.nn.sigmoid(i) * jnp.tanh(g)
        h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
        return (c_new, h_new), h_new


class SimpleRNNCell(FusedCell):
    """Keras SimpleRNN: h' = tanh(x W + h U + b), a baseline without gates."""

    gates = 1

    def recur(self, h_H, xw_H):
        h_new = jnp.tanh(xw_H + h_H @ self.recurrent_kernel)
        return h_new, h_new


def _keras_params(twin: type[FusedCell], key, in_features: int, features: int) -> dict:
    """Parameters of a Keras-layout twin cell under Keras's initialisers."""
    cell = twin(features, scheme="keras", in_features=in_features)
    x_I = jnp.zeros((in_features,))
    return cell.init(key, cell.initialize_carry(key, x_I.shape), x_I)["params"]


def keras_gru_to_flax(p: dict) -> dict:
    """Keras GRU weights as nn.GRUCell's (exact: z, r recurrent biases fold into the input ones)."""
    W, U, b = p["kernel"], p["recurrent_kernel"], p["bias"]
    H = U.shape[0]
    blocks = {g: slice(j * H, (j + 1) * H) for j, g in enumerate("zrh")}
    return {
        "iz": {"kernel": W[:, blocks["z"]], "bias": b[0, blocks["z"]] + b[1, blocks["z"]]},
        "ir": {"kernel": W[:, blocks["r"]], "bias": b[0, blocks["r"]] + b[1, blocks["r"]]},
        "in": {"kernel": W[:, blocks["h"]], "bias": b[0, blocks["h"]]},
        "hz": {"kernel": U[:, blocks["z"]]},
        "hr": {"kernel": U[:, blocks["r"]]},
        "hn": {"kernel": U[:, blocks["h"]], "bias": b[1, blocks["h"]]},
    }


def keras_lstm_to_flax(p: dict) -> dict:
    """Keras LSTM weights as nn.OptimizedLSTMCell's (Keras's bias goes to the h* Denses)."""
    W, U, b = p["kernel"], p["recurrent_kernel"], p["bias"]
    H = U.shape[0]
    out = {}
    for j, g in enumerate("ifgo"):  # Flax calls Keras's c block g
        s = slice(j * H, (j + 1) * H)
        out[f"i{g}"] = {"kernel": W[:, s]}
        out[f"h{g}"] = {"kernel": U[:, s], "bias": b[s]}
    return out


class FlaxGRUCell(nn.GRUCell):
    """Flax's stock nn.GRUCell (no recurrent bias on z, r: 80 fewer parameters at H=40).

    Under `scheme="keras"` its per-gate Denses start as slices of Keras's whole matrices.
    """

    scheme: str = "keras"

    @nn.nowrap
    def keras_params(self, key, in_features: int) -> dict:
        return keras_gru_to_flax(_keras_params(KerasGRUCell, key, in_features, self.features))


class FlaxLSTMCell(nn.OptimizedLSTMCell):
    """Flax's stock nn.OptimizedLSTMCell (same parameter count as Keras's LSTM).

    Under `scheme="keras"` its per-gate Denses start as slices of Keras's whole matrices,
    with the forget bias at one.
    """

    scheme: str = "keras"

    @nn.nowrap
    def keras_params(self, key, in_features: int) -> dict:
        return keras_lstm_to_flax(_keras_params(KerasLSTMCell, key, in_features, self.features))


CELLS: dict[str, type[nn.RNNCellBase]] = {
    "gru": KerasGRUCell,
    "lstm": KerasLSTMCell,
    "rnn": SimpleRNNCell,
    "flax_gru": FlaxGRUCell,
    "flax_lstm": FlaxLSTMCell,
}


def make_cell(name: str, features: int, scheme: str = "keras") -> nn.RNNCellBase:
    """The registered cell `name` with `features` hidden units."""
    return CELLS[name](features=features, scheme=scheme)
