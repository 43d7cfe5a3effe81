"""Figures: loss curves, metric bars and captioned image grids (atomic PNGs).

Figures are plain ``matplotlib.figure.Figure`` objects, so drawing needs no
pyplot state and never touches the process's matplotlib backend.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure

from ..atomic import atomic_path
from ..metrics import METRIC_NAMES


def _save(fig: Figure, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def smooth(values, window: int = 25) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if len(values) < window:
        return values
    kernel = np.ones(window) / window
    head = np.cumsum(values[: window - 1]) / np.arange(1, window)
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def loss_curve(path, title: str, loss_history, epoch_history, iterations_per_epoch: int) -> None:
    """Training loss per iteration (raw and smoothed) and validation loss per epoch."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    it = np.arange(1, len(loss_history) + 1)
    ax.plot(it, loss_history, color="tab:blue", alpha=0.25, lw=0.8, label="train loss (iteration)")
    ax.plot(it, smooth(loss_history), color="tab:blue", lw=1.8, label="train loss (smoothed)")
    val = [(e["epoch"] * iterations_per_epoch, e["val_loss"]) for e in epoch_history if "val_loss" in e]
    if val:
        ax.plot(*zip(*val, strict=True), "o-", color="tab:orange", label="val loss (epoch)")
    ax.set(xlabel="iteration", ylabel="loss per caption", title=title)
    ax.grid(alpha=0.3)
    reward = [(e["epoch"] * iterations_per_epoch, e["train_reward"]) for e in epoch_history if "train_reward" in e]
    if reward:  # self-critical training: its loss is a policy gradient's, the reward is what it raises
        ax.set_ylabel("policy-gradient loss")
        right = ax.twinx()
        right.plot(*zip(*reward, strict=True), "s-", color="tab:green", label="mean CIDEr-D reward (epoch)")
        right.set_ylabel("reward")
        handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=8)
    else:
        ax.legend()
    _save(fig, path)


def loss_comparison(path, curves: dict) -> None:
    """curves: {label: (loss_history, epoch_history, iterations_per_epoch)}: smoothed train and val loss."""
    fig = Figure(figsize=(12, 4.2))
    a, b = fig.subplots(1, 2)
    for i, (label, (hist, epochs, _)) in enumerate(sorted(curves.items())):
        color = f"C{i % 10}"
        a.plot(np.arange(1, len(hist) + 1), smooth(hist), color=color, label=label)
        val = [(e["epoch"], e["val_loss"]) for e in epochs if "val_loss" in e]
        if val:
            b.plot(*zip(*val, strict=True), "o-", color=color, label=label)
    a.set(xlabel="iteration", ylabel="train loss (smoothed, log scale)", title="Training loss", yscale="log")
    b.set(xlabel="epoch", ylabel="val loss", title="Validation loss")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)


TENFOLD = ("CIDEr-D",)  # scores on a 0-10 scale, beside the 0-1 ones on axes of their own


