"""The collect step: summary tables, loss and metric plots, and captioned grids in ``results/``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path, write_text
from ..evaluation import RANDOM_CAPTION_BLEU
from ..metrics import METRIC_NAMES
from .plots import loss_comparison, metric_bars

DECODERS = ("greedy", "beam")  # the decoders the score step reports


def _json(path):
    return json.loads(Path(path).read_text())


def run_table(scores: list[dict], histories: list[dict]) -> pd.DataFrame:
    """One row per run: greedy and beam metrics, the random-caption sentence BLEU-1, best epoch and time."""
    rows = []
    for s, h in zip(scores, histories, strict=True):
        row = {"experiment": s["experiment"], "seed": s["seed"], "cell_type": s["cell_type"], "features": s["features"]}
        for decoder in DECODERS:
            for m in METRIC_NAMES:
                row[f"{decoder}_{m}"] = s.get(decoder, {}).get(m, float("nan"))
        row[RANDOM_CAPTION_BLEU] = s[RANDOM_CAPTION_BLEU]
        row["best_epoch"] = h["summary"]["best_epoch"]
        row["train_seconds"] = h["summary"]["seconds"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["experiment", "seed"]).reset_index(drop=True)


def with_means(runs: pd.DataFrame) -> pd.DataFrame:
    """The run rows, then per experiment a 'mean' and a 'std' row over its seeds."""
    numeric = [c for c in runs.columns if c not in ("experiment", "seed", "cell_type", "features")]
    out = [runs.assign(seed=runs["seed"].astype(str))]
    for stat in ("mean", "std"):
        agg = runs.groupby(["experiment", "cell_type", "features"], as_index=False)[numeric].agg(stat)
        out.append(agg.assign(seed=stat))
    return pd.concat(out, ignore_index=True)[runs.columns]


def _fmt(mean, std) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.3f}" if pd.isna(std) or std == 0 else f"{mean:.3f} ± {std:.3f}"


def markdown(runs: pd.DataFrame, human: dict) -> str:
    g = runs.groupby("experiment")
    mean, std, n = g.mean(numeric_only=True), g.std(numeric_only=True), g.size()
    cols = [("greedy", m) for m in METRIC_NAMES] + [("beam", "BLEU-4"), ("beam", "CIDEr-D")]
    head = ["experiment", "cell", "features", "seeds"] + [f"{d} {m}" for d, m in cols] + [RANDOM_CAPTION_BLEU]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for exp in mean.index:
        first = runs[runs["experiment"] == exp].iloc[0]
        cells = [exp, first["cell_type"], first["features"], str(n[exp])]
        cells += [_fmt(mean.loc[exp, f"{d}_{m}"], std.loc[exp, f"{d}_{m}"]) for d, m in cols]
        cells.append(_fmt(mean.loc[exp, RANDOM_CAPTION_BLEU], std.loc[exp, RANDOM_CAPTION_BLEU]))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        "| human agreement (leave-one-out) | – | – | – | "
        + " | ".join(f"{human[m]:.3f}" for m in METRIC_NAMES)
        + f" | {human['BLEU-4']:.3f} | {human['CIDEr-D']:.3f} | – |"
    )
    text = (
        "# Validation results\n\nMean ± std over seeds; `beam` uses each experiment's beam width.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    blind = runs[runs["features"] != "image"]
    seeing = runs[runs["features"] == "image"]
    if len(blind) and len(seeing):
        best = (
            seeing.groupby("experiment")["beam_BLEU-4"]
            .mean()
            .fillna(seeing.groupby("experiment")["greedy_BLEU-4"].mean())
        )
        top = best.idxmax()
        b4 = blind["beam_BLEU-4"].fillna(blind["greedy_BLEU-4"]).mean()
        text += (
            f"\nBest image-conditioned experiment `{top}` reaches BLEU-4 {best[top]:.3f} against "
            f"{b4:.3f} for the image-blind baseline (+{best[top] - b4:.3f}) and {human['BLEU-4']:.3f} for "
            f"human agreement.\n"
        )
    return text


def _copy(src, dest) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _experiment(run_file) -> str:
    """The experiment of a run's file, runs/<dataset>/<experiment>/seed<s>/<file>."""
    return Path(run_file).parent.parent.name


def collect(score_files, history_files, human_file, first_seed_histories, loss_plot_files, grid_files, out_dir) -> str:
    """Tables and plots over all runs; per experiment, its first seed's loss curve and caption grid.

    The ``first_seed_*`` files, ``loss_plot_files`` and ``grid_files`` come from each
    experiment's first-seed run (runs/<dataset>/<exp>/seed<s>/); the PNGs are copied
    rather than drawn again.
    """
    out = Path(out_dir)
    scores, histories = [_json(p) for p in score_files], [_json(p) for p in history_files]
    human = _json(human_file)
    runs = run_table(scores, histories)
    with atomic_path(out / "summary.csv") as tmp:
        with_means(runs).to_csv(tmp, index=False, float_format="%.6g")
    write_text(out / "summary.md", markdown(runs, human))

    curves = {}
    for path in first_seed_histories:
        h = _json(path)
        curves[_experiment(path)] = (h["loss_history"], h["epoch_history"], h["iterations_per_epoch"])
    loss_comparison(out / "loss_comparison.png", curves)
    for kind, files in (("loss_curves", loss_plot_files), ("grids", grid_files)):
        for path in files:
            _copy(path, out / kind / f"{_experiment(path)}.png")

    g = runs.groupby("experiment")
    mean, std = g.mean(numeric_only=True), g.std(numeric_only=True).fillna(0.0)
    bars = []
    for exp in mean.index:
        for decoder in DECODERS:
            if not pd.isna(mean.loc[exp, f"{decoder}_BLEU-4"]):
                row = {"label": f"{exp} {decoder}"}
                for m in METRIC_NAMES:
                    row[m], row[f"{m}_std"] = mean.loc[exp, f"{decoder}_{m}"], std.loc[exp, f"{decoder}_{m}"]
                bars.append(row)
    metric_bars(out / "val_metrics.png", bars, reference=human)
    return f"collected {len(runs)} runs of {runs['experiment'].nunique()} experiments into {out}"
