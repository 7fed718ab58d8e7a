"""Recurrent layers scanned over time with a Dense head at every step, as Keras's
`Sequential([RNN(H, return_sequences=True)] * layers + [Dense(K)])` reading C channels and
predicting K of them (one, the notebook's, by default); Keras's dropout for
training; a batch's forward pass through it or through the fused recurrence kernels; plus
init and a Keras-style summary.

Layer 0 is the parameter tree's "cell" and layer k >= 1 its "cell_k" (as Keras names a
model's second GRU "gru_1"), so that a one-layer model's parameters keep their names.
"""

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import linen as nn

from rnnjax.core.cells import CELLS, has_parallel_form, make_cell, takes_recurrent_mask, upper_layer
from rnnjax.core.config import Config, refuse

IN_FEATURES = 1  # a univariate series: the default model's input width


class Dropout(NamedTuple):
    """Keras's GRU/LSTM dropout for one minibatch (training only): every sequence and layer
    draws its own masks from `key` (`dropout_masks`), once, for every time step. Inverted:
    a unit is kept with probability 1 - rate and scaled by 1 / (1 - rate); a rate of 0 keeps
    every unit, scaled by 1, which changes no bit of the output.

    One input mask [I_l] and one recurrent mask [H] per layer, shared by the gates. (Keras
    3.8+ draws one per gate when recurrent_dropout > 0 and one shared input mask otherwise;
    one shared mask is Keras's SimpleRNN and its GRU/LSTM at recurrent_dropout 0.)"""

    key: jax.Array  # this minibatch's key
    rate: jax.Array  # input dropout rate: a scalar, traced (a run's knob)
    recurrent: jax.Array  # recurrent dropout rate: 0 for cells without a recurrent kernel and for Pallas


class LayerMasks(NamedTuple):
    """One layer's dropout masks for one sequence (with a leading [B] axis for a batch's)."""

    input: jax.Array  # [I_l]: multiplies the layer's input at every step
    recurrent: jax.Array  # [H]: multiplies h where it meets the recurrent kernel (the cell's `drop_H`)


def _cell_step(cell, carry, x_I):
    return cell(carry, x_I)


def _dropped_step(cell, carry, x_I, drop_H):
    return cell(carry, x_I, drop_H)


def layer_names(layers: int) -> tuple[str, ...]:
    """The recurrent layers' names in the parameter tree, bottom up: cell, cell_1, ..."""
    return ("cell", *(f"cell_{k}" for k in range(1, layers)))


class Regressor(nn.Module):
    """y_t = Dense(h^L_t), h^l_t = cell_l(h^l_{t-1}, h^{l-1}_t), h^0_t = x_t, h^l_0 = 0; one
    unbatched sequence [T, I]. The carry is the cell's for one layer, else a tuple of every
    layer's carry, bottom up."""

    cell: nn.RNNCellBase  # layer 0; the layers above are copies reading its `features`
    out_features: int = 1  # the target channels predicted at each step
    in_features: int = IN_FEATURES  # the channels read at each step
    head_init: str = "keras"
    unroll: int = 1  # time steps per iteration of the scan loop
    parallel: bool = True  # a cell's parallel form over the window, where it has one
    kernel: str = "xla"  # "pallas": predict_batch runs the window's recurrence as the fused kernels
    cell_name: str = ""  # the cell's registry name, which names its kernel
    layers: int = 1

    def setup(self):
        kernel = nn.initializers.glorot_uniform() if self.head_init == "keras" else nn.initializers.lecun_normal()
        self.head = nn.Dense(self.out_features, kernel_init=kernel)
        # setattr: Flax names a submodule by the attribute it is assigned to, and the upper
        # layers are named cell_1, cell_2, ... (a list would name them stack_0, ...)
        for name in layer_names(self.layers)[1:]:
            setattr(self, name, upper_layer(self.cell))

    def stack(self) -> tuple:
        return tuple(getattr(self, name) for name in layer_names(self.layers))

    def __call__(self, x_TxI, masks: tuple[LayerMasks, ...] | None = None):
        return self.encode(self.zero_carry(x_TxI.shape[-1]), x_TxI, masks)[1]

    def zero_carry(self, in_features: int):
        widths = layer_widths(self, in_features)
        carries = tuple(cell.initialize_carry(jax.random.key(0), (w,)) for cell, w in zip(self.stack(), widths))
        return carries[0] if self.layers == 1 else carries

    def layer(self, cell, carry, x_TxI, masks: LayerMasks | None):
        """(last carry, h_TxH) of one layer from `carry`: the cell's parallel form over the
        window where it has one (an associative scan), else the cell scanned step by step;
        with `masks`, the input masked and h masked where it meets the recurrent kernel."""
        if masks is not None:
            x_TxI = x_TxI * masks.input
        if self.parallel and has_parallel_form(cell):
            return cell.sequence(carry, x_TxI)  # no recurrent kernel: no recurrent mask (cells.py)
        scan_args = {"variable_broadcast": "params", "split_rngs": {"params": False}, "unroll": self.unroll}
        if masks is None or not takes_recurrent_mask(cell):
            return nn.scan(_cell_step, **scan_args)(cell, carry, x_TxI)
        scan = nn.scan(_dropped_step, in_axes=(0, nn.broadcast), **scan_args)
        return scan(cell, carry, x_TxI, masks.recurrent)

    def hidden(self, carry, x_TxI, masks: tuple[LayerMasks, ...] | None = None):
        """(last carry, h_TxH of the top layer) from `carry`, layer by layer: each layer's
        whole sequence is the next one's input (Keras's return_sequences=True)."""
        carries = (carry,) if self.layers == 1 else carry
        last, h_TxH = [], x_TxI
        for k, cell in enumerate(self.stack()):
            c, h_TxH = self.layer(cell, carries[k], h_TxH, None if masks is None else masks[k])
            last.append(c)
        return (last[0] if self.layers == 1 else tuple(last)), h_TxH

    def encode(self, carry, x_TxI, masks: tuple[LayerMasks, ...] | None = None):
        """(last carry, y_TxO) from `carry`: the model's forward pass over a sequence."""
        carry, h_TxH = self.hidden(carry, x_TxI, masks)
        return carry, self.head(h_TxH)

    def readout(self, h_xH):
        """y = Dense(h) of hidden states computed elsewhere (the recurrence kernels)."""
        return self.head(h_xH)

    def step(self, carry, x_I):
        """One time step through every layer: (carry, y_O), for closed-loop rollouts that keep the state."""
        carries = (carry,) if self.layers == 1 else carry
        new, h = [], x_I
        for cell, c in zip(self.stack(), carries):
            c, h = cell(c, h)
            new.append(c)
        return (new[0] if self.layers == 1 else tuple(new)), self.head(h)


