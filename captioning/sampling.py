"""Caption decoders: greedy, beam search and temperature sampling, for both cells.

Shapes: N images, D feature size, V vocabulary, k beam width, L max caption length.
Every decoder returns (N, L) int32 token ids, ``<NULL>`` after ``<END>``.
"""

from __future__ import annotations

import numpy as np

from .vocab import START


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


def log_softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _forbid(model, scores: np.ndarray) -> np.ndarray:
    """A caption never contains <NULL> or <START>: take them out of the choice (in place)."""
    scores[..., model.null_id] = -np.inf
    scores[..., model.start_id] = -np.inf
    return scores


def _check(model, max_length):
    if not isinstance(max_length, (int, np.integer)) or max_length < 1:
        raise ValueError(f"sample: max_length must be a positive integer, got {max_length!r}")
    if model.start_id is None:
        raise ValueError(f"sample: the model's word_to_idx has no '{START}' token")


def _decode(model, features, max_length, choose, logprob=None):
    """Shared loop of greedy and temperature sampling; ``choose(scores) -> words``.

    Rows that have emitted ``<END>`` leave the batch, so they cost nothing more.
    ``logprob`` (N,), when given, accumulates each caption's log-probability as
    :func:`sequence_logprob` computes it, without a second pass over the model.
    """
    _check(model, max_length)
    N = features.shape[0]
    captions = np.full((N, max_length), model.null_id, dtype=np.int32)
    rows = np.arange(N)
    words = np.full(N, model.start_id, dtype=np.int64)
    state = initial_state(model, features)
    for t in range(max_length):
        if rows.size == 0:
            break
        scores, state = step_scores(model, words, state)
        logp = log_softmax(scores.astype(np.float64)) if logprob is not None else None
        words = choose(_forbid(model, scores))
        captions[rows, t] = words
        if logp is not None:
            logprob[rows] += logp[np.arange(rows.size), words]
        if model.end_id is not None:
            live = words != model.end_id
            if not live.all():
                rows, words = rows[live], words[live]
                state = tuple(s[live] for s in state)
    return captions


def greedy_decode(model, features, max_length=30):
    """Arg-max decoding."""
    return _decode(model, features, max_length, lambda scores: scores.argmax(axis=1))


