"""The collect step's Markdown: ``summary.md``, its tables, the comparisons and the headline."""

from __future__ import annotations

from functools import partial

import pandas as pd

from ..metrics import METRIC_NAMES
from ..uncertainty import MIN_SEEDS, POWER
from .records import DECODERS, RunRecord
from .selection import Selection
from .tables import COMPARED, HEADLINE_DECODER, WITH_INTERVALS

REWARD_FIRST = ("CIDEr-D", *(m for m in COMPARED if m != "CIDEr-D"))  # a self-critical comparison's order
HEADLINE_METRICS = ("BLEU-4", "CIDEr-D")  # the headline's differences, its verdict on the first


def md_table(head: list[str], rows) -> list[str]:
    """The lines of a Markdown table: its header, the rule under it, one line per row of cells."""
    return [_row(head), "|" + "---|" * len(head), *(_row(cells) for cells in rows)]


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def interval(row, key: str, signed: bool = False, negate: bool = False) -> str:
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


def _needed(n) -> str:
    """Seeds a side: '–' when seed noise is unmeasured, '∞' when the test images alone hide the difference."""
    if n is None or pd.isna(n):
        return "–"
    return "∞" if n == float("inf") else str(int(n))


def _value(value) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.3f}"


def power_cells(row, prefix: str, metrics, n_resamples: int) -> list[str]:
    """Per metric: the difference [95% CI], p, the minimum detectable effect and the seeds a side needed."""
    return [
        x
        for m in metrics
        for x in (
            interval(row, f"{prefix}{m}", True),
            _p(row[f"{prefix}{m}_p"], n_resamples),
            _value(row.get(f"{prefix}{m}_mde")),
            _needed(row.get(f"{prefix}{m}_seeds_needed")),
        )
    ]


def power_head(metrics, detect: dict) -> list[str]:
    """The header cells of :func:`power_cells` (``metrics`` in the order the cells come)."""
    return [
        x
        for m in metrics
        for x in (
            f"Δ {m} [95% CI]",
            "p",
            f"{m}: detectable Δ",
            f"{m}: seeds a side for Δ {detect[m]:g}" if m in detect else f"{m}: seeds a side for the Δ seen",
        )
    ]


def replaced_section(records: list[RunRecord]) -> str:
    """Which run replaced which, when an edit retrained runs of the sweep (empty when none did)."""
    replaced = sorted((r for r in records if r.replaces), key=lambda r: (r.experiment, r.seed))
    if not replaced:
        return ""
    rows = [[r.experiment, str(r.seed), f"`{r.run_id}`", ", ".join(f"`{old}`" for old in r.replaces)] for r in replaced]
    intro = (
        "## Replaced runs\n\nA retrained run's files replace those of the run before it. Each earlier MLflow run "
        "stays in the store, with its checkpoint and scores: deleted, tagged `captioning.superseded_by`, and "
        "restored with `mlflow runs restore --run-id <id>`.\n\n"
    )
    return intro + "\n".join(md_table(["experiment", "seed", "MLflow run", "replaces"], rows)) + "\n\n"


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


