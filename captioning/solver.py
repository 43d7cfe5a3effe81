"""CaptioningSolver: minibatch training with evaluation, checkpoints, resume and early stopping.

The solver computes and returns numbers.  Side effects go through two small
edges: ``checkpoint_path`` (an atomic ``.npz`` per epoch) and ``sinks``,
objects with ``log_iteration(iteration, loss)`` and ``log_epoch(epoch, metrics)``
(e.g. the workflow's MLflow logger; the solver never imports MLflow).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from . import _validate as check
from .checkpoint import TrainingCheckpoint
from .data.references import eval_images
from .errors import CaptioningError
from .evaluation import FIRST_REF_BLEU, BLEU_score, evaluate, mean_loss
from .optim import get_rule
from .vocab import decode_captions

log = logging.getLogger(__name__)


class TrainingDiverged(CaptioningError, FloatingPointError):
    """The loss became NaN or infinite."""


class MetricsSink(Protocol):
    def log_iteration(self, iteration: int, loss: float) -> None: ...

    def log_epoch(self, epoch: int, metrics: dict) -> None: ...


@dataclass
class TrainState:
    """Everything that changes during training (and goes into a checkpoint)."""

    epoch: int = 0  # completed epochs
    iteration: int = 0
    loss_history: list = field(default_factory=list)
    epoch_history: list = field(default_factory=list)  # one metrics dict per evaluated epoch
    best_score: float = -math.inf
    best_epoch: int = -1
    epochs_since_best: int = 0
    stopped_early: bool = False
    extra: dict = field(default_factory=dict)  # a solver variant's own state (JSON), e.g. a sampler's RNG


@dataclass(frozen=True)
class SolverConfig:
    """How a run trains: the notebook's optimisation settings, then those beyond the notebook.

    update_rule     'sgd', 'sgd_momentum', 'rmsprop' or 'adam'
    optim_config    the update rule's settings, e.g. {'learning_rate': 5e-3}
    lr_decay        learning-rate factor per epoch
    grad_clip       clip the global gradient norm to this value (None: off)
    eval_images     val images scored after every epoch (0: no evaluation)
    select_metric   val metric that picks the best parameters ('BLEU-4', 'CIDEr-D', ...)
    patience        stop after this many evaluated epochs without improvement (None: off)
    seed            seeds minibatch order; equal seeds give bitwise equal runs
    max_length      longest caption decoded on val (None: the training captions' length)
    """

    update_rule: str = "sgd"
    optim_config: dict = field(default_factory=dict)
    lr_decay: float = 1.0
    batch_size: int = 100
    num_epochs: int = 10
    grad_clip: float | None = None
    eval_images: int = 500
    select_metric: str = "BLEU-4"
    patience: int | None = None
    seed: int = 0
    max_length: int | None = None


NOTEBOOK_SETTINGS = ("update_rule", "optim_config", "lr_decay", "batch_size", "num_epochs")


class CaptioningSolver:
    """Trains a :class:`~captioning.model.CaptioningRNN` on a dict from ``load_coco_data``.

    The notebook's call works as it is: ``CaptioningSolver(model, data,
    update_rule=..., optim_config=..., lr_decay=..., batch_size=...,
    num_epochs=..., print_every=..., verbose=...)``; those settings override
    ``config`` (a :class:`SolverConfig`, which holds every other training
    setting).  The side effects are the caller's:

    checkpoint_path write an atomic checkpoint here after every epoch
    sinks           metric sinks, see :class:`MetricsSink`
    progress        show a tqdm bar (default: ``verbose``)
    """

    def __init__(
        self,
        model,
        data,
        config: SolverConfig | None = None,
        *,
        print_every=10,
        verbose=True,
        checkpoint_path=None,
        sinks=(),
        progress=None,
        **notebook_settings,
    ):
        unknown = sorted(set(notebook_settings) - set(NOTEBOOK_SETTINGS))
        if unknown:
            raise TypeError(
                f"CaptioningSolver: unexpected argument {unknown[0]!r}; the notebook's settings are "
                f"{', '.join(NOTEBOOK_SETTINGS)}, every other one goes in config=SolverConfig(...)"
            )
        if notebook_settings.get("optim_config", {}) is None:
            notebook_settings["optim_config"] = {}
        config = replace(config or SolverConfig(), **notebook_settings)
        self.config = config
        self.model, self.data = model, data
        self.update_rule_name = config.update_rule
        self.update_rule = get_rule(config.update_rule)
        self.optim_config = dict(config.optim_config)
        self.lr_decay, self.batch_size, self.num_epochs = float(config.lr_decay), config.batch_size, config.num_epochs
        self.print_every, self.verbose = print_every, verbose
        self.grad_clip = config.grad_clip
        self.eval_images, self.select_metric, self.patience = config.eval_images, config.select_metric, config.patience
        self.checkpoint_path, self.seed, self.sinks = checkpoint_path, config.seed, list(sinks)
        self.progress = verbose if progress is None else progress
        self.max_length = config.max_length or data["train_captions"].shape[1]
        check.positive_int("CaptioningSolver: batch_size", self.batch_size)
        check.non_negative_int("CaptioningSolver: num_epochs", self.num_epochs)
        check.non_negative_int("CaptioningSolver: eval_images", self.eval_images)
        self.state = TrainState()
        self.rng = np.random.default_rng(config.seed)
        self.optim_configs = {p: dict(self.optim_config) for p in model.params}
        self.best_params = None

    # ------------------------------------------------------------------ notebook API
    @property
    def loss_history(self) -> list:
        return self.state.loss_history

    def _step(self, captions, features) -> float:
        loss, grads = self.model.loss(features, captions)
        return self._apply(loss, grads)

    def _apply(self, loss: float, grads: dict) -> float:
        """One update from ``grads``: stop on a non-finite loss, clip the global norm, step the rule."""
        if not math.isfinite(loss):
            last = f"; the last good checkpoint is {self.checkpoint_path}" if self.checkpoint_path else ""
            raise TrainingDiverged(
                f"training diverged: loss is {loss} at iteration {self.state.iteration + 1} "
                f"(epoch {self.state.epoch + 1}); lower the learning rate or set grad_clip{last}"
            )
        if self.grad_clip:
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
            if norm > self.grad_clip:
                for g in grads.values():
                    g *= self.grad_clip / norm
        for name, w in self.model.params.items():
            self.model.params[name], self.optim_configs[name] = self.update_rule(
                w, grads[name], self.optim_configs[name]
            )
        return loss

    @property
    def iterations_per_epoch(self) -> int:
        """Minibatches an epoch takes: the training units (captions; images for self-critical) over the batch."""
        return max(self._n_units() // self.batch_size, 1)

    def train(self, resume_from=None) -> dict:
        """Run the remaining epochs; with ``resume_from``, first restore that checkpoint."""
        if resume_from is not None:
            self.restore(resume_from)
        st = self.state
        n_train = self._n_units()
        per_epoch = self.iterations_per_epoch
        total = self.num_epochs * per_epoch
        bar = tqdm(total=total, initial=st.iteration, disable=not self.progress, unit="it", desc="train")
        t_start, seen = time.perf_counter(), 0
        try:
            while st.epoch < self.num_epochs and not st.stopped_early:
                order = self.rng.permutation(n_train)
                for i in range(per_epoch):
                    loss, n_captions = self._train_step(order[i * self.batch_size : (i + 1) * self.batch_size])
                    st.iteration += 1
                    st.loss_history.append(loss)
                    seen += n_captions
                    for sink in self.sinks:
                        sink.log_iteration(st.iteration, loss)
                    bar.update(1)
                    if self.progress:
                        bar.set_postfix(loss=f"{loss:.3f}", caps_s=f"{seen / (time.perf_counter() - t_start):.0f}")
                    if self.verbose and self.print_every and (st.iteration - 1) % self.print_every == 0:
                        tqdm.write(f"(Iteration {st.iteration} / {total}) loss: {loss:f}")
                st.epoch += 1
                for cfg in self.optim_configs.values():
                    cfg["learning_rate"] *= self.lr_decay  # set by the rule on its first update
                self._end_of_epoch(per_epoch)
        finally:
            bar.close()
        if self.best_params is not None:
            self.model.params = {k: v.copy() for k, v in self.best_params.items()}
        summary = {
            "epochs": st.epoch,
            "iterations": st.iteration,
            "final_loss": st.loss_history[-1] if st.loss_history else None,
            "best_epoch": st.best_epoch,
            "select_metric": self.select_metric,
            f"best_val_{self.select_metric}": st.best_score,
            "stopped_early": st.stopped_early,
            "seconds": time.perf_counter() - t_start,
        }
        if self.verbose:
            best = (
                f", best val {self.select_metric} (greedy) {st.best_score:.3f} at epoch {st.best_epoch}"
                if st.best_epoch > 0
                else ""
            )
            log.info(
                f"trained {st.epoch} epochs ({st.iteration} iterations) in {summary['seconds']:.0f} s, "
                f"final loss {summary['final_loss']:.3f}{best}"
            )
        return summary

    def _n_units(self) -> int:
        """What an epoch permutes and batches: the training captions."""
        return len(self.data["train_captions"])

    def _train_step(self, idx: np.ndarray) -> tuple[float, int]:
        """One update on the units ``idx``; returns its loss and the number of captions it trained on."""
        data = self.data
        captions = data["train_captions"][idx]
        return self._step(captions, data["train_features"][data["train_image_idxs"][idx]]), len(idx)

    def _epoch_metrics(self) -> dict:
        """Training statistics of the epoch just ended, beside its train loss (none for cross-entropy)."""
        return {}

    # ---------------------------------------------------------------- evaluation
    def evaluate_epoch(self) -> dict:
        """Validation metrics on the first ``eval_images`` val images: loss, BLEU-1..4, CIDEr-D, first-ref BLEU."""
        data = self.data
        images = eval_images(data, "val", self.eval_images)
        keep = np.isin(data["val_image_idxs"], images)
        caps = data["val_captions"][keep]
        feats = data["val_features"][data["val_image_idxs"][keep]]
        val_loss = mean_loss(self.model, caps, feats)
        scores, hyps = evaluate(self.model, data, "val", images, max_length=self.max_length)
        # the notebook's metric: unigram BLEU of each image's sample against its first reference
        _, first = np.unique(data["val_image_idxs"][keep], return_index=True)  # in image order, like images
        gt = decode_captions(caps[first], data["idx_to_word"], plain=True)
        first_ref = float(np.mean([BLEU_score(g, hyps[int(i)]) for g, i in zip(gt, images, strict=True)]))
        return {"val_loss": val_loss, **{f"val_{k}": v for k, v in scores.items()}, f"val_{FIRST_REF_BLEU}": first_ref}

    def _end_of_epoch(self, per_epoch: int) -> None:
        st = self.state
        recent = st.loss_history[-per_epoch:]
        metrics = {
            "epoch": st.epoch,
            "train_loss": float(np.mean(recent)) if recent else float("nan"),
            "learning_rate": float(next(iter(self.optim_configs.values())).get("learning_rate", 0.0)),
            **self._epoch_metrics(),
        }
        if self.eval_images > 0:
            metrics.update(self.evaluate_epoch())
            score = metrics[f"val_{self.select_metric}"]
            if score > st.best_score:
                st.best_score, st.best_epoch, st.epochs_since_best = score, st.epoch, 0
                self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            else:
                st.epochs_since_best += 1
                if self.patience is not None and st.epochs_since_best >= self.patience:
                    st.stopped_early = True
        st.epoch_history.append(metrics)
        for sink in self.sinks:
            sink.log_epoch(st.epoch, metrics)
        if self.verbose:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "epoch")
            tqdm.write(f"(Epoch {st.epoch} / {self.num_epochs}) {shown}")
        if self.checkpoint_path:
            self.save(self.checkpoint_path)

    # --------------------------------------------------------------- checkpoints
    def checkpoint(self) -> TrainingCheckpoint:
        """Everything needed to continue this run bit for bit."""
        state = {k: v for k, v in asdict(self.state).items() if k != "loss_history"}
        return TrainingCheckpoint(
            model_config=self.model.config(),
            idx_to_word=[self.model.idx_to_word[i] for i in range(len(self.model.idx_to_word))],
            solver_config={
                "update_rule": self.update_rule_name,
                "optim_config": self.optim_config,
                "lr_decay": self.lr_decay,
                "batch_size": self.batch_size,
                "num_epochs": self.num_epochs,
                "grad_clip": self.grad_clip,
                "seed": self.seed,
            },
            params=self.model.params,
            best_params=self.best_params,
            optim_configs=self.optim_configs,
            rng_state=self.rng.bit_generator.state,
            state=state,
            loss_history=np.asarray(self.state.loss_history),
        )

    def save(self, path) -> None:
        self.checkpoint().save(path)

    def restore(self, checkpoint) -> None:
        """Continue from ``checkpoint``: a path or a loaded :class:`~captioning.checkpoint.TrainingCheckpoint`."""
        ck = checkpoint if isinstance(checkpoint, TrainingCheckpoint) else TrainingCheckpoint.load(checkpoint)
        ck.check_compatible(self.model)
        self.model.params = {k: ck.params[k].copy() for k in self.model.params}
        self.best_params = {k: v.copy() for k, v in ck.best_params.items()} if ck.best_params else None
        self.optim_configs = {
            name: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in ck.optim_configs[name].items()}
            for name in self.model.params
        }
        self.rng.bit_generator.state = ck.rng_state
        self.state = TrainState(**ck.state, loss_history=ck.loss_history.tolist())
