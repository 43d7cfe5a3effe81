"""The collect step: test-split tables with 95% intervals and paired comparisons, plots and grids in ``results/``.

It reads the runs' records, computes the statistics (:mod:`.tables`), renders ``summary.md``
(:mod:`.report`) and draws the figures over all runs (:mod:`.plots`); each run's own figures
come from the figures step and are copied for each experiment's first seed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path, write_text
from ..data import layout
from ..data.dataset import load_images
from ..metrics import METRIC_NAMES
from ..uncertainty import CONFIDENCE, N_RESAMPLES
from .plots import caption_grid, loss_comparison, metric_bars, seed_scores
from .records import DECODERS, History, HumanAgreement, MeteorScores, RunRecord, Samples, Scores
from .report import interval, markdown, numerics_section, replaced_section
from .selection import Selection
from .tables import COMPARED, HEADLINE_DECODER, experiment_table, image_statistics, run_table

SPLIT = layout.TEST_SPLIT


def _copy(src, dest) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def before_after(out_dir: Path, table: pd.DataFrame, runs: pd.DataFrame, samples: list, images) -> None:
    """Per self-critical experiment: its first seed's test images, captioned by its start and by itself."""
    by_run = {(s.experiment, s.seed): s.samples for s in samples}
    for _, r in table[table["init_from"].astype(bool)].iterrows():
        exp, start = r["experiment"], r["init_from"]
        seed = int(runs.loc[runs["experiment"] == exp, "seed"].min())
        pairs = zip(by_run[(exp, seed)], by_run[(start, seed)], strict=True)
        merged = [{"image": a["image"], "gt": a["gt"], "before": b["greedy"], "after": a["greedy"]} for a, b in pairs]
        title = f"{start} (cross-entropy) and {exp} (self-critical), seed {seed}, on {SPLIT}"
        caption_grid(out_dir / f"{exp}.png", title, merged, images, lines=(("before", start), ("after", exp)))


def collect(
    score_files,
    image_score_files,
    meteor_file,
    history_files,
    run_files,
    sample_files,
    loss_plot_files,
    grid_files,
    human_file,
    out_dir,
    select_metric: str,
    images_file=None,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    detect: dict | None = None,
) -> str:
    """Tables and plots over all runs; per experiment, its first seed's loss curve and caption grid.

    ``score_files``, ``image_score_files``, ``history_files``, ``run_files``, ``sample_files``,
    ``loss_plot_files`` and ``grid_files`` are per run, in the same order (``meteor_file``: all runs'
    METEOR statistics, from the meteor step); the first
    seed's PNGs are copied rather than drawn again. Runs are compared by their val
    ``select_metric`` (:func:`~captioning.pipeline.selection.val_score`). ``images_file``
    (the test split's stored pixels; None for COCO) shows each self-critical
    experiment's test images before and after fine-tuning. ``detect`` ({metric: difference}) sets
    the difference whose seeds needed each comparison reports, by default the one it observed.
    """
    out = Path(out_dir)
    histories = [History.read(p) for p in history_files]
    meteor = MeteorScores.read(meteor_file)
    runs = run_table([Scores.read(p) for p in score_files], histories, select_metric, meteor)
    agreement = HumanAgreement.read(human_file)
    human = {"n_images": agreement.n_images, **agreement.scores}
    selection = Selection.by_val(runs)
    stats = image_statistics(runs, image_score_files, meteor)
    table = experiment_table(runs, stats, selection, n_resamples, seed, detect)
    with atomic_path(out / "runs.csv") as tmp:
        runs.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out / "summary.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    replaced = replaced_section([RunRecord.read(p) for p in run_files])
    report = markdown(table, selection, human, n_resamples, detect or {})
    summary = report + "\n" + replaced + numerics_section(runs) + "\n"
    write_text(out / "summary.md", summary)

    first_seed = runs.groupby("experiment")["seed"].min().to_dict()
    firsts = [
        (h, loss_plot, grid)
        for h, loss_plot, grid in zip(histories, loss_plot_files, grid_files, strict=True)
        if first_seed[h.experiment] == h.seed
    ]
    curves = {h.experiment: (h.loss_history, h.epoch_history, h.iterations_per_epoch) for h, _, _ in firsts}
    loss_comparison(out / "loss_comparison.png", curves)
    for h, loss_plot, grid in firsts:
        _copy(loss_plot, out / "loss_curves" / f"{h.experiment}.png")
        _copy(grid, out / "grids" / f"{h.experiment}.png")

    images = load_images(images_file) if images_file is not None else None
    before_after(out / "scst", table, runs, [Samples.read(p) for p in sample_files], images)

    keys = [k for m in METRIC_NAMES for k in (m, f"{m}_lo", f"{m}_hi")]
    bars = [
        {
            "label": f"{r['experiment']} {d}",
            "experiment": r["experiment"],
            "decoder": d,
            **{k: r[f"{d}_{k}"] for k in keys},
        }
        for _, r in table.iterrows()
        for d in DECODERS
        if not pd.isna(r.get(f"{d}_BLEU-4"))
    ]
    metric_bars(out / "test_metrics.png", bars, reference=human, confidence=CONFIDENCE)
    d = HEADLINE_DECODER
    spread = [
        {
            "label": exp,
            "seeds": [{m: run[f"{d}_{m}"] for m in COMPARED} for _, run in runs[runs["experiment"] == exp].iterrows()],
            **{k: r[f"{d}_{k}"] for m in COMPARED for k in (m, f"{m}_lo", f"{m}_hi")},
        }
        for exp, r in table.set_index("experiment").iterrows()
        if r["features"] == "image"  # the image-blind baselines would flatten the scale
    ]
    seed_scores(out / "seed_scores.png", spread, COMPARED, CONFIDENCE)
    best = table.set_index("experiment").loc[selection.champion]
    return (
        f"collected {len(runs)} runs of {len(table)} experiments into {out}: best by val {selection.champion}, "
        f"test {HEADLINE_DECODER} BLEU-4 {interval(best, f'{HEADLINE_DECODER}_BLEU-4')}"
    )