def markdown(table: pd.DataFrame, selection: Selection, human: dict, n_resamples: int, detect: dict) -> str:
    n_images = human["n_images"]
    select = table["select_metric"].iloc[0]
    rows = table.set_index("experiment")
    head = (
        ["group", "experiment", "cell", "features", "seeds", f"val {select} (selection)"]
        + [f"greedy {m}" for m in METRIC_NAMES[:3]]
        + [f"greedy {m} [95% CI]" for m in WITH_INTERVALS]
        + [f"beam {m} [95% CI]" for m in WITH_INTERVALS]
    )
    scores = []
    for exp, r in rows.iterrows():
        name = f"**{exp}** ★" if r["best_in_group"] and (table["group"] == r["group"]).sum() > 1 else exp
        cells = [r["group"], name, r["cell_type"], r["features"], _seeds(r["seeds"]), f"{r['val_select']:.3f}"]
        cells += [f"{r[f'greedy_{m}']:.3f}" for m in METRIC_NAMES[:3]]
        scores.append(cells + [interval(r, f"{d}_{m}") for d in DECODERS for m in WITH_INTERVALS])
    human_row = ["human agreement", "(leave-one-out)", "–", "–", "–", "–"]
    scores.append(human_row + [_value(human.get(m)) for m in (*METRIC_NAMES[:3], *WITH_INTERVALS * 2)])
    lines = md_table(head, scores)
    comp_head = ["experiment", "against", "seeds", *power_head(COMPARED, detect)]
    comparisons = []
    for exp, r in rows.iterrows():
        for name in ("best", "blind"):
            if isinstance(r.get(f"vs_{name}"), str):
                cells = [exp, r[f"vs_{name}"], f"{_seeds(r['seeds'])} vs {_seeds(r[f'vs_{name}_seeds'])}"]
                comparisons.append(cells + power_cells(r, f"vs_{name}_", COMPARED, n_resamples))
    comp = md_table(comp_head, comparisons)
    text = (
        f"# Results on the test split\n\n"
        f"{n_images} test images, never read by training or selection. Selection (early stopping, the best "
        f"epoch, the best point of each grid, marked ★) used val only, by {select}. Scores are the mean over "
        f"seeds; [95% CI] is a two-level percentile bootstrap over the seeds and the test images "
        f"({n_resamples} resamples). {FEW_SEEDS} {METEOR_NOTE}\n\n"
        + "\n".join(lines)
        + "\n\n"
        + noise_table(rows)
        + scst_table(rows, n_resamples, detect)
        + health_table(rows)
        + f"\n\n## Paired comparisons\n\n{HEADLINE_DECODER.capitalize()} captions; each side's seeds are "
        f"resampled on its own, the test images together; p is two-sided, for no difference. A comparison "
        f"with fewer than {MIN_SEEDS} seeds on a side leaves training noise out and supports no claim. {POWER_NOTE}\n\n"
        + "\n".join(comp)
        + "\n"
    )
    return text + "\n## Headline\n\n" + headline(rows, selection, human, n_resamples, detect) + "\n"


POWER_NOTE = (
    f"Detectable Δ: the smallest true difference these seeds and test images detect at the 5% level with "
    f"{POWER:.0%} power; seeds a side: how many would detect the Δ named at the top of the column (at least "
    f"{MIN_SEEDS}; ∞: the test images' noise alone hides it; –: one seed on a side, seed noise unmeasured)."
)
METEOR_NOTE = (
    "METEOR is Meteor 1.5 (pycocoevalcap's jar, English, normalised); it reads – where Java is missing "
    "(apt-get install default-jre-headless), and the human agreement has none."
)
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
    ]
    cells = []
    for exp, r in rows.iterrows():
        row = [exp, _seeds(r["seeds"])]
        for m in COMPARED:
            sd = r[f"{d}_{m}_std"]
            row += ["–" if pd.isna(sd) else f"{sd:.3f}", f"{r[f'{d}_{m}_image_width']:.3f}"]
        cells.append(row)
    return "\n".join(out + md_table(head, cells))


def scst_table(rows: pd.DataFrame, n_resamples: int, detect: dict) -> str:
    """Each self-critical experiment against the experiment it started from (empty when there is none)."""
    tuned = rows[rows["init_from"].astype(bool)]
    if tuned.empty:
        return ""
    d = HEADLINE_DECODER
    head = ["experiment", "started from", "seeds", *power_head(REWARD_FIRST, detect)]
    out = [
        "",
        "",
        "## Self-critical fine-tuning",
        "",
        f"{d.capitalize()} captions on test: each fine-tuned seed minus the seed it started from, seeds drawn "
        "together and the same test images for both; detectable Δ and seeds a side as under Paired comparisons.",
        "",
    ]
    cells = []
    for exp, r in tuned.iterrows():
        row = [exp, r["init_from"], _seeds(r["seeds"]), *power_cells(r, "vs_init_", REWARD_FIRST, n_resamples)]
        cells.append([*row, _verdict(r["vs_init_CIDEr-D_p"], (int(r["seeds"]), int(r["seeds"])))])
    return "\n".join(out + md_table([*head, "verdict"], cells))


def health_table(rows: pd.DataFrame) -> str:
    """What degenerate captioners do, per experiment (greedy captions on test, mean over seeds)."""
    head = ["experiment", "mean length (words)", "repeat a word back to back", "never end", "distinct words"]
    out = ["", "", "## Caption health", "", "Greedy captions on test, the mean over seeds.", ""]
    cells = [
        [exp, f"{r['health_mean_length']:.1f}", f"{r['health_repeats']:.1%}", f"{r['health_never_ends']:.1%}"]
        + [f"{r['health_vocabulary']:.0f}"]
        for exp, r in rows.iterrows()
    ]
    return "\n".join(out + md_table(head, cells))


