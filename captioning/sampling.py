"""Caption decoders: greedy, beam search and temperature sampling, for both cells.

Shapes: N images, D feature size, V vocabulary, k beam width, L max caption length.
Every decoder returns (N, L) int32 token ids, ``<NULL>`` after ``<END>``.
"""

from __future__ import annotations

import numpy as np

from .kernels import elementwise as K
from .vocab import START


def initial_state(model, features):
    p = model.params
    return model.cell.init_state(features @ p["W_proj"] + p["b_proj"])


def input_table(model) -> np.ndarray:
    """(V, G) input projection ``W_embed @ Wx + b`` of every word: a decoding step looks its rows up.

    Computed once per decode call, it saves the step's ``x @ Wx`` product (a
    quarter of an H=512 LSTM step's arithmetic).
    """
    p = model.params
    table = p["W_embed"] @ p["Wx"]
    table += p["b"]
    return table


def step_scores(model, table, words, state):
    """Feed ``words`` (n,) into the cell; return vocabulary scores (n, V) and the new state.

    ``table`` is :func:`input_table` of the model.
    """
    p = model.params
    h, state = model.cell.step(table[words], state, p["Wh"])
    scores = h @ p["W_vocab"]
    scores += p["b_vocab"]
    return scores, state


def log_normalizer(scores: np.ndarray) -> np.ndarray:
    """(n, V) scores -> (n,) float64 log(sum(exp(scores))): log p(w) = scores[:, w] - log_normalizer."""
    out = np.empty(scores.shape[0])
    K.log_normalizers(np.ascontiguousarray(scores), out)
    return out


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


def _decode(model, table, features, max_length, choose):
    """Shared loop of greedy and temperature sampling; ``choose(scores) -> words``.

    Rows that have emitted ``<END>`` leave the batch, so they cost nothing more.
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
        scores, state = step_scores(model, table, words, state)
        words = choose(_forbid(model, scores))
        captions[rows, t] = words
        if model.end_id is not None:
            live = words != model.end_id
            if not live.all():
                rows, words = rows[live], words[live]
                state = tuple(s[live] for s in state)
    return captions


def _argmax(scores):
    return scores.argmax(axis=1)


def greedy_decode(model, features, max_length=30, table=None):
    """Arg-max decoding.  ``table``: the model's :func:`input_table`, when the caller already has it."""
    table = input_table(model) if table is None else table
    return _decode(model, table, features, max_length, _argmax)


