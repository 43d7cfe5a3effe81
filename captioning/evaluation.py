"""Turning a model and a split into scores: references, decoding, BLEU-1..4, CIDEr-D, ROUGE-L; the notebook's
BLEU_score.

Shapes: n captions, m images, L caption tokens.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from .data.coco import sample_coco_minibatch
from .data.references import eval_images, split_references
from .ngrams import score_captions
from .rouge import ROUGE_L, rouge_l
from .sampling import DECODE_BATCH, decode
from .vocab import END, START, UNK, decode_captions

# The two sentence-level scores built on the notebook's BLEU_score, named by what they average.
FIRST_REF_BLEU = "sentence_BLEU-1_first_ref"  # each image's greedy caption against its first reference
RANDOM_REFERENCE_BLEU = "sentence_BLEU-1_random_reference"  # evaluate_model: greedy captions against a random reference


def BLEU_score(gt_caption: str, sample_caption: str) -> float:
    """The notebook's unigram BLEU: nltk ``sentence_bleu`` with weights [1] after dropping special tokens.

    Computed as nltk computes it, to the last bit (``tests/test_metrics.py``), without nltk: its
    import takes a second and its fractions a millisecond a caption, and training calls this for
    every val image every epoch.
    """
    skip = (START, END, UNK)
    reference = [w for w in gt_caption.split(" ") if not any(s in w for s in skip)]
    hypothesis = [w for w in sample_caption.split(" ") if not any(s in w for s in skip)]
    counts = Counter(hypothesis)
    clipped = Counter(reference)
    matched = sum(min(n, clipped[w]) for w, n in counts.items())
    if matched == 0:  # nltk: no unigram in common (or an empty hypothesis) scores 0
        return 0.0
    c, r = len(hypothesis), len(reference)
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    return float(brevity * math.exp(math.log(matched / c)))


def evaluate_model(
    model, data: dict, batch_size: int = 1000, seed=0, splits=("train", "val"), verbose=True, max_length=30
) -> dict:
    """The notebook's evaluation: mean :func:`BLEU_score` of greedy samples (``max_length`` steps),
    ``batch_size`` captions a split."""
    rng = np.random.default_rng(seed)
    scores = {}
    for split in splits:
        gt, features, _ = sample_coco_minibatch(data, batch_size=batch_size, split=split, seed=rng)
        gt = decode_captions(gt, data["idx_to_word"])
        samples = decode_captions(model.sample(features, max_length), data["idx_to_word"])
        scores[split] = float(np.mean([BLEU_score(g, s) for g, s in zip(gt, samples, strict=True)]))
        if verbose:
            print(f"Average BLEU score for {split}: {scores[split]:f}")
    return scores


def decode_images(
    model, data: dict, split: str, images, features=None, batch_size: int = DECODE_BATCH, **decode_args
) -> dict[int, str]:
    """{image: decoded sentence} for ``images`` of ``split``, decoded ``batch_size`` images at a time.

    ``features`` overrides the split's image features (e.g. zeros for an image-blind baseline).
    """
    images = np.asarray(images)
    feats = data[f"{split}_features"][images] if features is None else features
    tokens = decode(model, feats, batch_size=batch_size, **decode_args)
    sentences = decode_captions(tokens, data["idx_to_word"], plain=True)
    return {int(i): s for i, s in zip(images, sentences, strict=True)}


def evaluate(
    model, data: dict, split: str = "val", images=None, features=None, batch_size: int = DECODE_BATCH, **decode_args
) -> tuple[dict, dict[int, str]]:
    """Decode ``images`` of ``split`` (all when None) and score them against all their references.

    Returns the scores and the decoded {image: sentence}.
    """
    images = eval_images(data, split, None) if images is None else np.asarray(images)
    hyps = decode_images(model, data, split, images, features, batch_size, **decode_args)
    refs = split_references(data, split, images)
    return {**score_captions(refs, hyps), ROUGE_L: rouge_l(refs, hyps)}, hyps


def caption_health(hyps: dict, max_length: int) -> dict:
    """What degenerate captioners do, over {image: sentence} decoded with ``max_length`` steps: the mean
    length in words, the fraction repeating a word back to back, the fraction that never ended (all
    ``max_length`` steps are words), and the number of distinct words used."""
    words = [h.split() for h in hyps.values()]
    n = max(len(words), 1)
    return {
        "mean_length": sum(map(len, words)) / n,
        "repeats": sum(any(a == b for a, b in zip(w, w[1:], strict=False)) for w in words) / n,
        "never_ends": sum(len(w) == max_length for w in words) / n,
        "vocabulary": len({t for w in words for t in w}),
    }


def mean_loss(model, captions: np.ndarray, features: np.ndarray, batch_size: int = 512) -> float:
    """Average per-caption loss (the training objective) over a fixed set of captions."""
    total = 0.0
    for start in range(0, len(captions), batch_size):
        batch = captions[start : start + batch_size]
        total += model.nll(features[start : start + batch_size], batch) * len(batch)
    return total / max(len(captions), 1)