def _verdict(p: float, seeds: tuple[int, int]) -> str:
    """What a comparison supports: a difference only when both sides have MIN_SEEDS seeds and p < 0.05."""
    if min(seeds) < MIN_SEEDS:
        return f"no claim: {min(seeds)} seed(s) on a side, training noise unmeasured"
    return "a difference at the 5% level" if p < 0.05 else "no significant difference"


def power_words(row, prefix: str, metrics, detect: dict, n_images: int) -> str:
    """'; these seeds detect |Δ BLEU-4| ≥ ... with 80% power; resolving ... would take about N seeds a side'
    for a comparison judged on ``metrics[0]`` (empty when seed noise is unmeasured)."""
    mde = {m: row.get(f"{prefix}{m}_mde") for m in metrics}
    if any(v is None or pd.isna(v) for v in mde.values()):
        return ""
    m = metrics[0]
    words = "; these seeds detect " + " and ".join(f"|Δ {k}| ≥ {v:.3f}" for k, v in mde.items())
    words += f" with {POWER:.0%} power"
    if m in detect:
        what = f"Δ {m} = {detect[m]:g} (evaluation.detect)"
    elif row[f"{prefix}{m}_p"] >= 0.05:
        what = f"the observed Δ {m} of {abs(row[f'{prefix}{m}']):.3f}"
    else:
        return words
    need = row[f"{prefix}{m}_seeds_needed"]
    if need == float("inf"):
        return words + f"; {what} is below what {n_images} test images resolve at any number of seeds"
    return words + f"; resolving {what} would take about {int(need)} seeds a side"


def headline(rows: pd.DataFrame, selection: Selection, human: dict, n_resamples: int, detect: dict) -> str:
    """The best experiment by val, on test, against the best of every other cell type and the blind baseline."""
    best, champion = rows.loc[selection.best], rows.loc[selection.champion]
    power = partial(power_words, detect=detect, n_images=human["n_images"])
    d = HEADLINE_DECODER
    out = [
        f"* Best by val: `{selection.champion}` ({champion['cell_type']}), test {d} BLEU-4 "
        f"{interval(champion, f'{d}_BLEU-4')}, CIDEr-D {interval(champion, f'{d}_CIDEr-D')}; human agreement BLEU-4 "
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
            f"{cell.upper()} by val), {seeds[0]} vs {seeds[1]} seeds: "
            f"Δ BLEU-4 {interval(r, 'vs_best_BLEU-4', True, True)} "
            f"(p {_p(r['vs_best_BLEU-4_p'], n_resamples)}), Δ CIDEr-D {interval(r, 'vs_best_CIDEr-D', True, True)} "
            f"(p {_p(r['vs_best_CIDEr-D_p'], n_resamples)}): {_verdict(r['vs_best_BLEU-4_p'], seeds)}"
            f"{power(r, 'vs_best_', HEADLINE_METRICS)}."
        )
    for exp, r in rows[rows["init_from"].astype(bool)].iterrows():
        seeds = (int(r["seeds"]), int(r["seeds"]))
        out.append(
            f"* Self-critical: `{exp}` minus `{r['init_from']}`, seed for seed ({seeds[0]}): Δ CIDEr-D "
            f"{interval(r, 'vs_init_CIDEr-D', True)} (p {_p(r['vs_init_CIDEr-D_p'], n_resamples)}), Δ BLEU-4 "
            f"{interval(r, 'vs_init_BLEU-4', True)} (p {_p(r['vs_init_BLEU-4_p'], n_resamples)}): "
            f"{_verdict(r['vs_init_CIDEr-D_p'], seeds)}{power(r, 'vs_init_', HEADLINE_METRICS[::-1])}."
        )
    if selection.blind is not None:
        seeds = (int(best["seeds"]), int(best["vs_blind_seeds"]))
        out.append(
            f"* Images: `{selection.best}` minus the image-blind `{selection.blind}`, {seeds[0]} vs {seeds[1]} seeds: "
            f"Δ BLEU-4 {interval(best, 'vs_blind_BLEU-4', True)} (p {_p(best['vs_blind_BLEU-4_p'], n_resamples)}), "
            f"Δ CIDEr-D {interval(best, 'vs_blind_CIDEr-D', True)} (p {_p(best['vs_blind_CIDEr-D_p'], n_resamples)}): "
            f"{_verdict(best['vs_blind_BLEU-4_p'], seeds)}{power(best, 'vs_blind_', HEADLINE_METRICS)}."
        )
    return "\n".join(out)