def metric_bars(
    path, rows: list[dict], metrics=METRIC_NAMES, reference: dict | None = None, confidence: float = 0.95
) -> None:
    """Grouped bars of test metrics with their intervals, one group per metric.

    rows: {label, experiment, decoder, <m>, <m>_lo, <m>_hi}; one colour per
    experiment, beam-search bars hatched; the legend sits beside the axes.
    """
    fig = Figure(figsize=(15, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [4, 1.4]})
    colour = {e: f"C{i % 10}" for i, e in enumerate(dict.fromkeys(r["experiment"] for r in rows))}
    groups = [[m for m in metrics if m not in TENFOLD], [m for m in metrics if m in TENFOLD]]
    width = 0.8 / max(len(rows), 1)
    for ax, names in zip(axes, groups, strict=True):
        x = np.arange(len(names))
        for i, row in enumerate(rows):
            vals = np.array([row.get(m, np.nan) for m in names])
            lo = np.array([row.get(f"{m}_lo", np.nan) for m in names])
            hi = np.array([row.get(f"{m}_hi", np.nan) for m in names])
            ax.bar(
                x + (i - (len(rows) - 1) / 2) * width,
                vals,
                width,
                yerr=np.nan_to_num(np.vstack([vals - lo, hi - vals])),
                capsize=2,
                label=row["label"],
                color=colour[row["experiment"]],
                hatch="///" if row["decoder"] == "beam" else None,
                edgecolor="white",
                linewidth=0.5,
            )
        if reference:
            for j, m in enumerate(names):
                if m in reference:
                    ax.hlines(
                        reference[m],
                        j - 0.45,
                        j + 0.45,
                        colors="k",
                        linestyles="--",
                        label="human agreement" if j == 0 else None,
                    )
        ax.set_xticks(x, names)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("score on test")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.suptitle(
        f"Test metrics (mean over seeds; bars: {confidence:.0%} bootstrap intervals over seeds and test images; "
        "dashed: human agreement)"
    )
    _save(fig, path)


def seed_scores(path, rows: list[dict], metrics=("BLEU-4", "CIDEr-D"), confidence: float = 0.95) -> None:
    """Per experiment and metric: each seed's score (dots), their mean (a bar) and its interval over seeds and images.

    ``rows``: {"label", "seeds": [per-seed {metric: value}], metric: mean, f"{metric}_lo", f"{metric}_hi"}.
    """
    fig = Figure(figsize=(max(6, 0.9 * len(rows) + 2) * len(metrics) / 2 + 1, 4))
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    x = np.arange(len(rows))
    for ax, m in zip(axes, metrics, strict=True):
        for i, r in enumerate(rows):
            values = [s[m] for s in r["seeds"]]
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(
                i + np.asarray(jitter), values, s=18, color="tab:blue", zorder=3, label="a seed" if i == 0 else None
            )
            ax.errorbar(
                i,
                r[m],
                yerr=[[r[m] - r[f"{m}_lo"]], [r[f"{m}_hi"] - r[m]]],
                fmt="_",
                color="black",
                ms=16,
                capsize=4,
                label=f"mean, {confidence:.0%} interval over seeds and images" if i == 0 else None,
            )
        ax.set_xticks(x, [f"{r['label']}\n({len(r['seeds'])} seed{'s' * (len(r['seeds']) > 1)})" for r in rows])
        ax.tick_params(axis="x", labelsize=7, rotation=60)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
        ax.set_title(f"test {m} (greedy)")
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.1))
    fig.suptitle("Training noise: each seed's score and the experiment's interval")
    _save(fig, path)


def caption_grid(
    path, title: str, samples: list[dict], images=None, cols: int = 4, lines=(("greedy", "greedy"), ("beam", "beam"))
) -> None:
    """Images with their ground truth and captions: ``lines`` gives (key, label) of each caption shown.

    samples: [{image, gt: [str], <key>: str or None, ...}]; images: (m, S, S, 3) uint8 or None
    (COCO offline: no pixels, the panel shows text only).
    """
    rows = int(np.ceil(len(samples) / cols))
    fig = Figure(figsize=(4.2 * cols, 5.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, s in zip(axes.flat, samples, strict=False):  # more panels than samples
        if images is not None:
            ax.imshow(images[s["image"]], interpolation="nearest")
        else:
            ax.text(0.5, 0.5, f"image {s['image']}\n(no pixels stored)", ha="center", va="center", color="0.5")
        shown = [f"GT: {s['gt'][0]}"] + [f"{label}: {s[key]}" for key, label in lines if s.get(key) is not None]
        wrapped = "\n".join(textwrap.fill(line, 42) for line in shown)
        ax.set_title(wrapped, fontsize=8, loc="left")
        ax.axis("off")
    for ax in list(axes.flat)[len(samples) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=12)
    _save(fig, path)
