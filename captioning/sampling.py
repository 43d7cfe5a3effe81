"""Caption decoders: greedy, beam search and temperature sampling, for both cells.

Shapes: N images, D feature size, V vocabulary, k beam width, L max caption length.
Every decoder returns (N, L) int32 token ids, ``<NULL>`` after ``<END>``.
"""

from __future__ import annotations

import numpy as np

from . import _validate as check
from .kernels import elementwise as K
from .vocab import START


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
    check.positive_int("sample: max_length", max_length)
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
    state = model.initial_state(features)
    for t in range(max_length):
        if rows.size == 0:
            break
        scores, state = model.step_scores(table, words, state)
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
    """Arg-max decoding.  ``table``: ``model.input_table()``, when the caller already has it."""
    table = model.input_table() if table is None else table
    return _decode(model, table, features, max_length, _argmax)


def temperature_sample(model, features, max_length=30, temperature=1.0, seed=None, table=None, stats=None):
    """Sample each word from softmax(scores / temperature) with its own ``numpy.random.Generator``.

    ``stats``: a dict that gains the summed entropy (nats) of the sampled steps' distributions
    (``entropy``) and their number (``steps``).
    """
    if not temperature > 0:
        raise ValueError(f"temperature_sample: temperature must be > 0, got {temperature!r}")
    rng = np.random.default_rng(seed)  # a Generator passes through unchanged

    def choose(scores):
        z = scores.astype(np.float64) / temperature
        logp = z - log_normalizer(z)[:, None]
        p = np.exp(logp)  # forbidden words get p = 0
        if stats is not None:
            entropy = -(p * np.where(p > 0, logp, 0.0)).sum()
            stats["entropy"] = stats.get("entropy", 0.0) + float(entropy)
            stats["steps"] = stats.get("steps", 0) + len(p)
        u = rng.random((len(p), 1))
        return np.minimum((p.cumsum(axis=1) < u * p.sum(axis=1, keepdims=True)).sum(axis=1), p.shape[1] - 1)

    table = model.input_table() if table is None else table
    return _decode(model, table, features, max_length, choose)


