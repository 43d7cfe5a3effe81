"""The collect step: test-split tables with 95% intervals and paired comparisons, plots and grids in ``results/``.

Selection uses val only: each grid's best point, the best experiment and the
baseline compared against are chosen by the runs' best val score (the solver's
selection metric, averaged over seeds).  Every reported number is on test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path, write_text
from ..errors import CaptioningError
from ..evaluation import RANDOM_CAPTION_BLEU
from ..metrics import METRIC_NAMES
from ..provenance import describe
from ..uncertainty import CONFIDENCE, MIN_SEEDS, N_RESAMPLES, paired_difference, score_interval
from .plots import caption_grid, loss_comparison, metric_bars, seed_scores
from .records import DECODERS, History, HumanAgreement, ImageScores, Samples, Scores
from .score import SPLIT, load_images
from .selection import SELECT_METRIC, Selection

COMPARED = ("BLEU-4", "CIDEr-D")  # the metrics of the paired comparisons, on greedy captions
HEADLINE_DECODER = "greedy"  # every experiment has it, whatever its beam width


class CollectError(CaptioningError, ValueError):
    """The runs to collect do not fit together."""


def run_table(scores: list[Scores], histories: list[History]) -> pd.DataFrame:
    """One row per run: val selection score, test metrics of each decoder, the random-caption BLEU-1, epochs, time."""
    by_run = {(h.experiment, h.seed): h for h in histories}
    rows = []
    for s in scores:
        h = by_run.get((s.experiment, s.seed))
        if h is None:
            raise CollectError(f"collect: no training history for {s.experiment} seed {s.seed}")
        row = {
            "experiment": s.experiment,
            "group": s.group,
            "seed": s.seed,
            "confirm": s.confirm,
            "init_from": s.init_from or "",
            "cell_type": s.cell_type,
            "features": s.features,
            "select_metric": SELECT_METRIC,
            "val_select": h.val_at_best(SELECT_METRIC),  # one metric for every run, whatever chose its epoch
            **{f"health_{k}": v for k, v in s.health.items()},
        }
        for decoder in DECODERS:
            for m in METRIC_NAMES:
                row[f"{decoder}_{m}"] = s.decoders.get(decoder, {}).get(m, float("nan"))
        row[RANDOM_CAPTION_BLEU] = s.random_caption_bleu
        row["best_epoch"] = h.best_epoch
        row["train_seconds"] = h.seconds
        row["numerics"] = describe(h.numerics)
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["group", "experiment", "seed"]).reset_index(drop=True)


def image_statistics(runs: pd.DataFrame, image_score_files) -> dict[str, dict[str, np.ndarray]]:
    """{experiment: {decoder: (S, M, N_STATS)}}, seeds in run-table order; every run must score the same images."""
    by_run, images = {}, None
    for path in image_score_files:
        record = ImageScores.read(path)
        if images is None:
            images = record.images
        elif not np.array_equal(record.images, images):
            raise CollectError(f"collect: {path} scores other test images than {image_score_files[0]}")
        by_run[(record.experiment, record.seed)] = record.stats
    out = {}
    for exp, rows in runs.groupby("experiment", sort=False):
        per_seed = [by_run[(exp, int(seed))] for seed in rows["seed"]]
        out[exp] = {d: np.stack([s[d] for s in per_seed]) for d in DECODERS if d in per_seed[0]}
    return out


def experiment_table(runs: pd.DataFrame, stats: dict, selection: Selection, n_resamples: int, seed: int):
    """One row per experiment: test scores (mean over seeds, std over seeds, 95% interval over seeds and test
    images, and the width of the interval over test images alone), and the paired differences to the best
    experiment and to the image-blind baseline (greedy captions)."""
    rows = []
    for exp, g in runs.groupby("experiment", sort=False):
        first = g.iloc[0]
        row = {
            "group": first["group"],
            "experiment": exp,
            "best_in_group": selection.best_in_group[first["group"]] == exp,
            "cell_type": first["cell_type"],
            "features": first["features"],
            "seeds": len(g),
            "init_from": first["init_from"],
            "select_metric": first["select_metric"],
            "val_select": g["val_select"].mean(),
            **{k: g[k].mean() for k in g.columns if k.startswith("health_")},
        }
        for decoder in DECODERS:
            if decoder in stats[exp]:
                row.update(score_interval(stats[exp][decoder], seed, n_resamples).as_dict(f"{decoder}_"))
                for m in METRIC_NAMES:
                    row[f"{decoder}_{m}_std"] = g[f"{decoder}_{m}"].std()
        images_only = score_interval(stats[exp][HEADLINE_DECODER], seed, n_resamples, resample_seeds=False)
        for k, m in enumerate(METRIC_NAMES):
            row[f"{HEADLINE_DECODER}_{m}_image_width"] = float(images_only.high[k] - images_only.low[k])
        for name, other in (("best", selection.best), ("blind", selection.blind)):
            if other is not None and other != exp:
                d = paired_difference(
                    stats[exp][HEADLINE_DECODER], stats[other][HEADLINE_DECODER], seed, n_resamples
                ).as_dict(f"vs_{name}_")
                row[f"vs_{name}"] = other
                row[f"vs_{name}_seeds"] = len(stats[other][HEADLINE_DECODER])
                row.update({k: v for k, v in d.items() if k.removeprefix(f"vs_{name}_").split("_")[0] in COMPARED})
        if first["init_from"]:  # a fine-tuning against its start, seed s against seed s, on the same images
            start = runs[runs["experiment"] == first["init_from"]]
            at = [int(np.flatnonzero(start["seed"].to_numpy() == s)[0]) for s in g["seed"]]
            b = stats[first["init_from"]][HEADLINE_DECODER][at]
            d = paired_difference(stats[exp][HEADLINE_DECODER], b, seed, n_resamples, paired_seeds=True)
            row.update({k: v for k, v in d.as_dict("vs_init_").items() if k.split("_")[2] in COMPARED})
        row[RANDOM_CAPTION_BLEU] = g[RANDOM_CAPTION_BLEU].mean()
        row["train_seconds"] = g["train_seconds"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def _ci(row, key: str, signed: bool = False, negate: bool = False) -> str:
    """'value [lo, hi]' of ``key``; ``negate`` gives the difference the other way round."""
    value = row.get(key)
    if value is None or pd.isna(value):
        return "–"
    f = "+.3f" if signed else ".3f"
    value, lo, hi = row[key], row[key + "_lo"], row[key + "_hi"]
    if negate:
        value, lo, hi = -value, -hi, -lo
    return f"{value:{f}} [{lo:{f}}, {hi:{f}}]"


def _p(p, n_resamples: int) -> str:
    """The p-value; at the resolution limit of the resamples (no resample on the other side of 0) as '≤ limit'."""
    if p is None or pd.isna(p):
        return "–"
    limit = 2 / (n_resamples + 1)
    return f"≤ {limit:.3f}" if p <= limit * (1 + 1e-9) else f"{p:.3f}"


def numerics_section(runs: pd.DataFrame) -> str:
    """Where the runs were trained: CPU, BLAS and its kernel, versions (what bitwise reproduction needs)."""
    lines = [
        "## Numerics",
        "",
        "A seed reproduces a run bitwise on the same CPU and library stack; elsewhere rounding differs and the "
        "runs agree within the intervals above. These runs were trained on:",
        "",
    ]
    for machine, g in runs.groupby("numerics", sort=True):
        lines.append(f"* {machine}: {len(g)} of {len(runs)} runs")
    return "\n".join(lines)


def markdown(table: pd.DataFrame, selection: Selection, human: dict, n_resamples: int) -> str:
    n_images = human["n_images"]
    select = table["select_metric"].iloc[0]
    rows = table.set_index("experiment")
    head = (
        ["group", "experiment", "cell", "features", "seeds", f"val {select} (selection)"]
        + [f"greedy {m}" for m in METRIC_NAMES[:3]]
        + [f"greedy {m} [95% CI]" for m in COMPARED]
        + [f"beam {m} [95% CI]" for m in COMPARED]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for exp, r in rows.iterrows():
        name = f"**{exp}** ★" if r["best_in_group"] and (table["group"] == r["group"]).sum() > 1 else exp
        cells = [r["group"], name, r["cell_type"], r["features"], _seeds(r["seeds"]), f"{r['val_select']:.3f}"]
        cells += [f"{r[f'greedy_{m}']:.3f}" for m in METRIC_NAMES[:3]]
        cells += [_ci(r, f"{d}_{m}") for d in DECODERS for m in COMPARED]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        "| human agreement | (leave-one-out) | – | – | – | – | "
        + " | ".join(f"{human[m]:.3f}" for m in METRIC_NAMES[:3])
        + " | "
        + " | ".join(f"{human[m]:.3f}" for m in COMPARED * 2)
        + " |"
    )
    comp_head = ["experiment", "against", "seeds"] + [x for m in COMPARED for x in (f"Δ {m} [95% CI]", "p")]
    comp = ["| " + " | ".join(comp_head) + " |", "|" + "---|" * len(comp_head)]
    for exp, r in rows.iterrows():
        for name in ("best", "blind"):
            if isinstance(r.get(f"vs_{name}"), str):
                cells = [exp, r[f"vs_{name}"], f"{_seeds(r['seeds'])} vs {_seeds(r[f'vs_{name}_seeds'])}"]
                cells += [
                    x
                    for m in COMPARED
                    for x in (_ci(r, f"vs_{name}_{m}", True), _p(r[f"vs_{name}_{m}_p"], n_resamples))
                ]
                comp.append("| " + " | ".join(cells) + " |")
    text = (
        f"# Results on the test split\n\n"
        f"{n_images} test images, never read by training or selection. Selection (early stopping, the best "
        f"epoch, the best point of each grid, marked ★) used val only, by {select}. Scores are the mean over "
        f"seeds; [95% CI] is a two-level percentile bootstrap over the seeds and the test images "
        f"({n_resamples} resamples). {FEW_SEEDS}\n\n"
        + "\n".join(lines)
        + "\n\n"
        + noise_table(rows)
        + scst_table(rows, n_resamples)
        + health_table(rows)
        + f"\n\n## Paired comparisons\n\n{HEADLINE_DECODER.capitalize()} captions; each side's seeds are "
        f"resampled on its own, the test images together; p is two-sided, for no difference. A comparison "
        f"with fewer than {MIN_SEEDS} seeds on a side leaves training noise out and supports no claim.\n\n"
        + "\n".join(comp)
        + "\n"
    )
    return text + "\n## Headline\n\n" + headline(rows, selection, human, n_resamples) + "\n"


FEW_SEEDS = f"† fewer than {MIN_SEEDS} seeds: with 1 seed the interval holds test-image noise only."


def _seeds(n: int) -> str:
    """A seed count, marked † when it is too few to measure training noise."""
    return f"{int(n)} †" if n < MIN_SEEDS else str(int(n))


def noise_table(rows: pd.DataFrame) -> str:
    """Which noise dominates: the spread of the seeds' scores next to the width of the test-image interval."""
    d = HEADLINE_DECODER
    head = ["experiment", "seeds"] + [
        x for m in COMPARED for x in (f"{m}: sd over seeds", f"{m}: image-only 95% width")
    ]
    out = [
        "## Training noise and test-image noise",
        "",
        f"{d.capitalize()} captions. The standard deviation of the seeds' scores (training noise: the seed and "
        "the machine's rounding) next to the width of the interval over test images alone, seeds fixed.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for exp, r in rows.iterrows():
        cells = [exp, _seeds(r["seeds"])]
        for m in COMPARED:
            sd = r[f"{d}_{m}_std"]
            cells += ["–" if pd.isna(sd) else f"{sd:.3f}", f"{r[f'{d}_{m}_image_width']:.3f}"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def scst_table(rows: pd.DataFrame, n_resamples: int) -> str:
    """Each self-critical experiment against the experiment it started from (empty when there is none)."""
    tuned = rows[rows["init_from"].astype(bool)]
    if tuned.empty:
        return ""
    d = HEADLINE_DECODER
    head = ["experiment", "started from", "seeds"] + [x for m in COMPARED[::-1] for x in (f"Δ {m} [95% CI]", "p")]
    out = [
        "",
        "",
        "## Self-critical fine-tuning",
        "",
        f"{d.capitalize()} captions on test: each fine-tuned seed minus the seed it started from, seeds drawn "
        "together and the same test images for both.",
        "",
        "| " + " | ".join(head + ["verdict"]) + " |",
        "|" + "---|" * (len(head) + 1),
    ]
    for exp, r in tuned.iterrows():
        cells = [exp, r["init_from"], _seeds(r["seeds"])]
        cells += [
            x for m in COMPARED[::-1] for x in (_ci(r, f"vs_init_{m}", True), _p(r[f"vs_init_{m}_p"], n_resamples))
        ]
        cells.append(_verdict(r["vs_init_CIDEr-D_p"], (int(r["seeds"]), int(r["seeds"]))))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def health_table(rows: pd.DataFrame) -> str:
    """What degenerate captioners do, per experiment (greedy captions on test, mean over seeds)."""
    head = ["experiment", "mean length (words)", "repeat a word back to back", "never end", "distinct words"]
    out = ["", "", "## Caption health", "", "Greedy captions on test, the mean over seeds.", ""]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for exp, r in rows.iterrows():
        cells = [exp, f"{r['health_mean_length']:.1f}", f"{r['health_repeats']:.1%}", f"{r['health_never_ends']:.1%}"]
        out.append("| " + " | ".join([*cells, f"{r['health_vocabulary']:.0f}"]) + " |")
    return "\n".join(out)


def _verdict(p: float, seeds: tuple[int, int]) -> str:
    """What a comparison supports: a difference only when both sides have MIN_SEEDS seeds and p < 0.05."""
    if min(seeds) < MIN_SEEDS:
        return f"no claim: {min(seeds)} seed(s) on a side, training noise unmeasured"
    return "a difference at the 5% level" if p < 0.05 else "no significant difference"


def headline(rows: pd.DataFrame, selection: Selection, human: dict, n_resamples: int) -> str:
    """The best experiment by val, on test, against the best of every other cell type and the blind baseline."""
    best, champion = rows.loc[selection.best], rows.loc[selection.champion]
    d = HEADLINE_DECODER
    out = [
        f"* Best by val: `{selection.champion}` ({champion['cell_type']}), test {d} BLEU-4 "
        f"{_ci(champion, f'{d}_BLEU-4')}, CIDEr-D {_ci(champion, f'{d}_CIDEr-D')}; human agreement BLEU-4 "
        f"{human['BLEU-4']:.3f}, CIDEr-D {human['CIDEr-D']:.3f}."
    ]
    if selection.champion != selection.best:
        out.append(
            f"* The best cross-entropy experiment by val, which the comparisons below start from: `{selection.best}`."
        )
    seeing = rows[
        (rows["features"] == "image")
        & (rows["cell_type"] != best["cell_type"])
        & rows["best_in_group"]
        & ~rows["init_from"].astype(bool)  # like with like: cross-entropy against cross-entropy
    ]
    for cell, g in seeing.groupby("cell_type"):
        other = g["val_select"].idxmax()
        r = rows.loc[other]
        seeds = (int(best["seeds"]), int(r["seeds"]))
        out.append(
            f"* {best['cell_type'].upper()} vs {cell.upper()}: `{selection.best}` minus `{other}` (the best "
            f"{cell.upper()} by val), {seeds[0]} vs {seeds[1]} seeds: Δ BLEU-4 {_ci(r, 'vs_best_BLEU-4', True, True)} "
            f"(p {_p(r['vs_best_BLEU-4_p'], n_resamples)}), Δ CIDEr-D {_ci(r, 'vs_best_CIDEr-D', True, True)} "
            f"(p {_p(r['vs_best_CIDEr-D_p'], n_resamples)}): {_verdict(r['vs_best_BLEU-4_p'], seeds)}."
        )
    for exp, r in rows[rows["init_from"].astype(bool)].iterrows():
        seeds = (int(r["seeds"]), int(r["seeds"]))
        out.append(
            f"* Self-critical: `{exp}` minus `{r['init_from']}`, seed for seed ({seeds[0]}): Δ CIDEr-D "
            f"{_ci(r, 'vs_init_CIDEr-D', True)} (p {_p(r['vs_init_CIDEr-D_p'], n_resamples)}), Δ BLEU-4 "
            f"{_ci(r, 'vs_init_BLEU-4', True)} (p {_p(r['vs_init_BLEU-4_p'], n_resamples)}): "
            f"{_verdict(r['vs_init_CIDEr-D_p'], seeds)}."
        )
    if selection.blind is not None:
        seeds = (int(best["seeds"]), int(best["vs_blind_seeds"]))
        out.append(
            f"* Images: `{selection.best}` minus the image-blind `{selection.blind}`, {seeds[0]} vs {seeds[1]} seeds: "
            f"Δ BLEU-4 {_ci(best, 'vs_blind_BLEU-4', True)} (p {_p(best['vs_blind_BLEU-4_p'], n_resamples)}), "
            f"Δ CIDEr-D {_ci(best, 'vs_blind_CIDEr-D', True)} (p {_p(best['vs_blind_CIDEr-D_p'], n_resamples)}): "
            f"{_verdict(best['vs_blind_BLEU-4_p'], seeds)}."
        )
    return "\n".join(out)


def _copy(src, dest) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def before_after(out_dir: Path, table: pd.DataFrame, runs: pd.DataFrame, samples: list, data_dir) -> None:
    """Per self-critical experiment: its first seed's test images, captioned by its start and by itself."""
    by_run = {(s.experiment, s.seed): s.samples for s in samples}
    images = load_images(data_dir, SPLIT) if data_dir is not None else None
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
    history_files,
    human_file,
    first_seed_histories,
    loss_plot_files,
    grid_files,
    out_dir,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    sample_files=(),
    data_dir=None,
) -> str:
    """Tables and plots over all runs; per experiment, its first seed's loss curve and caption grid.

    ``score_files``, ``image_score_files`` and ``history_files`` are per run, in the
    same order; ``first_seed_histories``, ``loss_plot_files`` and ``grid_files``
    come from each experiment's first-seed run, in the same order; the PNGs are
    copied rather than drawn again.  ``sample_files`` (every run's ``samples.json``)
    and ``data_dir`` (the test images' pixels, where stored) give each self-critical
    experiment's grid of the same test images before and after fine-tuning.
    """
    out = Path(out_dir)
    runs = run_table([Scores.read(p) for p in score_files], [History.read(p) for p in history_files])
    agreement = HumanAgreement.read(human_file)
    human = {"n_images": agreement.n_images, **agreement.scores}
    selection = Selection.by_val(runs)
    table = experiment_table(runs, image_statistics(runs, image_score_files), selection, n_resamples, seed)
    with atomic_path(out / "runs.csv") as tmp:
        runs.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out / "summary.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    write_text(
        out / "summary.md", markdown(table, selection, human, n_resamples) + "\n" + numerics_section(runs) + "\n"
    )

    firsts = [History.read(p) for p in first_seed_histories]
    curves = {h.experiment: (h.loss_history, h.epoch_history, h.iterations_per_epoch) for h in firsts}
    loss_comparison(out / "loss_comparison.png", curves)
    for h, loss_plot, grid in zip(firsts, loss_plot_files, grid_files, strict=True):
        _copy(loss_plot, out / "loss_curves" / f"{h.experiment}.png")
        _copy(grid, out / "grids" / f"{h.experiment}.png")

    before_after(out / "scst", table, runs, [Samples.read(p) for p in sample_files], data_dir)

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
        f"test {HEADLINE_DECODER} BLEU-4 {_ci(best, f'{HEADLINE_DECODER}_BLEU-4')}"
    )