def layer_widths(model: Regressor, in_features: int) -> tuple[int, ...]:
    """Each layer's input width: the series' features, then the layer below's features."""
    return (in_features,) + (model.cell.features,) * (model.layers - 1)


def _mask(key, rate, shape) -> jax.Array:
    keep = 1.0 - jnp.asarray(rate, jnp.float32)
    return jax.random.bernoulli(key, keep, shape).astype(jnp.float32) / keep


def dropout_masks(model: Regressor, dropout: Dropout, batch: int, in_features: int) -> tuple[LayerMasks, ...]:
    """Every sequence's masks, layer by layer ([B, I_l] and [B, H]): layer l's input and
    recurrent masks from the two halves of split(fold_in(key, l))."""
    masks = []
    for layer, width in enumerate(layer_widths(model, in_features)):
        k_input, k_recurrent = jax.random.split(jax.random.fold_in(dropout.key, layer))
        masks.append(
            LayerMasks(
                _mask(k_input, dropout.rate, (batch, width)),
                _mask(k_recurrent, dropout.recurrent, (batch, model.cell.features)),
            )
        )
    return tuple(masks)


def predict_batch(model: Regressor, params, x_BxTxI: jax.Array, dropout: Dropout | None = None) -> jax.Array:
    """y [B, T, O] of a batch of sequences; `dropout` for a training step (None: none, the
    forward pass of validation and forecasts). XLA: the model vmapped over the batch.
    Pallas: the whole batch through each layer's recurrence kernel at once (a kernel
    instance runs a block of the batch), then the Dense head on every h_t; the same numbers
    to float32 rounding. The kernels take input dropout (their input masked) but no
    recurrent mask: Config refuses recurrent_dropout > 0 with them."""
    masks = None if dropout is None else dropout_masks(model, dropout, x_BxTxI.shape[0], x_BxTxI.shape[-1])
    if model.kernel == "xla":
        if masks is None:
            return jax.vmap(lambda x_TxI: model.apply({"params": params}, x_TxI))(x_BxTxI)
        return jax.vmap(lambda x_TxI, m: model.apply({"params": params}, x_TxI, m))(x_BxTxI, masks)
    from rnnjax.core.kernels import hidden_sequence  # Pallas only when asked for: the core does not need it

    h_BxTxH = x_BxTxI
    for k, name in enumerate(layer_names(model.layers)):
        if masks is not None:
            h_BxTxH = h_BxTxH * masks[k].input[:, None, :]
        h_BxTxH = hidden_sequence(model.cell_name, params[name], h_BxTxH)
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
    from rnnjax.core.series import channels, targets  # the config's channels: its data's or series'

    cell = make_cell(cfg.cell, cfg.hidden, cfg.init, len(channels(cfg)))
    unroll = cfg.unroll or default_unroll(cfg.window)
    time_scan = default_time_scan() if cfg.time_scan == "auto" and has_parallel_form(cell) else cfg.time_scan
    parallel = time_scan == "parallel"
    return Regressor(
        cell,
        out_features=len(targets(cfg)),
        in_features=len(channels(cfg)),
        head_init=cfg.init,
        unroll=unroll,
        parallel=parallel,
        kernel=cfg.kernel,
        cell_name=cfg.cell,
        layers=cfg.layers,
    )


