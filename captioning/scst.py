"""Self-critical sequence training's pieces: the CIDEr-D reward with training statistics, and baselines.

Rennie et al. 2017 fine-tune a cross-entropy model on its evaluation metric with
REINFORCE, using a baseline that needs no critic: the greedy caption's reward
("self-critical"), or (Luo 2020) the mean reward of the image's other samples.

* :class:`CiderReward`: CIDEr-D of each sampled caption against its own image's
  references, with document frequencies and the reference-length term from the
  **training** references, computed once (:class:`captioning.metrics.DocFrequencies`;
  the scorer's corpus mode would let a caption's reward depend on its batch).
  ``<END>`` counts as a word in the captions and the references: without it a
  fragment such as "with a" loses nothing for stopping there.
* :func:`mean_baseline`: each sample's baseline is the mean reward of the other
  ``n - 1`` samples of its image.  Baselines and rewards are plain arrays, so no
  gradient flows through them; :meth:`CaptioningRNN.weighted_loss` takes the
  advantages.
"""

from __future__ import annotations

import numpy as np

from .metrics import DocFrequencies, cider_d_each
from .vocab import END, decode_captions

BASELINES = ("mean", "greedy")


class CiderReward:
    """CIDEr-D rewards with the training references' statistics, built once per run."""

    def __init__(self, train_refs: dict, idx_to_word: list[str]):
        """``train_refs``: {image: [plain reference, ...]} of the training split; ``idx_to_word``: the vocabulary."""
        self.idx_to_word = list(idx_to_word)
        self.doc_freq = DocFrequencies.from_references(_with_end(train_refs), words=self.idx_to_word)

    def __call__(self, refs: list[list[str]], captions: np.ndarray) -> np.ndarray:
        """(M,) rewards of ``captions`` (M, L) token ids (no ``<START>``), caption k against ``refs[k]``."""
        if len(refs) != len(captions):
            raise ValueError(f"CiderReward: {len(captions)} captions but {len(refs)} reference lists")
        hyps = {k: c for k, c in enumerate(decode_captions(np.atleast_2d(captions), self.idx_to_word))}
        return cider_d_each(_with_end(dict(enumerate(refs))), hyps, self.doc_freq)


def _with_end(refs: dict) -> dict:
    return {i: [f"{r} {END}" for r in rs] for i, rs in refs.items()}


def mean_baseline(rewards: np.ndarray, n: int) -> np.ndarray:
    """(N * n,) rewards of n samples per image (image-major) -> each sample's mean of its image's other samples."""
    if n < 2:
        raise ValueError(f"mean_baseline: needs at least 2 samples per image, got n={n}")
    r = np.asarray(rewards, dtype=np.float64).reshape(-1, n)
    return ((r.sum(axis=1, keepdims=True) - r) / (n - 1)).reshape(-1)
