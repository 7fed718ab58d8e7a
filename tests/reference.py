"""Hand-written NumPy equations of the Keras cells, independent of rnnjax."""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gru_step(h, x, W, U, b):
    """Keras GRU, reset_after=True, gate order z, r, h; b = [input bias, recurrent bias]."""
    H = h.shape[-1]
    xw = x @ W + b[0]
    hu = h @ U + b[1]
    z = sigmoid(xw[:H] + hu[:H])
    r = sigmoid(xw[H : 2 * H] + hu[H : 2 * H])
    cand = np.tanh(xw[2 * H :] + r * hu[2 * H :])
    return z * h + (1 - z) * cand


def lstm_step(c, h, x, W, U, b):
    """Keras LSTM, gate order i, f, c, o."""
    H = h.shape[-1]
    a = x @ W + h @ U + b
    i, f, g, o = sigmoid(a[:H]), sigmoid(a[H : 2 * H]), np.tanh(a[2 * H : 3 * H]), sigmoid(a[3 * H :])
    c = f * c + i * g
    return c, o * np.tanh(c)


def rnn_step(h, x, W, U, b):
    """Keras SimpleRNN."""
    return np.tanh(x @ W + h @ U + b)


def run_sequence(step, carry, xs):
    """Apply `step(carry, x) -> carry` over time; returns the hidden state at every step."""
    hs = []
    for x in xs:
        carry = step(carry, x)
        hs.append(carry[-1] if isinstance(carry, tuple) else carry)
    return np.stack(hs)
