"""Benchmark: decoding and scoring COCO's 40,504 val images, greedy and beam-3, time and peak memory.

    python bench/bench_decode.py [--images 40504] [--hidden 512] [--repeats 3]

An LSTM at COCO's sizes (V=1004, W=256, H=512, PCA features D=512, seeded random
weights) captions random feature rows.  Its <END> logit is offset so that greedy
captions average about 10.5 words, as COCO's do (a random model would otherwise
never stop and every caption would run to the 16-word limit).  References come
from the synthetic data's templates, five per image, for the scoring part.

Each measurement runs in a clean process of its own (peak RSS is per process),
set up as a workflow job is (``configure_threads`` with every core), interleaved
over ``--repeats`` rounds; the report gives medians, and beam's time as a
multiple of greedy's measured in the same run (beam keeps 3 hypotheses, so 3x is
its share of the work).  Each decodes the whole split in one ``decode`` call,
which works 500 images at a time inside, as the score step's ``decode_images`` does.

On a CPU with AVX-512 it runs under OpenBLAS's own SkylakeX kernel and under
Haswell's (``OPENBLAS_CORETYPE`` in the worker processes only,
``bench/blas_kernels.py``) and prints a table for each.  The goal is beam-3 in
at most 2.5x greedy's time; the ``captions`` column is a digest of the decoded
tokens, equal wherever the captions are.  An untimed pass counts the rows each
decoder feeds to the vocabulary product and to ``h @ Wh``, and so how much more
arithmetic beam search's two products do than greedy's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from blas_kernels import kernel_envs, kernel_name

MODES = ("greedy", "beam")
V, W, D, MAX_LENGTH = 1004, 256, 512, 16
MEAN_WORDS = 10.5
COUNTED = 2000  # images whose product rows are counted


def build(hidden: int):
    """The seeded LSTM with its <END> offset calibrated to MEAN_WORDS greedy words (bisection on 500 rows)."""
    from captioning.model import CaptioningRNN
    from captioning.sampling import DECODE_BATCH, greedy_decode
    from captioning.vocab import SPECIAL_TOKENS

    words = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(V - len(SPECIAL_TOKENS))]
    model = CaptioningRNN({w: i for i, w in enumerate(words)}, D, W, hidden, cell_type="lstm", seed=0)
    probe = np.random.default_rng(1).standard_normal((DECODE_BATCH, D)).astype(np.float32)
    base = float(model.params["b_vocab"][model.end_id])
    lo, hi = -5.0, 5.0
    for _ in range(14):
        mid = (lo + hi) / 2
        model.params["b_vocab"][model.end_id] = base + mid
        caps = greedy_decode(model, probe, MAX_LENGTH)
        ended = caps == model.end_id
        length = np.where(ended.any(1), ended.argmax(1), MAX_LENGTH).mean()
        lo, hi = (mid, hi) if length > MEAN_WORDS else (lo, mid)
    return model, float(length)


def product_rows(model, X: np.ndarray, mode: str) -> tuple[float, float]:
    """Rows per image that decoding X feeds to the vocabulary product and to ``h @ Wh`` (an untimed pass)."""
    from captioning.sampling import decode

    counts = [0, 0]
    step = model.step_scores

    def counting(table, words, state, parents=None):
        counts[0] += words.size
        counts[1] += state[0].shape[0]
        return step(table, words, state, parents)

    model.step_scores = counting
    try:
        decode(model, X, method=mode, beam_width=3, max_length=MAX_LENGTH)
    finally:
        del model.step_scores
    return counts[0] / len(X), counts[1] / len(X)


def worker(mode: str, n: int, hidden: int) -> dict:
    from bench_metrics import corpus

    from captioning.ngrams import score_captions
    from captioning.sampling import decode
    from captioning.threads import configure_threads
    from captioning.vocab import decode_captions

    configure_threads(os.cpu_count())
    model, mean_words = build(hidden)
    X = np.random.default_rng(2).standard_normal((n, D)).astype(np.float32)
    refs, _ = corpus(n, seed=3)
    words = [model.idx_to_word[i] for i in range(V)]
    t0 = time.perf_counter()
    tokens = decode(model, X, method=mode, beam_width=3, max_length=MAX_LENGTH)
    decoded = time.perf_counter() - t0
    hyps = dict(enumerate(decode_captions(tokens, words, plain=True)))
    score_captions(refs, hyps)
    total = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    digest = hashlib.sha256(np.ascontiguousarray(tokens, dtype=np.int32).tobytes()).hexdigest()[:12]
    vocab_rows, recurrent_rows = product_rows(model, X[:COUNTED], mode)
    return {
        "decode_s": decoded,
        "total_s": total,
        "peak_rss_gb": rss,
        "mean_words": mean_words,
        "vocab_rows": vocab_rows,
        "recurrent_rows": recurrent_rows,
        "captions": digest,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=40504)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.images, args.hidden)))
        return
    modes = [m for m in MODES if m in args.modes]
    kernels = {}
    for label, env in kernel_envs().items():
        runs: dict = {m: [] for m in modes}
        for r in range(args.repeats):
            for mode in modes:
                cmd = [sys.executable, __file__, "--worker", mode, "--images", str(args.images)]
                cmd += ["--hidden", str(args.hidden)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"{label} round {r + 1} {mode}: {runs[mode][-1]}", file=sys.stderr)
        kernels[kernel_name(env)] = (label, runs)
    from captioning.provenance import describe, numerics

    print(f"machine: {describe(numerics())}\n")
    summary = []
    for kernel, (label, runs) in kernels.items():
        numeric = [k for k, v in runs[modes[0]][0].items() if isinstance(v, float)]
        med = {m: {k: float(np.median([x[k] for x in runs[m]])) for k in numeric} for m in modes}
        digests = {m: sorted({x["captions"] for x in runs[m]}) for m in modes}
        how = "this CPU's own" if label == "default" else f"OPENBLAS_CORETYPE={label} in the workers"
        print(f"### OpenBLAS {kernel} kernel ({how})\n")
        print(
            f"{args.images} images, LSTM H={args.hidden}, greedy captions of {med[modes[0]]['mean_words']:.1f} "
            f"words on average; medians of {args.repeats} clean processes each\n"
        )
        print("| decoder | decode | decode + score | peak RSS | decode time / greedy's | captions |")
        print("|---|---:|---:|---:|---:|---|")
        for mode in modes:
            m = med[mode]
            ratio = m["decode_s"] / med["greedy"]["decode_s"] if "greedy" in med else float("nan")
            print(
                f"| {mode} | {m['decode_s']:.1f} s | {m['total_s']:.1f} s | {m['peak_rss_gb']:.2f} GB "
                f"| {ratio:.2f}x | {', '.join(digests[mode])} |"
            )
        print()
        if "greedy" in med and "beam" in med:
            g, b = med["greedy"], med["beam"]
            vocab, recurrent = 2 * args.hidden * V, 2 * args.hidden * 4 * args.hidden  # FLOPs per row
            floor = (b["vocab_rows"] * vocab + b["recurrent_rows"] * recurrent) / (
                g["vocab_rows"] * vocab + g["recurrent_rows"] * recurrent
            )
            print(
                f"Rows per image (first {COUNTED} images) fed to the vocabulary product and to h @ Wh: "
                f"greedy {g['vocab_rows']:.1f} and {g['recurrent_rows']:.1f}, beam {b['vocab_rows']:.1f} and "
                f"{b['recurrent_rows']:.1f}: the two products alone give beam {floor:.2f}x greedy's arithmetic.\n"
            )
            ratio = b["decode_s"] / g["decode_s"]
            summary.append(f"{kernel}: beam-3 takes {ratio:.2f}x greedy's time (goal: at most 2.5x)")
    if summary:
        print("summary: " + "; ".join(summary))


if __name__ == "__main__":
    main()
