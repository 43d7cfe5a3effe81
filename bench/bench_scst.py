"""Benchmark: one self-critical (SCST) iteration against one cross-entropy iteration, at COCO's sizes.

    python bench/bench_scst.py [--repeats 15] [--rounds 3]

An LSTM with W=256, H=512, V=1004, PCA features D=512, seeded random weights (its
<END> logit offset so that sampled captions average about 10 words, as COCO's
do), 2,000 training images with five COCO-shaped references each.  In clean
processes of their own, alternating over ``--rounds``:

* ``xe``: one cross-entropy iteration on 125 captions of 16 tokens: loss,
  gradients, clipping and Adam (``CaptioningSolver``);
* ``scst``: one SCST iteration on 25 images x 5 samples (``ScstSolver``,
  baseline ``mean``): sampling, the CIDEr-D rewards with training statistics, the
  baseline, the weighted loss's forward and backward, clipping and Adam; and, in
  the same process, the reward computation alone on those samples.

It prints the medians, the SCST iteration as a multiple of the cross-entropy
one, and the reward's share of an SCST iteration.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_step import D, H, V, W, coco_like_captions  # noqa: E402

IMAGES, SAMPLES, REFS, MAX_LENGTH = 25, 5, 5, 16
END_OFFSET = 4.65  # sampled captions then average about 10 words


def setup(n_images: int = 2000):
    from captioning.model import CaptioningRNN
    from captioning.threads import configure_threads
    from captioning.vocab import SPECIAL_TOKENS

    configure_threads(1)
    rng = np.random.default_rng(0)
    words = [*SPECIAL_TOKENS, *(f"w{i}" for i in range(V - len(SPECIAL_TOKENS)))]
    w2i = {w: i for i, w in enumerate(words)}
    data = {
        "word_to_idx": w2i,
        "idx_to_word": words,
        "train_captions": coco_like_captions(rng, n_images * REFS),
        "train_image_idxs": np.repeat(np.arange(n_images, dtype=np.int32), REFS),
        "train_features": rng.standard_normal((n_images, D)).astype(np.float32),
    }
    model = CaptioningRNN(w2i, D, W, H, cell_type="lstm", seed=0)
    model.params["b_vocab"][w2i["<END>"]] += END_OFFSET
    return model, data


def median_time(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def worker(kind: str, repeats: int) -> dict:
    from captioning.solver import SolverConfig

    model, data = setup()
    config = SolverConfig("adam", {"learning_rate": 5e-5}, 1.0, IMAGES, 1, grad_clip=1.0, eval_images=0)
    if kind == "xe":
        from captioning.solver import CaptioningSolver

        solver = CaptioningSolver(model, data, config, verbose=False)
        idx = np.arange(IMAGES * SAMPLES)
        return {"iteration_s": median_time(lambda: solver._train_step(idx), repeats)}
    from captioning.sampling import sample_captions
    from captioning.scst import ScstConfig, ScstSolver

    solver = ScstSolver(model, data, config, ScstConfig(SAMPLES, "mean", max_length=MAX_LENGTH), verbose=False)
    idx = np.arange(IMAGES)
    iteration = median_time(lambda: solver._train_step(idx), repeats)
    captions = sample_captions(model, data["train_features"][:IMAGES], SAMPLES, max_length=MAX_LENGTH, seed=1)
    refs = [solver.refs[k] for k in idx for _ in range(SAMPLES)]
    reward = median_time(lambda: solver.reward(refs, captions), repeats)
    ended = (captions == model.end_id).any(axis=1)
    length = np.where(ended, (captions == model.end_id).argmax(axis=1) + 1, MAX_LENGTH).mean()
    return {"iteration_s": iteration, "reward_s": reward, "mean_sampled_length": float(length)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--worker", choices=("xe", "scst"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats)))
        return
    from captioning.provenance import describe, numerics

    runs: dict = {"xe": [], "scst": []}
    for r in range(args.rounds):
        for kind in runs:
            cmd = [sys.executable, __file__, "--worker", kind, "--repeats", str(args.repeats)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs[kind].append(json.loads(out.splitlines()[-1]))
            print(f"round {r + 1} {kind}: {runs[kind][-1]}", file=sys.stderr)
    xe = float(np.median([x["iteration_s"] for x in runs["xe"]]))
    scst = float(np.median([x["iteration_s"] for x in runs["scst"]]))
    reward = float(np.median([x["reward_s"] for x in runs["scst"]]))
    length = runs["scst"][0]["mean_sampled_length"]
    print(f"machine: {describe(numerics())}\n")
    print(f"LSTM W={W} H={H} V={V} D={D}; {IMAGES} images x {SAMPLES} samples (mean sampled length {length:.1f})\n")
    print("| measurement | median | ratio |")
    print("|---|---:|---:|")
    print(f"| cross-entropy iteration, {IMAGES * SAMPLES} captions | {1e3 * xe:.1f} ms | 1.00x |")
    print(f"| SCST iteration, {IMAGES} x {SAMPLES} samples | {1e3 * scst:.1f} ms | {scst / xe:.2f}x |")
    print(f"| its CIDEr-D rewards | {1e3 * reward:.1f} ms | {100 * reward / scst:.0f}% of the SCST iteration |")
    print(
        f"\nsummary: an SCST iteration takes {scst / xe:.2f}x a cross-entropy one; "
        f"rewards are {100 * reward / scst:.0f}%"
    )


if __name__ == "__main__":
    main()