def temperature_sample(model, features, max_length=30, temperature=1.0, seed=None, table=None):
    """Sample each word from softmax(scores / temperature) with its own ``numpy.random.Generator``."""
    if not temperature > 0:
        raise ValueError(f"temperature_sample: temperature must be > 0, got {temperature!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def choose(scores):
        z = scores.astype(np.float64) / temperature
        p = np.exp(z - log_normalizer(z)[:, None])  # forbidden words get p = 0
        u = rng.random((len(p), 1))
        return np.minimum((p.cumsum(axis=1) < u * p.sum(axis=1, keepdims=True)).sum(axis=1), p.shape[1] - 1)

    table = input_table(model) if table is None else table
    return _decode(model, table, features, max_length, choose)


def sequence_logprob(model, features, captions) -> np.ndarray:
    """Model log-probability (N,) of each caption up to and including its ``<END>``."""
    N, L = captions.shape
    table = input_table(model)
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
        scores, state = step_scores(model, table, words, state)
        total[rows] += scores[np.arange(rows.size), tok] - log_normalizer(scores)
        live = tok != model.end_id
        rows, words = rows[live], tok[live].astype(np.int64)
        state = tuple(s[live] for s in state)
    return total


def beam_search(model, features, beam_width=3, max_length=30, length_penalty=0.7, table=None):
    """Beam search over all N * k hypotheses at once.

    Hypotheses are pruned by total log-probability; the winner per image is
    chosen by log-probability / length**length_penalty (0 turns normalisation
    off).  The greedy caption competes too, so the result never scores below it.

    Only what can still grow is fed to the model: ended hypotheses, the empty
    beams of the first step and images whose hypotheses have all ended cost
    nothing.  The greedy caption rides along: while its prefix is one of the
    image's hypotheses its next word comes from that hypothesis's scores, and
    only once the beam has pruned it does it take a row of its own.
    """
    _check(model, max_length)
    k = int(beam_width)
    if k < 1:
        raise ValueError(f"beam_search: beam_width must be a positive integer, got {beam_width!r}")
    table = input_table(model) if table is None else table
    if k == 1:
        return greedy_decode(model, features, max_length, table)
    N, L = features.shape[0], max_length
    null = model.null_id
    end = model.end_id if model.end_id is not None else -1  # -1: no word ends a caption
    # the results of every image; an image's row is final once it leaves the search
    final_seqs = np.full((N, k, L), null, dtype=np.int32)
    final_logp = np.full((N, k), -np.inf)
    final_len = np.zeros((N, k), dtype=np.int64)
    greedy, g_logp = np.full((N, L), null, dtype=np.int32), np.zeros(N)
    # the images still searching, and their hypotheses
    images = np.arange(N)
    seqs, logp, lengths = final_seqs.copy(), final_logp.copy(), final_len.copy()
    logp[:, 0] = 0.0  # one live hypothesis per image at the start: no duplicate beams
    done = np.zeros((N, k), dtype=bool)
    active = np.full((N, k), -1, dtype=np.int64)  # row of each growing hypothesis in `state`
    active[:, 0] = np.arange(N)
    g_slot = np.zeros(N, dtype=np.int64)  # the hypothesis that is the greedy prefix; -1: ended or pruned
    # greedy captions pruned from their beam: image, state and next word, after the beam's rows
    o_img, o_words = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    state = initial_state(model, features)
    o_state = tuple(s[:0] for s in state)
    words = np.full(N, model.start_id, dtype=np.int64)
    for t in range(L):
        nb = words.size
        if o_img.size:  # the pruned greedy captions' rows go after the beam's
            state = tuple(np.concatenate([a, b]) for a, b in zip(state, o_state, strict=True))
            words = np.concatenate([words, o_words])
        scores, state = step_scores(model, table, words, state)
        # the greedy step, from the rows of the greedy prefixes still in the beam and of the pruned ones
        inside = np.flatnonzero(g_slot >= 0)
        g_rows = np.concatenate([active[inside, g_slot[inside]], nb + np.arange(o_img.size)])
        g_imgs = np.concatenate([images[inside], o_img])
        g_scores = scores[g_rows]
        norm = log_normalizer(g_scores)
        g_word = _forbid(model, g_scores).argmax(axis=1)
        g_logp[g_imgs] += g_scores[np.arange(g_word.size), g_word] - norm
        greedy[g_imgs, t] = g_word
        # the beam step
        n = images.size
        new_logp, beam, word = np.empty((n, k)), np.empty((n, k), dtype=np.int64), np.empty((n, k), dtype=np.int64)
        K.beam_select(scores[:nb], active, logp, done, null, model.start_id, new_logp, beam, word)
        seqs = np.take_along_axis(seqs, beam[:, :, None], 1)
        seqs[:, :, t] = word
        was_done = np.take_along_axis(done, beam, 1)
        lengths = np.take_along_axis(lengths, beam, 1) + ~was_done
        done = was_done | (word == end)
        logp, parent = new_logp, np.take_along_axis(active, beam, 1)
        # where each greedy prefix went: still a hypothesis, ended, or pruned (then it gets a row of its own)
        w_in, w_out = g_word[: inside.size], g_word[inside.size :]
        kept = (beam[inside] == g_slot[inside, None]) & (word[inside] == w_in[:, None])
        g_slot[:] = -1
        g_slot[inside] = np.where(kept.any(axis=1) & (w_in != end), kept.argmax(axis=1), -1)
        pruned = ~kept.any(axis=1) & (w_in != end)
        going = w_out != end
        o_img = np.concatenate([images[inside[pruned]], o_img[going]])
        o_words = np.concatenate([w_in[pruned], w_out[going]])
        o_state = tuple(s[np.concatenate([g_rows[: inside.size][pruned], g_rows[inside.size :][going]])] for s in state)
        grows = ~done & np.isfinite(logp)
        searching = grows.any(axis=1)
        if not searching.all():
            gone = images[~searching]
            final_seqs[gone], final_logp[gone], final_len[gone] = (a[~searching] for a in (seqs, logp, lengths))
            images, seqs, logp, lengths, done = (a[searching] for a in (images, seqs, logp, lengths, done))
            grows, parent, word, g_slot = grows[searching], parent[searching], word[searching], g_slot[searching]
        if images.size == 0 and o_img.size == 0:
            break
        state = tuple(s[parent[grows]] for s in state)
        words = word[grows]
        active = np.full(grows.shape, -1, dtype=np.int64)
        active[grows] = np.arange(int(grows.sum()))
    final_seqs[images], final_logp[images], final_len[images] = seqs, logp, lengths
    norm = final_logp / np.maximum(final_len, 1) ** length_penalty
    best = norm.argmax(axis=1)
    out = final_seqs[np.arange(N), best]
    g_len = np.maximum(_lengths(greedy, model.end_id, null), 1)
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
    table = input_table(model)
    chunks = []
    for start in range(0, features.shape[0], batch_size):
        f = features[start : start + batch_size]
        if method == "greedy":
            chunks.append(greedy_decode(model, f, max_length, table))
        elif method == "beam":
            chunks.append(beam_search(model, f, beam_width, max_length, length_penalty, table))
        else:
            chunks.append(temperature_sample(model, f, max_length, temperature, rng, table))
    if not chunks:
        _check(model, max_length)
        return np.full((0, max_length), model.null_id, dtype=np.int32)
    return np.concatenate(chunks)