class _RidingGreedy:
    """Each image's greedy caption, decoded alongside the beam so that beam search never scores below it.

    While an image's greedy prefix is one of its hypotheses, its next word comes
    from that hypothesis's scores; once the beam has pruned it, it takes a row of
    its own after the beam's rows, until it ends.
    """

    def __init__(self, model, N: int, L: int, state: tuple):
        self.model = model
        self.end = model.end_id if model.end_id is not None else -1
        self.captions = np.full((N, L), model.null_id, dtype=np.int32)
        self.logp = np.zeros(N)
        self.slot = np.zeros(N, dtype=np.int64)  # per searching image: its greedy prefix's hypothesis; -1: none
        # greedy captions pruned from their beam: image, next word and state, fed after the beam's rows
        self.own_img = np.zeros(0, dtype=np.int64)
        self.own_words = np.zeros(0, dtype=np.int64)
        self.own_state = tuple(s[:0] for s in state)

    @property
    def running(self) -> bool:
        return self.own_img.size > 0

    def append_rows(self, words: np.ndarray, state: tuple, parents: np.ndarray) -> tuple[np.ndarray, tuple, np.ndarray]:
        """The beam's words, state and parents with the pruned greedy captions' rows after them."""
        if not self.running:
            return words, state, parents
        m = state[0].shape[0]
        state = tuple(np.concatenate([a, b]) for a, b in zip(state, self.own_state, strict=True))
        parents = np.concatenate([parents, m + np.arange(self.own_img.size)])
        return np.concatenate([words, self.own_words]), state, parents

    def step(self, t: int, scores: np.ndarray, n_beam_rows: int, images: np.ndarray, active: np.ndarray) -> None:
        """Take step ``t``'s greedy word from the greedy prefixes' rows of ``scores``."""
        self._inside = np.flatnonzero(self.slot >= 0)
        inside = self._inside
        self._rows = np.concatenate([active[inside, self.slot[inside]], n_beam_rows + np.arange(self.own_img.size)])
        imgs = np.concatenate([images[inside], self.own_img])
        self._word = np.empty(self._rows.size, dtype=np.int64)
        logp = np.empty(self._rows.size)
        K.greedy_pick(scores, self._rows, self.model.null_id, self.model.start_id, self._word, logp)
        self.logp[imgs] += logp
        self.captions[imgs, t] = self._word

    def follow(self, images: np.ndarray, beam: np.ndarray, word: np.ndarray, state: tuple) -> None:
        """Where each greedy prefix went in the beam step: still a hypothesis, ended, or pruned (a row of its own)."""
        inside, end = self._inside, self.end
        w_in, w_out = self._word[: inside.size], self._word[inside.size :]
        kept = (beam[inside] == self.slot[inside, None]) & (word[inside] == w_in[:, None])
        self.slot[:] = -1
        self.slot[inside] = np.where(kept.any(axis=1) & (w_in != end), kept.argmax(axis=1), -1)
        pruned = ~kept.any(axis=1) & (w_in != end)
        going = w_out != end
        self.own_img = np.concatenate([images[inside[pruned]], self.own_img[going]])
        self.own_words = np.concatenate([w_in[pruned], w_out[going]])
        rows = np.concatenate([self._rows[: inside.size][pruned], self._rows[inside.size :][going]])
        self.own_state = tuple(s[rows] for s in state)

    def keep(self, searching: np.ndarray) -> None:
        """Only the images still searching keep a slot."""
        self.slot = self.slot[searching]

    def better_than(self, norm_best: np.ndarray, length_penalty: float) -> np.ndarray:
        """(N,) bool: where the greedy caption's normalised log-probability beats the beam's best."""
        length = np.maximum(_lengths(self.captions, self.model.end_id, self.model.null_id), 1)
        return self.logp / length**length_penalty > norm_best


def beam_search(model, features, beam_width=3, max_length=30, length_penalty=0.7, table=None):
    """Beam search over all N * k hypotheses at once.

    Hypotheses are pruned by total log-probability; the winner per image is
    chosen by log-probability / length**length_penalty (0 turns normalisation
    off).  The greedy caption competes too (:class:`_RidingGreedy`), so the
    result never scores below it.

    Only what can still grow is fed to the model: ended hypotheses, the empty
    beams of the first step and images whose hypotheses have all ended cost
    nothing.
    """
    _check(model, max_length)
    k = check.positive_int("beam_search: beam_width", beam_width)
    table = model.input_table() if table is None else table
    if k == 1:
        return greedy_decode(model, features, max_length, table)
    N, L = features.shape[0], max_length
    null = model.null_id
    end = model.end_id if model.end_id is not None else -1  # -1: no word ends a caption
    # the results of every image; an image's row is final once it leaves the search
    final_seqs = np.full((N, k, L), null, dtype=np.int32)
    final_logp = np.full((N, k), -np.inf)
    final_len = np.zeros((N, k), dtype=np.int64)
    # the images still searching, and their hypotheses
    images = np.arange(N)
    seqs, logp, lengths = final_seqs.copy(), final_logp.copy(), final_len.copy()
    logp[:, 0] = 0.0  # one live hypothesis per image at the start: no duplicate beams
    done = np.zeros((N, k), dtype=bool)
    active = np.full((N, k), -1, dtype=np.int64)  # row of each growing hypothesis in `state`
    active[:, 0] = np.arange(N)
    state = model.initial_state(features)
    greedy = _RidingGreedy(model, N, L, state)
    words = np.full(N, model.start_id, dtype=np.int64)
    parents = np.arange(N)  # the state row each hypothesis continues; siblings share one
    for t in range(L):
        nb = words.size
        words, state, parents = greedy.append_rows(words, state, parents)
        scores, state = model.step_scores(table, words, state, parents)
        greedy.step(t, scores, nb, images, active)
        n = images.size
        new_logp, beam, word = np.empty((n, k)), np.empty((n, k), dtype=np.int64), np.empty((n, k), dtype=np.int64)
        K.beam_select(scores[:nb], active, logp, done, null, model.start_id, new_logp, beam, word)
        seqs = np.take_along_axis(seqs, beam[:, :, None], 1)
        seqs[:, :, t] = word
        was_done = np.take_along_axis(done, beam, 1)
        lengths = np.take_along_axis(lengths, beam, 1) + ~was_done
        done = was_done | (word == end)
        logp, parent = new_logp, np.take_along_axis(active, beam, 1)
        greedy.follow(images, beam, word, state)
        grows = ~done & np.isfinite(logp)
        searching = grows.any(axis=1)
        if not searching.all():
            gone = images[~searching]
            final_seqs[gone], final_logp[gone], final_len[gone] = (a[~searching] for a in (seqs, logp, lengths))
            images, seqs, logp, lengths, done = (a[searching] for a in (images, seqs, logp, lengths, done))
            grows, parent, word = grows[searching], parent[searching], word[searching]
            greedy.keep(searching)
        if images.size == 0 and not greedy.running:
            break
        kept, parents = np.unique(parent[grows], return_inverse=True)
        state = tuple(s[kept] for s in state)
        words = word[grows]
        active = np.full(grows.shape, -1, dtype=np.int64)
        active[grows] = np.arange(int(grows.sum()))
    final_seqs[images], final_logp[images], final_len[images] = seqs, logp, lengths
    norm = final_logp / np.maximum(final_len, 1) ** length_penalty
    best = norm.argmax(axis=1)
    out = final_seqs[np.arange(N), best]
    better = greedy.better_than(norm[np.arange(N), best], length_penalty)
    out[better] = greedy.captions[better]
    return out


