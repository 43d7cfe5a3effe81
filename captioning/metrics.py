"""Text scoring: COCO-style corpus BLEU-1..4, CIDEr-D and human agreement (no model, no data files).

``corpus_bleu`` and ``cider_d`` follow pycocoevalcap's ``Bleu(4)`` ("closest"
reference length, its tiny/small smoothing constants) and ``Cider`` (tf-idf
n-grams with document frequencies from the references, clipped similarity,
Gaussian length penalty with sigma 6, x10) to 1e-6, but count n-grams with
NumPy over integer n-gram ids instead of Python dicts, so 40,000 images with
5 references each score in seconds.  Sentences are split on whitespace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_N = 4
METRIC_NAMES = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D")


# ------------------------------------------------------------------ n-gram tables


@dataclass
class _NGrams:
    """Counts of every n-gram (one order) in every sentence: rows (sentence, ngram id, count)."""

    sent: np.ndarray
    gram: np.ndarray
    count: np.ndarray
    n_grams: int  # number of distinct ids


def _ngram_tables(sentences: list[str], max_n: int = MAX_N) -> tuple[np.ndarray, list[_NGrams]]:
    """Sentence lengths (S,) and, for n = 1..max_n, the per-sentence n-gram counts."""
    vocab: dict[str, int] = {}
    words = [s.split() for s in sentences]
    lens = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    flat = np.fromiter(
        (vocab.setdefault(t, len(vocab)) for w in words for t in w), dtype=np.int64, count=int(lens.sum())
    )
    sent = np.repeat(np.arange(len(words)), lens)
    pos = np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)
    base = max(len(vocab), 1)
    tables = []
    ids, valid = flat, np.ones(len(flat), dtype=bool)
    for n in range(1, max_n + 1):
        if n > 1:
            valid = valid & (pos + n <= lens[sent])
            nxt = np.zeros_like(flat)
            nxt[: len(flat) - n + 1] = flat[n - 1 :]
            codes = ids * base + nxt
            ids = np.full(len(flat), -1, dtype=np.int64)
            uniq, inv = np.unique(codes[valid], return_inverse=True)
            ids[valid] = inv
            n_ids = len(uniq)
        else:
            n_ids = base
        key = sent[valid] * n_ids + ids[valid]
        uk, counts = np.unique(key, return_counts=True)
        tables.append(_NGrams(uk // n_ids, uk % n_ids, counts, n_ids))
    return lens, tables


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values at sorted ``keys`` matching ``query``; 0 where absent."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=values.dtype)
    at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[at] == query, values[at], 0)


def _prepare(refs: dict, hyps: dict):
    if set(refs) != set(hyps):
        missing = sorted(set(refs) ^ set(hyps), key=str)[:3]
        raise ValueError(f"refs and hyps must have the same image ids; differing ids include {missing}")
    ids = list(hyps)
    for i in ids:
        if not isinstance(hyps[i], str):
            raise ValueError(f"hyps[{i!r}] must be one caption string, got {type(hyps[i]).__name__}")
        if not refs[i] or not all(isinstance(r, str) for r in refs[i]):
            raise ValueError(f"refs[{i!r}] must be a non-empty list of caption strings")
    n_refs = np.array([len(refs[i]) for i in ids])
    sentences = [hyps[i] for i in ids] + [r for i in ids for r in refs[i]]
    lens, tables = _ngram_tables(sentences)
    ref_img = np.repeat(np.arange(len(ids)), n_refs)
    return _Prepared(len(ids), n_refs, ref_img, lens, tables)


@dataclass
class _Prepared:
    """Sentences 0..M-1 are the hypotheses (one per image), then every reference in image order."""

    M: int
    n_refs: np.ndarray  # (M,)
    ref_img: np.ndarray  # (R,) image of each reference
    lens: np.ndarray  # (M + R,) words per sentence
    tables: list  # _NGrams for n = 1..4


def corpus_bleu(refs: dict, hyps: dict) -> list[float]:
    """Corpus BLEU-1..4 of ``hyps`` {image_id: str} against ``refs`` {image_id: [str, ...]}."""
    return _bleu(_prepare(refs, hyps))


def cider_d(refs: dict, hyps: dict, sigma: float = 6.0) -> float:
    """CIDEr-D (pycocoevalcap's Cider) of ``hyps`` against ``refs``, averaged over images."""
    return _cider(_prepare(refs, hyps), sigma)


def score_captions(refs: dict, hyps: dict) -> dict:
    """BLEU-1..4 and CIDEr-D from one pass over the n-grams."""
    prep = _prepare(refs, hyps)
    return dict(zip(METRIC_NAMES, [*_bleu(prep), _cider(prep)], strict=True))


def _bleu(prep: _Prepared) -> list[float]:
    M, n_refs, ref_img, lens, tables = prep.M, prep.n_refs, prep.ref_img, prep.lens, prep.tables
    tiny, small = 1e-15, 1e-9
    hyp_len, ref_len = lens[:M], lens[M:]
    # closest reference length per image, ties to the shorter one
    key = np.abs(ref_len - hyp_len[ref_img]) * (ref_len.max() + 1) + ref_len
    starts = np.concatenate([[0], np.cumsum(n_refs)[:-1]])
    closest = np.minimum.reduceat(key, starts) % (ref_len.max() + 1)
    correct, guess = [], []
    for n, t in enumerate(tables, start=1):
        is_hyp = t.sent < M
        img = np.where(is_hyp, t.sent, ref_img[np.maximum(t.sent - M, 0)])
        k = img * t.n_grams + t.gram
        # max count of each n-gram over an image's references
        rk, rc = k[~is_hyp], t.count[~is_hyp]
        order = np.argsort(rk, kind="stable")
        rk, rc = rk[order], rc[order]
        if len(rk):
            first = np.concatenate([[True], rk[1:] != rk[:-1]])
            rk, rc = rk[first], np.maximum.reduceat(rc, np.flatnonzero(first))
        clipped = np.minimum(t.count[is_hyp], _lookup(rk, rc, k[is_hyp]))
        correct.append(float(clipped.sum()))
        guess.append(float(np.maximum(hyp_len - n + 1, 0).sum()))
    bleus, b = [], 1.0
    for n in range(MAX_N):
        b *= (correct[n] + tiny) / (guess[n] + small)
        bleus.append(b ** (1.0 / (n + 1)))
    ratio = (hyp_len.sum() + tiny) / (closest.sum() + small)
    if ratio < 1:
        bleus = [x * math.exp(1 - 1 / ratio) for x in bleus]
    return bleus


def _cider(prep: _Prepared, sigma: float = 6.0) -> float:
    M, n_refs, ref_img, lens, tables = prep.M, prep.n_refs, prep.ref_img, prep.lens, prep.tables
    S = len(lens)
    img_of = np.concatenate([np.arange(M), ref_img])
    log_docs = math.log(float(M))
    bigram_len = np.maximum(lens - 1, 0).astype(np.float64)
    penalty = np.exp(-((bigram_len[:M][ref_img] - bigram_len[M:]) ** 2) / (2 * sigma**2))
    total = np.zeros(len(ref_img))
    for t in tables:
        is_ref = t.sent >= M
        doc = np.unique(img_of[t.sent[is_ref]] * t.n_grams + t.gram[is_ref]) % t.n_grams
        df = np.bincount(doc, minlength=t.n_grams).astype(np.float64)
        weight = t.count * (log_docs - np.log(np.maximum(1.0, df[t.gram])))
        norm = np.sqrt(np.bincount(t.sent, weights=weight**2, minlength=S))
        is_hyp = ~is_ref
        hk = t.sent[is_hyp] * t.n_grams + t.gram[is_hyp]  # hyps: sentence index == image index, sorted
        rq = img_of[t.sent[is_ref]] * t.n_grams + t.gram[is_ref]
        vr = weight[is_ref]
        vh = _lookup(hk, weight[is_hyp], rq)
        dot = np.bincount(t.sent[is_ref] - M, weights=np.minimum(vh, vr) * vr, minlength=len(ref_img))
        denom = norm[:M][ref_img] * norm[M:]
        total += np.where(denom != 0, dot / np.where(denom != 0, denom, 1), dot) * penalty
    per_image = np.bincount(ref_img, weights=total, minlength=M) / MAX_N / n_refs * 10.0
    return float(per_image.mean())


def human_agreement(refs: dict) -> dict:
    """Leave-one-out scores of the references themselves (COCO's human baseline).

    Round k takes each image's k-th reference as the hypothesis and scores it
    against the image's other references; the scores are averaged over the
    rounds.  Images need at least two references.
    """
    k_max = min(len(r) for r in refs.values())
    if k_max < 2:
        raise ValueError("human_agreement: every image needs at least 2 references")
    rounds = []
    for k in range(k_max):
        hyp = {i: r[k] for i, r in refs.items()}
        rest = {i: r[:k] + r[k + 1 :] for i, r in refs.items()}
        rounds.append([score_captions(rest, hyp)[m] for m in METRIC_NAMES])
    return dict(zip(METRIC_NAMES, map(float, np.mean(rounds, axis=0)), strict=True))
