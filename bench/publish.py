"""Regenerate the measured figures in the docs: every figure that changes with the code lives in a block

    <!-- figures: NAME -->
    ...
    <!-- /figures: NAME -->

of README.md or a docs/ page, and is exactly what the command FIGURES[NAME] printed
when it last ran. This script runs the commands and rewrites their blocks:

    python bench/publish.py                      # every block but the slow ones (see SLOW)
    python bench/publish.py results results-memory results-headline   # after `make reproduce`: summary.md, quoted
    python bench/publish.py bench_scst tests-all # these blocks only
    python bench/publish.py --list               # the names, their commands and where they go

Each command runs in its own process with this interpreter; its stderr (progress)
goes to the terminal, its stdout becomes the block, headed by the command and the
date. A command that fails leaves its block and the file untouched, and the script
stops with one line naming it. A file is rewritten atomically, one block at a time,
so the blocks published before a failure stay.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/*.md")  # where blocks may live, relative to the project root

FIGURES = {  # NAME -> the command (after `python`) whose stdout is the block
    "bench_train_step": ["bench/bench_train_step.py"],
    "bench_recurrent_product": ["bench/bench_recurrent_product.py"],
    "bench_kernels": ["bench/bench_kernels.py"],
    "bench_cores": ["bench/bench_cores.py"],
    "bench_metrics": ["bench/bench_metrics.py"],
    "bench_meteor": ["bench/bench_meteor.py"],
    "bench_decode": ["bench/bench_decode.py", "--repeats", "2"],
    "bench_scst": ["bench/bench_scst.py"],
    "bench_blas_kernel": ["bench/bench_blas_kernel.py"],
    "bench_coco_scale": ["bench/bench_coco_scale.py"],
    "bench_tracking": ["bench/bench_tracking.py"],
    "workflow": ["bench/bench_workflow.py"],
    "tests-fast": ["bench/bench_tests.py"],
    "tests-all": ["bench/bench_tests.py", "--all"],
    "results": ["bench/results_tables.py", "results/synthetic/synthetic-shapes"],
    "results-memory": ["bench/results_tables.py", "results/memory/lstm-vs-rnn"],
    "results-headline": ["bench/results_tables.py", "--headline"],
}
# Run only when named: the whole test suite takes a quarter of an hour, and the results blocks quote a
# finished default run (`make reproduce` first).
SLOW = {"tests-all", "results", "results-memory", "results-headline"}

BLOCK = re.compile(r"(<!-- figures: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures: (?P=name) -->)", re.S)


class PublishError(Exception):
    """One line: what failed and where."""


def doc_files(root: Path) -> list[Path]:
    return sorted({p for pattern in DOCS for p in root.glob(pattern)})


def blocks(text: str) -> list[str]:
    """The names of the figure blocks in ``text``, in order."""
    return [m["name"] for m in BLOCK.finditer(text)]


def locate(root: Path) -> dict[str, Path]:
    """{NAME: the file holding its block}; every block known to FIGURES, and in one place only."""
    where: dict[str, Path] = {}
    for path in doc_files(root):
        text = path.read_text()
        opened = re.findall(r"<!-- figures: ([\w-]+) -->", text)
        if sorted(opened) != sorted(blocks(text)):
            raise PublishError(f"{path}: a figures block is not closed by <!-- /figures: NAME --> with its name")
        for name in opened:
            if name not in FIGURES:
                raise PublishError(f"{path}: block {name!r} names no command; known: {', '.join(FIGURES)}")
            if name in where:
                raise PublishError(f"{path}: block {name!r} is also in {where[name]}; a figure lives in one place")
            where[name] = path
    return where


def render(text: str, name: str, output: str, header: str) -> str:
    """``text`` with block ``name``'s body replaced by ``header``, a blank line and ``output``."""
    found = [m for m in BLOCK.finditer(text) if m["name"] == name]
    if len(found) != 1:
        raise PublishError(f"block {name!r} occurs {len(found)} times; expected once")
    m = found[0]
    body = f"{header}\n\n{output.strip()}\n"
    return text[: m.start("body")] + body + text[m.end("body") :]


def command(name: str) -> str:
    """FIGURES[name] as a user types it."""
    return f"python {' '.join(FIGURES[name])}"


def run(name: str) -> str:
    """The stdout of FIGURES[name], run now; stderr streams to the terminal."""
    done = subprocess.run([sys.executable, *FIGURES[name]], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise PublishError(f"`{command(name)}` failed (exit {done.returncode}); block {name!r} kept")
    if not done.stdout.strip():
        raise PublishError(f"`{command(name)}` printed nothing; block {name!r} kept")
    return done.stdout


def publish(names: list[str], root: Path | None = None) -> None:
    from captioning.atomic import atomic_path

    root = root or ROOT
    where = locate(root)
    for name in names:
        if name not in where:
            raise PublishError(f"no <!-- figures: {name} --> block in {' or '.join(DOCS)}")
    t0 = time.perf_counter()
    for name in names:
        print(f"publish: {name}: {command(name)}", file=sys.stderr, flush=True)
        output = run(name)
        header = f"`{command(name)}`, {datetime.date.today().isoformat()}:"
        path = where[name]
        text = render(path.read_text(), name, output, header)
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        print(f"publish: {name} -> {path.relative_to(root)}", file=sys.stderr, flush=True)
    pages = sorted({str(where[n].relative_to(root)) for n in names})
    minutes = (time.perf_counter() - t0) / 60
    print(f"publish: {len(names)} blocks in {', '.join(pages)} written in {minutes:.1f} min", file=sys.stderr)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"blocks to regenerate (default: all but {sorted(SLOW)})")
    ap.add_argument("--list", action="store_true", help="print each block's command and file, and exit")
    args = ap.parse_args(argv)
    try:
        if args.list:
            for name, path in locate(ROOT).items():
                print(f"{name}: {command(name)} -> {path.relative_to(ROOT)}")
            return
        unknown = [n for n in args.names if n not in FIGURES]
        if unknown:
            raise PublishError(f"unknown block {unknown[0]!r}; known: {', '.join(FIGURES)}")
        publish(args.names or [n for n in FIGURES if n not in SLOW])
    except PublishError as e:
        raise SystemExit(f"publish: {e}") from None


if __name__ == "__main__":
    main()
