"""Recurrent cells with Keras semantics, Flax's stock cells, and the name registry.

Every cell follows Flax's `(carry, x_I) -> (carry, h_H)` contract and is written for
one time step of one sequence; time is scanned in `model.py`, batches and seeds are vmapped.

The Keras-semantics cells keep Keras's fused layout: `kernel` [I, G*H],
`recurrent_kernel` [H, G*H], `bias`, with gate blocks in Keras order. Under
`scheme="keras"` the whole kernel is glorot_uniform and the whole recurrent kernel is
ONE orthogonal matrix (orthonormal rows), exactly as Keras initialises them; per-gate
orthogonal blocks train measurably differently. Under `scheme="flax"` they take Flax's
defaults: lecun_normal kernels, an orthogonal block per gate, zero biases.

Cells whose recurrence is linear in the state (minGRU, minLSTM, LRU) subclass
`LinearRecurrentCell`: besides the step they have a parallel form over a whole window
(`sequence`, an associative scan), which the model uses when a cell has one.

Keras's recurrent dropout multiplies h by a mask where h meets the recurrent kernel, h U,
and nowhere else (the GRU's carried-over z ⊙ h keeps the whole h: Keras 3.8 went back to
this after 3.0-3.7's masked carry stopped GRUs from converging, keras-team/keras#20656).
Where that is in a step is the cell's business: a cell with `recurrent_mask = True` takes
the mask as its step's third argument, `drop_H`. Cells whose recurrence has no recurrent
kernel (minGRU, minLSTM, LRU: elementwise in h) have nothing for it to act on, and Flax's
stock GRU cell has no place for it (see FlaxGRUCell): these take no recurrent dropout.

Adding a cell: write the class (fields `features` and `scheme`) and add one line to CELLS.
"""

import dataclasses
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
    recurrent_mask: ClassVar[bool] = False  # True: `recur` takes Keras's recurrent dropout mask, drop_H

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
        """(carry, h); with `recurrent_mask`, also `drop_H` (None: no dropout), h's mask in h U."""
        raise NotImplementedError

    def __call__(self, carry, x_I, drop_H=None):
        if drop_H is None:  # a cell's own `recur(carry, xw_G)` need not know about dropout
            return self.recur(carry, self.project(x_I))
        return self.recur(carry, self.project(x_I), drop_H)


class KerasGRUCell(FusedCell):
    """Keras GRU, `reset_after=True`; gate blocks z, r, h; bias [2, 3H] = (input, recurrent).

    z = σ(x W_z + b_z + h U_z + c_z),  r = σ(x W_r + b_r + h U_r + c_r)
    h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + c_h)),  h' = z ⊙ h + (1 − z) ⊙ h̃
    """

    gates = 3
    recurrent_mask = True

    def setup(self):
        G = self.gates * self.features
        self.kernel = self.param("kernel", kernel_init(self.scheme), (self.in_features, G))
        self.recurrent_kernel = self.param(
            "recurrent_kernel", recurrent_init(self.scheme, self.gates), (self.features, G)
        )
        self.bias = self.param("bias", nn.initializers.zeros_init(), (2, G))

    def project(self, x_I):
        return x_I @ self.kernel + self.bias[0]

    def recur(self, h_H, xw_G, drop_H=None):
        xz, xr, xh = jnp.split(xw_G, 3, axis=-1)
        hz, hr, hh = jnp.split(_dropped(h_H, drop_H) @ self.recurrent_kernel + self.bias[1], 3, axis=-1)
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
    recurrent_mask = True

    def bias_init(self) -> Initializer:
        return _lstm_bias_init(self.scheme)

    @nn.nowrap
    def initialize_carry(self, rng, input_shape):
        zeros = jnp.zeros((*input_shape[:-1], self.features))
        return zeros, zeros

    def recur(self, carry, xw_G, drop_H=None):
        c_H, h_H = carry
        i, f, g, o = jnp.split(xw_G + _dropped(h_H, drop_H) @ self.recurrent_kernel, 4, axis=-1)
        c_new = jax.nn.sigmoid(f) * c_H + jax.nn.sigmoid(i) * jnp.tanh(g)
        h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
        return (c_new, h_new), h_new


