"""The default run's results as the docs quote them: sections of its summary.md files, verbatim.

    python bench/results_tables.py [--headline] [RESULTS_DIR ...]

For each results directory (by default the default run's two: the sweep on the
synthetic data and the memory benchmark), prints the machine the runs were
trained on and this checkout's commit, then the summary's test-score table,
self-critical table and paired comparisons (or, with ``--headline``, its
headline), copied line for line from ``summary.md`` of a finished run (`make
reproduce` writes the default ones). `bench/publish.py results results-memory
results-headline` puts them into docs/results.md and README.md, so the pages
quote what a run wrote, never a hand copy.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = (ROOT / "results/synthetic/synthetic-shapes", ROOT / "results/memory/lstm-vs-rnn")  # the Makefile's
TABLES = ("## Self-critical fine-tuning", "## Paired comparisons")  # beside the score table, in this order


def sections(summary: str) -> dict[str, str]:
    """{heading: its text} of summary.md; the text before the first heading is under ''."""
    out, heading = {}, ""
    for line in summary.splitlines():
        if line.startswith("## "):
            heading = line
            out[heading] = ""
            continue
        out[heading] = out.get(heading, "") + line + "\n"
    return out


def table(text: str) -> str:
    """The Markdown table lines of ``text``."""
    return "\n".join(line for line in text.splitlines() if line.startswith("|"))


def quote(summary: str, headline: bool = False) -> str:
    """What the pages quote of ``summary`` (summary.md's text): its lines, verbatim."""
    parts = sections(summary)
    if headline:
        return parts["## Headline"].strip()
    out = ["Test scores (greedy and beam-search captions; ★ the grid's pick by val; † fewer than 3 seeds):", ""]
    out.append(table(parts[""]))
    for heading in TABLES:
        if heading in parts:
            out += ["", f"{heading.removeprefix('## ')}:", "", table(parts[heading])]
    return "\n".join(out)


def trained_on(summary: str) -> str:
    """The machine line of summary.md's Numerics section (the runs' CPU, BLAS kernel and versions)."""
    bullets = [line for line in sections(summary).get("## Numerics", "").splitlines() if line.startswith("* ")]
    return "; ".join(b.removeprefix("* ") for b in bullets)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="*", type=Path, help="finished runs' results directories")
    ap.add_argument("--headline", action="store_true", help="the headline only")
    args = ap.parse_args(argv)
    paths = [d / "summary.md" for d in args.results or DEFAULTS]
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"results_tables: no {path}; run the default workflow first (`make reproduce`)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    for i, path in enumerate(paths):
        summary = path.read_text()
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{'' if i == 0 else chr(10)}machine: {trained_on(summary)}")
        print(f"commit: {commit.stdout.strip() or 'unknown'}; from {where}\n")
        print(quote(summary, args.headline))


if __name__ == "__main__":
    sys.exit(main())
