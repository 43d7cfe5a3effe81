"""Plain NumPy reference of the notebook's layers and captioning loss.

Written as the notebook describes it: one timestep at a time, full (N, T, ...)
arrays, the vocabulary projection on every position and ``np.add.at`` for the
embedding gradient.  It shares no code with :mod:`captioning`, so tests and
``bench/`` use it as an independent reference.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]), dtype=x.dtype)
    prev = h0
    for t in range(T):
        prev = np.tanh(x[:, t] @ Wx + prev @ Wh + b)
        h[:, t] = prev
    return h, (x, h0, Wx, Wh, h)


def rnn_backward(dh, cache):
    x, h0, Wx, Wh, h = cache
    N, T, _ = x.shape
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[1], dtype=x.dtype)
    dnext = np.zeros_like(h0)
    for t in reversed(range(T)):
        prev = h[:, t - 1] if t else h0
        da = (dh[:, t] + dnext) * (1 - h[:, t] ** 2)
        dx[:, t] = da @ Wx.T
        dnext = da @ Wh.T
        dWx += x[:, t].T @ da
        dWh += prev.T @ da
        db += da.sum(0)
    return dx, dnext, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    H = h0.shape[1]
    h = np.empty((N, T, H), dtype=x.dtype)
    steps = []
    prev_h, prev_c = h0, np.zeros_like(h0)
    for t in range(T):
        a = x[:, t] @ Wx + prev_h @ Wh + b
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 2 * H : 3 * H])
        g = np.tanh(a[:, 3 * H :])
        c = f * prev_c + i * g
        prev_h = o * np.tanh(c)
        steps.append((i, f, o, g, prev_c, c))
        prev_c = c
        h[:, t] = prev_h
    return h, (x, h0, Wx, Wh, h, steps)


def lstm_backward(dh, cache):
    x, h0, Wx, Wh, h, steps = cache
    N, T, _ = x.shape
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[1], dtype=x.dtype)
    dnext_h, dnext_c = np.zeros_like(h0), np.zeros_like(h0)
    for t in reversed(range(T)):
        i, f, o, g, prev_c, c = steps[t]
        prev_h = h[:, t - 1] if t else h0
        dht = dh[:, t] + dnext_h
        tc = np.tanh(c)
        dct = dnext_c + dht * o * (1 - tc**2)
        da = np.concatenate(
            [dct * g * i * (1 - i), dct * prev_c * f * (1 - f), dht * tc * o * (1 - o), dct * i * (1 - g**2)], axis=1
        )
        dx[:, t] = da @ Wx.T
        dnext_h = da @ Wh.T
        dnext_c = dct * f
        dWx += x[:, t].T @ da
        dWh += prev_h.T @ da
        db += da.sum(0)
    return dx, dnext_h, dWx, dWh, db


def softmax_loss(x, y, mask):
    N, T, V = x.shape
    xf = x.reshape(N * T, V)
    z = xf - xf.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    yf, mf = y.reshape(-1), mask.reshape(-1)
    loss = -np.sum(mf * logp[np.arange(N * T), yf]) / N
    dx = np.exp(logp)
    dx[np.arange(N * T), yf] -= 1
    dx *= mf[:, None] / N
    return loss, dx.reshape(N, T, V)


RECURRENCES = {"rnn": (rnn_forward, rnn_backward), "lstm": (lstm_forward, lstm_backward)}


def captioning_loss(params, features, captions, cell_type, null=0):
    """Loss and gradients of the notebook's CaptioningRNN, computed the plain way."""
    p = params
    fwd, bwd = RECURRENCES[cell_type]
    cin, cout = captions[:, :-1], captions[:, 1:]
    mask = cout != null
    h0 = features @ p["W_proj"] + p["b_proj"]
    x = p["W_embed"][cin]
    h, cache = fwd(x, h0, p["Wx"], p["Wh"], p["b"])
    N, T, H = h.shape
    scores = (h.reshape(N * T, H) @ p["W_vocab"] + p["b_vocab"]).reshape(N, T, -1)
    loss, dscores = softmax_loss(scores, cout, mask)
    ds2 = dscores.reshape(N * T, -1)
    grads = {"W_vocab": h.reshape(N * T, H).T @ ds2, "b_vocab": ds2.sum(0)}
    dh = (ds2 @ p["W_vocab"].T).reshape(N, T, H)
    dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = bwd(dh, cache)
    grads["W_embed"] = np.zeros_like(p["W_embed"])
    np.add.at(grads["W_embed"], cin, dx)
    grads["W_proj"] = features.T @ dh0
    grads["b_proj"] = dh0.sum(0)
    return loss, grads