class SimpleRNNCell(FusedCell):
    """Keras SimpleRNN: h' = tanh(x W + h U + b), a baseline without gates."""

    gates = 1
    recurrent_mask = True

    def recur(self, h_H, xw_H, drop_H=None):
        h_new = jnp.tanh(xw_H + _dropped(h_H, drop_H) @ self.recurrent_kernel)
        return h_new, h_new


def _dropped(h_H, drop_H):
    """h as it enters h U under Keras's recurrent dropout (None: no dropout)."""
    return h_H if drop_H is None else h_H * drop_H


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
    No recurrent dropout: the stock step carries over the same h that it feeds its
    Denses (z ⊙ h), so masking its carry would mask h where Keras keeps it whole.
    """

    scheme: str = "keras"

    @nn.nowrap
    def keras_params(self, key, in_features: int) -> dict:
        return keras_gru_to_flax(_keras_params(KerasGRUCell, key, in_features, self.features))


class FlaxLSTMCell(nn.OptimizedLSTMCell):
    """Flax's stock nn.OptimizedLSTMCell (same parameter count as Keras's LSTM).

    Under `scheme="keras"` its per-gate Denses start as slices of Keras's whole matrices,
    with the forget bias at one. Its h enters only the recurrent Denses, so Keras's
    recurrent dropout is the stock step of (c, h ⊙ drop_H).
    """

    scheme: str = "keras"
    recurrent_mask: ClassVar[bool] = True

    def __call__(self, carry, inputs, drop_H=None):
        if drop_H is not None:
            c_H, h_H = carry
            carry = (c_H, h_H * drop_H)
        return super().__call__(carry, inputs)

    @nn.nowrap
    def keras_params(self, key, in_features: int) -> dict:
        return keras_lstm_to_flax(_keras_params(KerasLSTMCell, key, in_features, self.features))


def _compose(earlier, later):
    """Two steps of h' = a ⊙ h + b as one: a2 ⊙ (a1 ⊙ h + b1) + b2 (associative)."""
    (a1, b1), (a2, b2) = earlier, later
    return a2 * a1, a2 * b1 + b2


class LinearRecurrentCell(nn.RNNCellBase):
    """Base of the cells whose recurrence is linear in the state: h_t = a_t ⊙ h_{t-1} + b_t,
    with (a_t, b_t) = `coefficients(x_t)` depending on the input only, and the output
    y_t = `readout(h_t, x_t)` (h_t itself by default).

    Two forms of one recurrence: calling the cell is one step (closed-loop rollouts keep
    the state), and `sequence` computes every step of a window at once with
    `jax.lax.associative_scan` (log depth in time), which the model uses for training.
    A subclass declares its parameters in `setup` and writes `coefficients`.
    """

    features: int
    scheme: str = "keras"
    in_features: int = 1
    parallel: ClassVar[bool] = True  # the model scans these with `sequence`
    recurrent_mask: ClassVar[bool] = False  # no recurrent kernel: h only meets elementwise gates
    state_dtype: ClassVar = jnp.float32

    def coefficients(self, x_I):
        """(a, b) of h' = a ⊙ h + b for one step [I] or all at once [T, I]."""
        raise NotImplementedError

    def readout(self, h, x_I):
        return h

    @nn.nowrap
    def initialize_carry(self, rng, input_shape):
        return jnp.zeros((*input_shape[:-1], self.features), self.state_dtype)

    @property
    def num_feature_axes(self) -> int:
        return 1

    def __call__(self, h, x_I):
        a, b = self.coefficients(x_I)
        h_new = a * h + b
        return h_new, self.readout(h_new, x_I)

    def sequence(self, h0, x_TxI):
        """(last state, y_TxH) from state h0: h_t = A_t ⊙ h0 + B_t, (A, B) the scan of (a, b)."""
        a_T, b_T = self.coefficients(x_TxI)
        A_T, B_T = jax.lax.associative_scan(_compose, (a_T, b_T))
        h_T = A_T * h0 + B_T
        return h_T[-1], self.readout(h_T, x_TxI)


