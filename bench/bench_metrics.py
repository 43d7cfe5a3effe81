"""Benchmark: scoring 40,000 images with 5 references each (BLEU-1..4, CIDEr-D and ROUGE-L).

    python bench/bench_metrics.py [--images 40000] [--reference-images 2000]

Times ``captioning.ngrams.score_captions`` and ``captioning.rouge.rouge_l`` (what
validation computes each epoch) on the full corpus, and pycocoevalcap's Bleu(4),
Cider and Rouge on a subset (``--reference-images``) in the same run, in a clean
process that imports nothing of this project (``bench/cocoeval_worker.py``),
scaled linearly to the full size, so the ratio compares like with like.  Captions come
from the synthetic data's templates, so n-gram statistics resemble real captions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from captioning.data import scenes
from captioning.ngrams import score_captions
from captioning.rouge import rouge_l


def corpus(n: int, seed: int = 0, style: str = "standard"):
    """``n`` synthetic scenes in ``style``: five references each and a sixth caption as the hypothesis."""
    rng = np.random.default_rng(seed)
    refs, hyps = {}, {}
    for i in range(n):
        caps = scenes.captions_for(scenes.random_scene(rng), rng, k=6, style=style)
        refs[i], hyps[i] = caps[:5], caps[5]
    return refs, hyps


def timed(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=40000)
    ap.add_argument("--reference-images", type=int, default=2000)
    args = ap.parse_args(argv)
    refs, hyps = corpus(args.images)
    ours, scores = timed(lambda: {**score_captions(refs, hyps), "ROUGE-L": rouge_l(refs, hyps)})
    from captioning.provenance import describe, numerics

    print(f"machine: {describe(numerics())}\n")
    print(
        f"captioning.ngrams.score_captions + captioning.rouge.rouge_l, {args.images} images x 5 refs: median "
        f"{ours:.2f} s (BLEU-4 {scores['BLEU-4']:.4f}, CIDEr-D {scores['CIDEr-D']:.4f}, "
        f"ROUGE-L {scores['ROUGE-L']:.4f})\n"
    )
    if importlib.util.find_spec("pycocoevalcap") is None:
        print("pycocoevalcap not installed: no reference timing")
        return
    n = args.reference_images
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.json"
        path.write_text(json.dumps({"refs": {i: refs[i] for i in range(n)}, "hyps": {i: hyps[i] for i in range(n)}}))
        worker = Path(__file__).with_name("cocoeval_worker.py")
        out = json.loads(
            subprocess.run([sys.executable, str(worker), str(path)], capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
    ref_t = out["seconds"]
    scaled = ref_t * args.images / n
    print(
        f"pycocoevalcap Bleu(4) + Cider + Rouge, {n} images, clean process (modules of this project loaded: "
        f"{', '.join(out['imported_ours']) or 'none'}): {ref_t:.2f} s -> ~{scaled:.0f} s for {args.images} images\n"
    )
    print(
        f"summary: {args.images} images scored in {ours:.1f} s, {scaled / ours:.0f}x faster than pycocoevalcap (scaled)"
    )


if __name__ == "__main__":
    main()
