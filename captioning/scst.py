"""Self-critical sequence training's pieces: the CIDEr-D reward with training statistics, and baselines.

Rennie et al. 2017 fine-tune a cross-entropy model on its evaluation metric with
REINFORCE, using a baseline that needs no critic: the greedy caption's reward
("self-critical"), or (Luo 2020) the mean reward of the image's other samples.

* :class:`CiderReward`: CIDEr-D of each sampled caption against its own image's
  references, with document frequencies and the reference-length term from the
  **training** references, computed once (:class:`captioning.ngrams.DocFrequencies`;
  the scorer's corpus mode would let a caption's reward depend on its batch).
  ``<END>`` counts as a word in the captions and the references: without it a
  fragment such as "with a" loses nothing for stopping there.
* :func:`mean_baseline`: each sample's baseline is the mean reward of the other
  ``n - 1`` samples of its image.  Baselines and rewards are plain arrays, so no
  gradient flows through them; :meth:`CaptioningRNN.weighted_loss` takes the
  advantages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data.references import split_references
from .ngrams import DocFrequencies, cider_d_each
from .sampling import greedy_decode, sample_captions
from .solver import CaptioningSolver, SolverConfig
from .vocab import END, decode_captions

BASELINES = ("mean", "greedy")
SCST_DEFAULTS = SolverConfig(  # Rennie et al. and self-critical.pytorch: Adam at a constant 5e-5, clipped
    update_rule="adam",
    optim_config={"learning_rate": 5e-5},
    lr_decay=1.0,
    batch_size=25,
    num_epochs=6,
    grad_clip=1.0,
    select_metric="CIDEr-D",
)
EPOCH_STATISTICS = ("reward", "baseline", "advantage", "sample_length", "never_ends", "entropy")


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


@dataclass(frozen=True)
class ScstConfig:
    samples: int = 5  # multinomial samples per image
    baseline: str = "mean"  # or "greedy"
    temperature: float = 1.0
    max_length: int = 16  # longest sampled caption


class ScstSolver(CaptioningSolver):
    """Self-critical fine-tuning of a trained model for CIDEr-D, with the cross-entropy solver's machinery.

    An epoch visits every training image once, ``batch_size`` images an update: each
    image gets ``samples`` captions, each caption its reward and advantage (reward
    minus baseline), and :meth:`CaptioningRNN.weighted_loss` the update.  Checkpoints,
    bitwise resume (the sampler's RNG included), early stopping and the best epoch by
    val (``select_metric``, CIDEr-D by default), the progress bar and the metric sinks
    are the solver's.  Each epoch adds ``train_<statistic>`` for :data:`EPOCH_STATISTICS`:
    mean reward, baseline, advantage, sampled length (words and ``<END>``), the
    fraction of samples that never end, and the mean entropy (nats) per sampled word.
    """

    def __init__(self, model, data, config: SolverConfig | None = None, scst: ScstConfig = ScstConfig(), **kwargs):
        super().__init__(model, data, config or SCST_DEFAULTS, **kwargs)
        if scst.baseline not in BASELINES:
            raise ValueError(f"ScstSolver: baseline must be one of {list(BASELINES)}, got {scst.baseline!r}")
        if scst.baseline == "mean" and scst.samples < 2:
            raise ValueError(f"ScstSolver: the mean baseline needs samples >= 2, got {scst.samples}")
        self.scst = scst
        self.images = np.unique(data["train_image_idxs"])
        refs = split_references(data, "train", self.images)
        self.refs = [refs[int(i)] for i in self.images]
        vocab = data["idx_to_word"]
        self.reward = CiderReward(refs, [vocab[i] for i in range(len(vocab))])
        self.sample_rng = np.random.default_rng([self.seed, 1])  # a stream of its own, beside the batch order
        self._statistics: list[dict] = []

    def _n_units(self) -> int:
        return len(self.images)

    def _train_step(self, idx: np.ndarray) -> tuple[float, int]:
        m, n = self.model, self.scst.samples
        features = self.data["train_features"][self.images[idx]]
        stats: dict = {}
        captions = sample_captions(
            m, features, n, self.scst.temperature, self.scst.max_length, self.sample_rng, stats=stats
        )
        rewards = self.reward([self.refs[k] for k in idx for _ in range(n)], captions)
        if self.scst.baseline == "mean":
            baseline = mean_baseline(rewards, n)
        else:
            greedy = greedy_decode(m, features, self.scst.max_length)
            baseline = np.repeat(self.reward([self.refs[k] for k in idx], greedy), n)
        advantages = rewards - baseline
        start = np.full((len(captions), 1), m.start_id, dtype=captions.dtype)
        loss, grads = m.weighted_loss(np.repeat(features, n, axis=0), np.hstack([start, captions]), advantages)
        ended = (captions == m.end_id).any(axis=1)
        self._statistics.append(
            {
                "reward": rewards.mean(),
                "baseline": baseline.mean(),
                "advantage": advantages.mean(),
                "sample_length": float(
                    np.where(ended, (captions == m.end_id).argmax(axis=1) + 1, captions.shape[1]).mean()
                ),
                "never_ends": float((~ended).mean()),
                "entropy": stats["entropy"] / max(stats["steps"], 1),
            }
        )
        return self._apply(loss, grads), len(captions)

    def _epoch_metrics(self) -> dict:
        out = {f"train_{k}": float(np.mean([s[k] for s in self._statistics])) for k in EPOCH_STATISTICS}
        self._statistics = []
        return out

    def checkpoint(self):
        self.state.extra["sample_rng"] = self.sample_rng.bit_generator.state
        return super().checkpoint()

    def restore(self, checkpoint) -> None:
        super().restore(checkpoint)
        self.sample_rng.bit_generator.state = self.state.extra["sample_rng"]