class MinGRUCell(LinearRecurrentCell):
    """minGRU (Feng, Tung, Ahmed, Bengio, Hajimirsadeghi 2024, "Were RNNs All We Needed?"):

    z_t = σ(x_t W_z + b_z),  h̃_t = x_t W_h + b_h,  h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t

    Choices the paper leaves open: this is its plain (linear-space) form, as in the issue's
    equations, scanned in linear space (the paper's log-space scan, with h̃ passed through
    g(x) = x + 0.5 or σ(x) to stay positive, is for very long sequences; a 20-step window
    needs neither). Parameters in Keras's fused layout, `kernel` [I, 2H] (blocks z, h) and
    `bias` [2H]; glorot_uniform kernel and zero bias under `scheme="keras"`, lecun_normal
    under "flax" (the paper uses its framework's default Linear).
    """

    gates: ClassVar[int] = 2

    def setup(self):
        G = self.gates * self.features
        self.kernel = self.param("kernel", kernel_init(self.scheme), (self.in_features, G))
        self.bias = self.param("bias", nn.initializers.zeros_init(), (G,))

    def coefficients(self, x_I):
        xz, xh = jnp.split(x_I @ self.kernel + self.bias, 2, axis=-1)
        z = jax.nn.sigmoid(xz)
        return 1.0 - z, z * xh


class MinLSTMCell(MinGRUCell):
    """minLSTM (Feng et al. 2024):

    f_t = σ(x_t W_f + b_f),  i_t = σ(x_t W_i + b_i),  h̃_t = x_t W_h + b_h
    f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t),  h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t

    The paper's length-independent normalisation of the gates, in linear space (see
    MinGRUCell); `kernel` [I, 3H] (blocks f, i, h), zero bias (no forget-gate offset: the
    paper states none).
    """

    gates: ClassVar[int] = 3

    def coefficients(self, x_I):
        xf, xi, xh = jnp.split(x_I @ self.kernel + self.bias, 3, axis=-1)
        f, i = jax.nn.sigmoid(xf), jax.nn.sigmoid(xi)
        return f / (f + i), i / (f + i) * xh


def _uniform_open(key, shape, dtype=jnp.float32):
    """U(0, 1) without 0, whose logarithms below would be infinite."""
    return jax.random.uniform(key, shape, dtype, minval=jnp.finfo(dtype).tiny)


def _within_open_unit(x, upper: bool = True):
    """x kept from 0 (and, with `upper`, from 1), where the logarithms below are infinite:
    a draw near 0 scaled by a factor below 1 (r_max < 1, max_phase < 1) can underflow, and
    r_min^2 + u (r_max^2 - r_min^2) can round to 1. Any other draw is unchanged, bit for bit."""
    x = jnp.maximum(x, jnp.finfo(x.dtype).tiny)
    return jnp.minimum(x, jnp.nextafter(jnp.asarray(1.0, x.dtype), 0)) if upper else x