def _lengths(captions, end, null) -> np.ndarray:
    """Tokens up to and including <END> (or all non-NULL tokens when there is none)."""
    L = captions.shape[1]
    is_end = captions == end if end is not None else np.zeros(captions.shape, dtype=bool)
    first_end = np.where(is_end.any(1), is_end.argmax(1) + 1, L)
    return np.minimum(first_end, (captions != null).sum(1))


DECODE_METHODS = ("greedy", "beam", "temperature")  # what decode(method=...) accepts


DECODE_BATCH = 500  # images per chunk in decode: bounds memory for any N (beam: k x 500 hypotheses)


def sample_captions(
    model, features, n: int, temperature=1.0, max_length=16, seed=None, batch_size=DECODE_BATCH, stats=None
) -> np.ndarray:
    """``n`` multinomial samples per image: features (N, D) -> captions (N * n, L) int32.

    Image i's samples are rows ``i * n`` to ``i * n + n - 1``; each follows softmax(scores /
    ``temperature``) word by word with ``<NULL>`` after its ``<END>``, decoded ``batch_size``
    rows at a time, reproducible from ``seed`` (an int or a ``numpy.random.Generator``);
    ``stats`` as in :func:`temperature_sample`.
    """
    n = check.positive_int("sample_captions: n", n)
    check.positive_int("sample_captions: batch_size", batch_size)
    repeated = np.repeat(features, n, axis=0)
    rng, table = np.random.default_rng(seed), model.input_table()
    chunks = [
        temperature_sample(model, repeated[s : s + batch_size], max_length, temperature, rng, table, stats)
        for s in range(0, len(repeated), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.full((0, max_length), model.null_id, dtype=np.int32)


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
    if method not in DECODE_METHODS:
        raise ValueError(f"decode: method must be one of {sorted(DECODE_METHODS)}, got {method!r}")
    check.positive_int("decode: batch_size", batch_size)
    rng = np.random.default_rng(seed)  # a Generator passes through unchanged
    table = model.input_table()
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
