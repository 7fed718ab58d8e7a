"""A cell scanned over time with a Dense head at every step, as Keras's
`Sequential([RNN(H, return_sequences=True), Dense(1)])`; a batch's forward pass through it or
through the fused recurrence kernels; plus init and a Keras-style summary."""

import math

import jax
import jax.numpy as jnp
from flax import linen as nn

from rnnjax.core.cells import has_parallel_form, make_cell
from rnnjax.core.config import Config

IN_FEATURES = 1  # a univariate series


def _cell_step(cell, carry, x_I):
    return cell(carry, x_I)


class Regressor(nn.Module):
    """y_t = Dense(h_t), h_t = cell(h_{t-1}, x_t), h_0 = 0; one unbatched sequence [T, I]."""

    cell: nn.RNNCellBase
    out_features: int = 1
    head_init: str = "keras"
    unroll: int = 1  # time steps per iteration of the scan loop
    parallel: bool = True  # a cell's parallel form over the window, where it has one
    kernel: str = "xla"  # "pallas": predict_batch runs the window's recurrence as the fused kernels
    cell_name: str = ""  # the cell's registry name, which names its kernel

    def setup(self):
        kernel = nn.initializers.glorot_uniform() if self.head_init == "keras" else nn.initializers.lecun_normal()
        self.head = nn.Dense(self.out_features, kernel_init=kernel)

    def __call__(self, x_TxI):
        return self.encode(self.zero_carry(x_TxI.shape[-1]), x_TxI)[1]

    def zero_carry(self, in_features: int):
        return self.cell.initialize_carry(jax.random.key(0), (in_features,))

    def hidden(self, carry, x_TxI):
        """(last carry, h_TxH) from `carry`: the cell's parallel form over the window where
        it has one (an associative scan), else the cell scanned step by step."""
        if self.parallel and has_parallel_form(self.cell):
            return self.cell.sequence(carry, x_TxI)
        scan = nn.scan(_cell_step, variable_broadcast="params", split_rngs={"params": False}, unroll=self.unroll)
        return scan(self.cell, carry, x_TxI)

    def encode(self, carry, x_TxI):
        """(last carry, y_TxO) from `carry`: the model's forward pass over a sequence."""
        carry, h_TxH = self.hidden(carry, x_TxI)
        return carry, self.head(h_TxH)

    def readout(self, h_xH):
        """y = Dense(h) of hidden states computed elsewhere (the recurrence kernels)."""
        return self.head(h_xH)

    def step(self, carry, x_I):
        """One time step: (carry, y_O), for closed-loop rollouts that keep the state."""
        carry, h_H = self.cell(carry, x_I)
        return carry, self.head(h_H)


def predict_batch(model: Regressor, params, x_BxTxI: jax.Array) -> jax.Array:
    """y [B, T, O] of a batch of sequences. XLA: the model vmapped over the batch. Pallas:
    the whole batch through the recurrence kernel at once (a kernel instance runs a block of
    the batch), then the Dense head on every h_t; the same numbers to float32 rounding."""
    if model.kernel == "xla":
        return jax.vmap(lambda x_TxI: model.apply({"params": params}, x_TxI))(x_BxTxI)
    from rnnjax.core.kernels import hidden_sequence  # Pallas only when asked for: the core does not need it

    h_BxTxH = hidden_sequence(model.cell_name, params["cell"], x_BxTxI)
    return model.apply({"params": params}, h_BxTxH, method=Regressor.readout)


def default_unroll(window: int, backend: str | None = None) -> int:
    """Time steps per scan iteration, as measured per backend (README, Speed). On CPU one
    step per iteration is fastest (unroll 20: 2.5x slower); on a GPU the scan's per-iteration
    overhead dominates and unrolling the whole window is fastest (H200, 1024 seeds: 1.6x)."""
    return window if (backend or jax.default_backend()) == "gpu" else 1


def default_time_scan(backend: str | None = None) -> str:
    """How a cell with a parallel form scans a window, as measured per backend (README,
    Cells): on a CPU step by step is faster (2-core CPU, 16 seeds: minGRU 2.6x, minLSTM
    3.3x, LRU 1.1x the parallel form's speed); on accelerators the associative scan's log
    depth in time is what the parallel form is for."""
    return "sequential" if (backend or jax.default_backend()) == "cpu" else "parallel"


def make_model(cfg: Config) -> Regressor:
    cell = make_cell(cfg.cell, cfg.hidden, cfg.init)
    unroll = cfg.unroll or default_unroll(cfg.window)
    time_scan = default_time_scan() if cfg.time_scan == "auto" and has_parallel_form(cell) else cfg.time_scan
    parallel = time_scan == "parallel"
    return Regressor(
        cell,
        out_features=IN_FEATURES,
        head_init=cfg.init,
        unroll=unroll,
        parallel=parallel,
        kernel=cfg.kernel,
        cell_name=cfg.cell,
    )


def init_params(model: Regressor, key: jax.Array, window: int) -> dict:
    """Parameters of one model. Stock cells with a `keras_params` hook get Keras's whole-matrix
    initialisation, sliced per gate, when the scheme is "keras"."""
    k_model, k_cell = jax.random.split(key)
    params = model.init(k_model, jnp.zeros((window, IN_FEATURES)))["params"]
    keras_params = getattr(model.cell, "keras_params", None)
    if keras_params is not None and model.cell.scheme == "keras":
        params = {**params, "cell": keras_params(k_cell, IN_FEATURES)}
    return params


def count_params(params) -> int:
    return sum(math.prod(p.shape) for p in jax.tree.leaves(params))


def summary(cfg: Config, name: str | None = None) -> str:
    """A Keras-style table: layer (type), output shape, parameter count, totals."""
    model = make_model(cfg)
    x_TxI = jax.ShapeDtypeStruct((cfg.window, IN_FEATURES), jnp.float32)
    params = jax.eval_shape(lambda: init_params(model, jax.random.key(0), cfg.window))

    def forward(params, x_TxI):
        carry = model.apply({"params": params}, IN_FEATURES, method=Regressor.zero_carry)
        _, h_TxH = model.apply({"params": params}, carry, x_TxI, method=Regressor.hidden)
        return h_TxH, model.apply({"params": params}, x_TxI)

    h, y = jax.eval_shape(forward, params, x_TxI)
    rows = [
        (f"{cfg.cell} ({type(model.cell).__name__})", h.shape, count_params(params["cell"])),
        ("dense (Dense)", y.shape, count_params(params["head"])),
    ]
    rule, double = "_" * 65, "=" * 65
    total = count_params(params)
    lines = [f'Model: "{name or cfg.cell}"', rule, f"{'Layer (type)':<29}{'Output Shape':<26}Param #", double]
    for i, (layer, shape, n) in enumerate(rows):
        lines += [f"{layer:<29}{(None, *shape)!s:<26}{n}", rule if i < len(rows) - 1 else double]
    lines += [f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0", rule]
    return "\n".join(lines)