def temperature_sample(model, features, max_length=30, temperature=1.0, seed=None):
    """Sample each word from softmax(scores / temperature) with its own ``numpy.random.Generator``."""
    if not temperature > 0:
        raise ValueError(f"temperature_sample: temperature must be > 0, got {temperature!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def choose(scores):
        p = np.exp(log_softmax(scores.astype(np.float64) / temperature))  # forbidden words get p = 0
        u = rng.random((len(p), 1))
        return np.minimum((p.cumsum(axis=1) < u * p.sum(axis=1, keepdims=True)).sum(axis=1), p.shape[1] - 1)

    return _decode(model, features, max_length, choose)


def sequence_logprob(model, features, captions) -> np.ndarray:
    """Model log-probability (N,) of each caption up to and including its ``<END>``."""
    N, L = captions.shape
    total = np.zeros(N)
    rows = np.arange(N)  # the captions still going on; finished ones leave the batch
    words = np.full(N, model.start_id, dtype=np.int64)
    state = initial_state(model, features)
    for t in range(L):
        tok = captions[rows, t]
        live = tok != model.null_id
        if not live.all():
            rows, tok, words = rows[live], tok[live], words[live]
            state = tuple(s[live] for s in state)
        if rows.size == 0:
            break
        scores, state = step_scores(model, words, state)
        logp = log_softmax(scores.astype(np.float64))
        total[rows] += logp[np.arange(rows.size), tok]
        live = tok != model.end_id
        rows, words = rows[live], tok[live].astype(np.int64)
        state = tuple(s[live] for s in state)
    return total


def beam_search(model, features, beam_width=3, max_length=30, length_penalty=0.7):
    """Beam search, vectorised over all N * k hypotheses at once.

    Hypotheses are pruned by total log-probability; the winner per image is
    chosen by log-probability / length**length_penalty (0 turns normalisation
    off).  The greedy caption competes too, so the result never scores below it.
    """
    _check(model, max_length)
    k = int(beam_width)
    if k < 1:
        raise ValueError(f"beam_search: beam_width must be a positive integer, got {beam_width!r}")
    if k == 1:
        return greedy_decode(model, features, max_length)
    g_logp = np.zeros(features.shape[0])
    greedy = _decode(model, features, max_length, lambda scores: scores.argmax(axis=1), g_logp)
    N_all = features.shape[0]
    end, null = model.end_id, model.null_id
    V = model.vocab_size
    state = tuple(np.repeat(s, k, axis=0) for s in initial_state(model, features))
    words = np.full(N_all * k, model.start_id, dtype=np.int64)
    seqs = np.full((N_all, k, max_length), null, dtype=np.int32)
    logp = np.full((N_all, k), -np.inf)
    logp[:, 0] = 0.0  # one live hypothesis per image at the start: no duplicate beams
    lengths = np.zeros((N_all, k), dtype=np.int64)
    done = np.zeros((N_all, k), dtype=bool)
    # images whose k hypotheses have all ended leave the batch; their results wait here
    final_seqs, final_logp, final_len = seqs.copy(), logp.copy(), lengths.copy()
    images = np.arange(N_all)
    N = N_all
    for t in range(max_length):
        scores, state = step_scores(model, words, state)
        step = _forbid(model, log_softmax(scores.astype(np.float64))).reshape(N, k, V)
        # a finished hypothesis continues only with <NULL>, at no cost
        step[done] = -np.inf
        step[done, null] = 0.0
        cand = (logp[:, :, None] + step).reshape(N, k * V)
        top = np.argpartition(-cand, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(cand, top, 1), axis=1, kind="stable"), 1)
        beam, word = top // V, top % V
        logp = np.take_along_axis(cand, top, 1)
        seqs = np.take_along_axis(seqs, beam[:, :, None], 1)
        seqs[:, :, t] = word
        was_done = np.take_along_axis(done, beam, 1)
        lengths = np.take_along_axis(lengths, beam, 1) + ~was_done
        done = was_done | (word == end) if end is not None else was_done
        flat = (np.arange(N)[:, None] * k + beam).reshape(-1)
        state = tuple(s[flat] for s in state)
        words = word.reshape(-1).astype(np.int64)
        finished = done.all(axis=1)
        if finished.any():
            gone = images[finished]
            final_seqs[gone], final_logp[gone], final_len[gone] = seqs[finished], logp[finished], lengths[finished]
            live = ~finished
            images, seqs, logp, lengths, done = images[live], seqs[live], logp[live], lengths[live], done[live]
            rows = np.repeat(live, k)
            state, words = tuple(s[rows] for s in state), words[rows]
            N = images.size
            if N == 0:
                break
    final_seqs[images], final_logp[images], final_len[images] = seqs, logp, lengths
    N, seqs, logp, lengths = N_all, final_seqs, final_logp, final_len
    norm = logp / np.maximum(lengths, 1) ** length_penalty
    best = norm.argmax(axis=1)
    out = seqs[np.arange(N), best]
    g_len = np.maximum(_lengths(greedy, end, null), 1)
    better_greedy = g_logp / g_len**length_penalty > norm[np.arange(N), best]
    out[better_greedy] = greedy[better_greedy]
    return out


def _lengths(captions, end, null) -> np.ndarray:
    """Tokens up to and including <END> (or all non-NULL tokens when there is none)."""
    L = captions.shape[1]
    is_end = captions == end if end is not None else np.zeros(captions.shape, dtype=bool)
    first_end = np.where(is_end.any(1), is_end.argmax(1) + 1, L)
    return np.minimum(first_end, (captions != null).sum(1))


DECODERS = {"greedy", "beam", "temperature"}


DECODE_BATCH = 500  # images per chunk in decode: bounds memory for any N (beam: k x 500 hypotheses)


def decode(
    model,
    features,
    method="greedy",
    max_length=30,
    beam_width=3,
    temperature=1.0,
    seed=None,
    length_penalty=0.7,
    batch_size=DECODE_BATCH,
):
    """Dispatch on ``method`` (one of greedy, beam, temperature), ``batch_size`` images at a time.

    Decoding in chunks keeps memory bounded whatever N is (beam search on all
    40,504 COCO val images at once would hold gigabytes of hypotheses); the
    result is the same as one call per chunk.
    """
    if method not in DECODERS:
        raise ValueError(f"decode: method must be one of {sorted(DECODERS)}, got {method!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"decode: batch_size must be a positive integer, got {batch_size!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    chunks = []
    for start in range(0, features.shape[0], batch_size):
        f = features[start : start + batch_size]
        if method == "greedy":
            chunks.append(greedy_decode(model, f, max_length))
        elif method == "beam":
            chunks.append(beam_search(model, f, beam_width, max_length, length_penalty))
        else:
            chunks.append(temperature_sample(model, f, max_length, temperature, rng))
    if not chunks:
        _check(model, max_length)
        return np.full((0, max_length), model.null_id, dtype=np.int32)
    return np.concatenate(chunks)
