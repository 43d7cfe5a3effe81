"""Caption decoders.  Shapes: N images, D feature size, L max caption length."""

from __future__ import annotations

import numpy as np


def initial_state(model, features):
    p = model.params
    return model.cell.init_state(features @ p["W_proj"] + p["b_proj"])


def step_scores(model, words, state):
    """Feed ``words`` (n,) into the cell; return vocabulary scores (n, V) and the new state."""
    p = model.params
    xa = p["W_embed"][words] @ p["Wx"]
    xa += p["b"]
    h, state = model.cell.step(xa, state, p["Wh"])
    scores = h @ p["W_vocab"]
    scores += p["b_vocab"]
    return scores, state


def greedy_decode(model, features, max_length=30):
    """Arg-max decoding.  features: (N, D) -> (N, L) int32, ``<NULL>`` after ``<END>``.

    Rows that have emitted ``<END>`` leave the batch, so they cost nothing more.
    """
    if not isinstance(max_length, (int, np.integer)) or max_length < 1:
        raise ValueError(f"sample: max_length must be a positive integer, got {max_length!r}")
    if model._start is None:
        raise ValueError("sample: the model's word_to_idx has no '<START>' token")
    N = features.shape[0]
    captions = np.full((N, max_length), model._null, dtype=np.int32)
    rows = np.arange(N)
    words = np.full(N, model._start, dtype=np.int64)
    state = initial_state(model, features)
    for t in range(max_length):
        if rows.size == 0:
            break
        scores, state = step_scores(model, words, state)
        words = scores.argmax(axis=1)
        captions[rows, t] = words
        if model._end is not None:
            live = words != model._end
            if not live.all():
                rows, words = rows[live], words[live]
                state = tuple(s[live] for s in state)
    return captions