class LRUCell(LinearRecurrentCell):
    """Linear Recurrent Unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu, De 2023,
    "Resurrecting Recurrent Neural Networks for Long Sequences"):

    x_k = Λ x_{k−1} + γ ⊙ (B u_k),  y_k = Re(C x_k) + D u_k,
    Λ = diag(exp(−exp(ν) + i·exp(θ))),  γ = exp(γ_log)

    `features` is the state size N, and the output width too (C is [N, N]). Initialisation
    as the paper's ring: |λ| = sqrt(U(r_min², r_max²)) through ν = log(−log|λ|), phase
    θ ~ U(0, max_phase) through log θ, γ_log = log sqrt(1 − |λ|²) (then trained), B and C
    complex Gaussian with variance 1/(2 I) and 1/N per part as in minimal-LRU
    (NicolasZucchet/minimal-LRU, whose defaults r_min 0, r_max 1, max_phase 6.28 these
    are), D standard normal. The paper's LRU layer alone: no MLP, normalisation or skip
    around it, so that the Dense head is the same as every other cell's. `scheme` does not
    apply: the paper's initialisation is part of the method.
    """

    r_min: float = 0.0
    r_max: float = 1.0
    max_phase: float = 6.28
    state_dtype: ClassVar = jnp.complex64

    def setup(self):
        N, I = self.features, self.in_features

        def nu_init(key, shape, dtype=jnp.float32):
            u = _uniform_open(key, shape, dtype)
            r2 = _within_open_unit(u * (self.r_max**2 - self.r_min**2) + self.r_min**2)
            return jnp.log(-0.5 * jnp.log(r2))

        def theta_init(key, shape, dtype=jnp.float32):
            return jnp.log(_within_open_unit(self.max_phase * _uniform_open(key, shape, dtype), upper=False))

        def normal(scale):
            return lambda key, shape, dtype=jnp.float32: jax.random.normal(key, shape, dtype) * scale

        self.nu_log = self.param("nu_log", nu_init, (N,))
        self.theta_log = self.param("theta_log", theta_init, (N,))
        gamma = lambda key, shape: jnp.log(jnp.sqrt(1 - jnp.abs(self.eigenvalues()) ** 2))
        self.gamma_log = self.param("gamma_log", gamma, (N,))
        self.B_re = self.param("B_re", normal((2 * I) ** -0.5), (N, I))
        self.B_im = self.param("B_im", normal((2 * I) ** -0.5), (N, I))
        self.C_re = self.param("C_re", normal(N**-0.5), (N, N))
        self.C_im = self.param("C_im", normal(N**-0.5), (N, N))
        self.D = self.param("D", normal(1.0), (N, I))

    def eigenvalues(self):
        """diag(Λ) = exp(−exp(ν) + i exp(θ)): |λ| < 1 for any ν."""
        return jnp.exp(-jnp.exp(self.nu_log) + 1j * jnp.exp(self.theta_log))

    def coefficients(self, u_I):
        B = (self.B_re + 1j * self.B_im) * jnp.exp(self.gamma_log)[:, None]
        Bu = u_I @ B.T
        return jnp.broadcast_to(self.eigenvalues(), Bu.shape), Bu

    def readout(self, x, u_I):
        return (x @ (self.C_re + 1j * self.C_im).T).real + u_I @ self.D.T


CELLS: dict[str, type[nn.RNNCellBase]] = {
    "gru": KerasGRUCell,
    "lstm": KerasLSTMCell,
    "rnn": SimpleRNNCell,
    "flax_gru": FlaxGRUCell,
    "flax_lstm": FlaxLSTMCell,
    "mingru": MinGRUCell,
    "minlstm": MinLSTMCell,
    "lru": LRUCell,
}


def make_cell(name: str, features: int, scheme: str = "keras", in_features: int = 1) -> nn.RNNCellBase:
    """The registered cell `name` with `features` hidden units, reading `in_features` channels
    (set where the cell declares its input width; Flax's stock cells infer theirs)."""
    cell = CELLS[name](features=features, scheme=scheme)
    declared = {f.name for f in dataclasses.fields(cell)}
    return cell.clone(in_features=in_features) if "in_features" in declared and in_features != 1 else cell


def has_parallel_form(cell) -> bool:
    """Whether the cell (class or instance) computes a window at once (`sequence`)."""
    return bool(getattr(cell, "parallel", False))


def takes_recurrent_mask(cell) -> bool:
    """Whether the cell (class or instance) applies Keras's recurrent dropout (`drop_H`)."""
    return bool(getattr(cell, "recurrent_mask", False))


def upper_layer(cell: nn.RNNCellBase) -> nn.RNNCellBase:
    """A copy of `cell` for a stacked layer, reading the `features` of the layer below (a
    cell that declares its input width has it set; Flax's stock cells infer theirs)."""
    fields = {f.name for f in dataclasses.fields(cell)}
    width = {"in_features": cell.features} if "in_features" in fields else {}
    return cell.clone(parent=None, name=None, **width)