def check_config(cfg: Config) -> None:
    """Refuse in one line (ConfigError) what the model cannot run: recurrent dropout on a
    cell that takes no recurrent mask (cells.py), or in the fused kernels, whose recurrence
    takes none."""
    entry = CELLS[cfg.cell]
    fields = {f.name for f in dataclasses.fields(entry)} if dataclasses.is_dataclass(entry) else set()
    if not (isinstance(entry, type) and issubclass(entry, nn.Module) and {"features", "scheme"} <= fields):
        refuse(
            "cell",
            cfg.cell,
            f"is registered as {entry!r}: a cell must be a Flax cell class with fields features and scheme "
            "(see docs/python.md, Extending)",
        )
    if cfg.recurrent_dropout > 0 and not takes_recurrent_mask(CELLS[cfg.cell]):
        masked = ", ".join(name for name, cell in CELLS.items() if takes_recurrent_mask(cell))
        refuse(
            "recurrent_dropout",
            cfg.recurrent_dropout,
            f"must be 0 for cell={cfg.cell!r}: only {masked} take Keras's recurrent mask (on h in h U)",
        )
    if cfg.recurrent_dropout > 0 and cfg.kernel == "pallas":
        refuse("recurrent_dropout", cfg.recurrent_dropout, "must be 0 with kernel='pallas': the kernels take no mask")


def init_params(model: Regressor, key: jax.Array, window: int) -> dict:
    """Parameters of one model. Stock cells with a `keras_params` hook get Keras's whole-matrix
    initialisation, sliced per gate, when the scheme is "keras": layer 0 from the cell's key,
    layer k from fold_in(that key, k), so that adding layers changes no lower layer's start."""
    k_model, k_cell = jax.random.split(key)
    params = model.init(k_model, jnp.zeros((window, model.in_features)))["params"]
    keras_params = getattr(model.cell, "keras_params", None)
    if keras_params is not None and model.cell.scheme == "keras":
        widths = layer_widths(model, model.in_features)
        upper = {
            name: keras_params(jax.random.fold_in(k_cell, k), widths[k])
            for k, name in enumerate(layer_names(model.layers))
            if k > 0
        }
        params = {**params, "cell": keras_params(k_cell, model.in_features), **upper}
    return params


def count_params(params) -> int:
    return sum(math.prod(p.shape) for p in jax.tree.leaves(params))


def summary(cfg: Config, name: str | None = None) -> str:
    """A Keras-style table: each layer (type), output shape, parameter count, totals."""
    model = make_model(cfg)
    x_TxI = jax.ShapeDtypeStruct((cfg.window, model.in_features), jnp.float32)
    params = jax.eval_shape(lambda: init_params(model, jax.random.key(0), cfg.window))

    def forward(params, x_TxI):
        carry = model.apply({"params": params}, model.in_features, method=Regressor.zero_carry)
        _, h_TxH = model.apply({"params": params}, carry, x_TxI, method=Regressor.hidden)
        return h_TxH, model.apply({"params": params}, x_TxI)

    h, y = jax.eval_shape(forward, params, x_TxI)
    kind = type(model.cell).__name__
    # Keras names a model's second GRU layer gru_1: so does the table (the parameters: cell_1)
    rows = [
        (f"{cfg.cell}{'_' + str(k) if k else ''} ({kind})", h.shape, count_params(params[layer]))
        for k, layer in enumerate(layer_names(cfg.layers))
    ]
    rows.append(("dense (Dense)", y.shape, count_params(params["head"])))
    rule, double = "_" * 65, "=" * 65
    total = count_params(params)
    lines = [f'Model: "{name or cfg.cell}"', rule, f"{'Layer (type)':<29}{'Output Shape':<26}Param #", double]
    for i, (layer, shape, n) in enumerate(rows):
        lines += [f"{layer:<29}{(None, *shape)!s:<26}{n}", rule if i < len(rows) - 1 else double]
    lines += [f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0", rule]
    return "\n".join(lines)
