"""Benchmark: one LSTM training step (loss + all gradients) at COCO's dimensions.

    python bench/bench_train_step.py [--batch-sizes 25 128] [--repeats 15] [--rounds 7]

Every implementation runs in a clean process of its own (``bench/step_worker.py``),
with its own defaults, on the same batch; the rounds interleave them (and the
OpenBLAS kernels) so drift on a shared machine hits all alike, and each figure is
the median over rounds:

  * ``captioning``            this package (CaptioningRNN.loss), as imported: serial kernels;
  * ``captioning-workqueue``  the same with NUMBA_THREADING_LAYER=workqueue: parallel kernels allowed;
  * ``numpy-ref``             the plain NumPy reference in tests/reference.py;
  * ``torch``                 torch.nn.LSTM + Embedding + Linear, padded batch, torch's default threads
                              (only if torch is importable; it is never a dependency);
  * ``products``              only the matrix products CaptioningRNN.loss makes, back to back, in its
                              layouts, in a numpy-only process: a floor for any step built on them.

On a CPU with AVX-512 every figure that uses OpenBLAS is measured twice, under
its own SkylakeX kernel and under Haswell's (``OPENBLAS_CORETYPE`` set in the
worker processes only, ``bench/blas_kernels.py``), each with its own sgemm rate,
and both tables are printed.  torch does not use OpenBLAS: it runs once a round,
and the same runs are the anchor of both tables.  The summary states the goals:
at N=128 at least 80% of the sgemm rate, at N=25 at most 0.75x torch's time,
beside what the products alone reach: no step built on OpenBLAS's products gets
past them.

Batches are synthetic but shaped like COCO: caption lengths ~ round(N(10.5, 2.5))
clipped to [5, 15] words plus <END>, padded to T = 16 inputs, and words drawn from
a Zipf law over the vocabulary like real captions.  Prints medians, captions/s,
the fraction of this machine's sgemm rate achieved, and first-call latency.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from blas_kernels import kernel_envs, kernel_name

WORKER = Path(__file__).with_name("step_worker.py")
V, D, W, H, T = 1004, 512, 256, 512, 16


def coco_like_captions(rng: np.random.Generator, N: int) -> np.ndarray:
    """(N, T + 1) int32 captions shaped like COCO's: <START>, round(N(10.5, 2.5)) words clipped to [5, 15]
    drawn from a Zipf law over the vocabulary, <END>, <NULL> padding."""
    lengths = np.clip(np.round(rng.normal(10.5, 2.5, N)), 5, 15).astype(int)
    ranks = np.arange(1, V - 3)
    zipf = 1.0 / ranks
    words = rng.choice(ranks + 3, size=(N, T + 1), p=zipf / zipf.sum())
    pos = np.arange(1, T + 1)
    L = lengths[:, None]
    captions = np.zeros((N, T + 1), dtype=np.int32)
    captions[:, 0] = 1
    captions[:, 1:] = np.where(pos <= L, words[:, :T], np.where(pos == L + 1, 2, 0))
    return captions


def make_batch(N: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    captions = coco_like_captions(rng, N)
    features = rng.standard_normal((N, D)).astype(np.float32)
    return features, captions


def gemm_flops(captions: np.ndarray) -> float:
    """Matrix-product FLOPs that CaptioningRNN.loss performs on this batch."""
    N = captions.shape[0]
    mask = captions[:, 1:] != 0
    P = int(mask.sum())  # trailing padding only, so every computed position is scored
    U = len(np.unique(captions[:, :-1][mask]))
    G = 4 * H
    proj = 2 * 2 * N * D * H  # forward + dW_proj
    words = 3 * 2 * U * W * G  # input projection, dWx, dW_embed
    recurrence = 3 * 2 * P * H * G  # h @ Wh, dh @ Wh.T, dWh
    vocab = 3 * 2 * P * H * V  # scores, dW_vocab, dh
    return float(proj + words + recurrence + vocab)


FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
import captioning
t1 = time.perf_counter()
import sys; sys.path.insert(0, {bench!r})
from bench_train_step import D, H, V, W, make_batch
from step_worker import captioning_step
f, c = make_batch(25)
step, _ = captioning_step({{"features": f, "captions": c}}, (V, D, W, H))
t2 = time.perf_counter(); step(); t3 = time.perf_counter(); step(); t4 = time.perf_counter()
print(t1 - t0, t3 - t2, t4 - t3)
"""


def first_call_latency() -> dict:
    """Seconds for import, first and second loss() call, with a cold and a warm Numba disk cache."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold cache", "warm cache"):
            res = subprocess.run(
                [sys.executable, "-c", FIRST_CALL.format(bench=str(Path(__file__).parent))],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            out[label] = [float(v) for v in res.stdout.split()]
    return out


IMPLEMENTATIONS = {  # name -> (worker implementation, extra environment)
    "captioning": ("captioning", {}),
    "captioning-workqueue": ("captioning", {"NUMBA_THREADING_LAYER": "workqueue"}),
    "numpy-ref": ("numpy-ref", {}),
    "torch": ("torch", {}),
    "products": ("products", {}),
}
NOT_OPENBLAS = {"torch"}  # its BLAS is its own (MKL): one run a round is the anchor under every OpenBLAS kernel


def clean_env(base: dict, extra: dict) -> dict:
    """``base`` without settings that would favour or handicap one implementation, plus ``extra``."""
    env = {k: v for k, v in base.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    return {**env, **extra}


def run_worker(impl: str, batch: Path, repeats: int, warmup: int, extra: dict, base: dict) -> dict:
    res = subprocess.run(
        [sys.executable, str(WORKER), impl, str(batch), str(repeats), str(warmup)],
        env=clean_env(base, extra),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench(N: int, repeats: int, warmup: int, rounds: int, names: list[str], tmp: Path, envs: dict) -> dict:
    """{kernel label: row of medians}.  Every round runs each implementation under every kernel, except
    those that do not use OpenBLAS (``NOT_OPENBLAS``): they run once a round and count for every kernel."""
    features, captions = make_batch(N)
    batch = tmp / f"batch{N}.npz"
    np.savez(batch, features=features, captions=captions, dims=np.array([V, D, W, H]))
    samples = {label: {name: [] for name in names} for label in envs}
    info = {label: {} for label in envs}
    for _ in range(rounds):
        for name in names:
            impl, extra = IMPLEMENTATIONS[name]
            for label in list(envs)[:1] if name in NOT_OPENBLAS else envs:
                out = run_worker(impl, batch, repeats, warmup, extra, envs[label])
                for shared in envs if name in NOT_OPENBLAS else (label,):
                    samples[shared][name].append(out["median_s"])
                    info[shared][name] = out
    return {
        label: {
            "N": N,
            "median_s": {k: float(np.median(v)) for k, v in samples[label].items()},
            "flops": gemm_flops(captions),
            "info": info[label],
        }
        for label in envs
    }


GOALS = {128: "at least 80% of the sgemm rate", 25: "at most 0.75x torch's time"}


def table(rows: list[dict], rate: float) -> None:
    print("| N | implementation | median ms | captions/s | vs numpy-ref | vs torch | % of sgemm rate |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        med = r["median_s"]
        for name, t in med.items():
            vs_ref = med["numpy-ref"] / t
            vs_torch = f"{med['torch'] / t:.2f}x" if "torch" in med else "n/a"
            frac = f"{100 * r['flops'] / t / rate:.0f}%" if name.startswith("captioning") or name == "products" else ""
            print(f"| {r['N']} | {name} | {1e3 * t:.1f} | {r['N'] / t:.0f} | {vs_ref:.2f}x | {vs_torch} | {frac} |")


def verdict(rows: list[dict], rate: float, anchor: str) -> str:
    """One line per kernel: each batch size's ratio to the anchor, share of sgemm, goal and the products' floor."""
    parts = []
    for r in rows:
        med = r["median_s"]
        t = med["captioning"]
        part = f"N={r['N']}: {t / med[anchor]:.2f}x {anchor}'s time, {100 * r['flops'] / t / rate:.0f}% of sgemm"
        if r["N"] in GOALS and anchor == "torch":
            part += f" (goal: {GOALS[r['N']]})"
        if "products" in med:
            floor = med["products"]
            part += (
                f"; the products alone: {floor / med[anchor]:.2f}x {anchor}'s time, "
                f"{100 * r['flops'] / floor / rate:.0f}% of sgemm"
            )
        parts.append(part)
    return "; ".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[25, 128])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args(argv)
    names = [n for n in IMPLEMENTATIONS if n != "torch" or (not args.no_torch and importlib.util.find_spec("torch"))]

    latency = first_call_latency()
    kernels = {}
    envs = kernel_envs()
    with tempfile.TemporaryDirectory() as tmp:
        none = Path(tmp) / "none.npz"
        np.savez(none, dims=np.array([V, D, W, H]))
        results = [bench(N, args.repeats, args.warmup, args.rounds, names, Path(tmp), envs) for N in args.batch_sizes]
        sgemm = {label: [] for label in envs}
        for _ in range(args.rounds):
            for label, env in envs.items():
                sgemm[label].append(run_worker("sgemm", none, 20, 2, {}, env)["median_s"])
        for label, env in envs.items():
            kernels[kernel_name(env)] = {
                "rows": [r[label] for r in results],
                "sgemm_flops": 2 * 2048 * 512 * 2048 / float(np.median(sgemm[label])),
                "label": label,
            }

    from captioning.provenance import describe, numerics

    print(f"machine: {describe(numerics())}\n")
    first = next(iter(kernels.values()))["rows"][0]
    for name, out in first["info"].items():
        print(
            f"* {name}: {out['threads']}; modules of this project loaded: {', '.join(out['imported_ours']) or 'none'}"
        )
    anchor = "torch" if "torch" in names else "numpy-ref"
    for kernel, k in kernels.items():
        how = "this CPU's own" if k["label"] == "default" else f"OPENBLAS_CORETYPE={k['label']} in the workers"
        print(f"\n### OpenBLAS {kernel} kernel ({how})\n")
        print(f"sgemm (2048x512 @ 512x2048, float32, clean numpy process): {k['sgemm_flops'] / 1e9:.0f} GFLOP/s\n")
        table(k["rows"], k["sgemm_flops"])
    print("\nFirst call (seconds: import, first loss(), second loss()):\n")
    for label, (imp, first_call, second) in latency.items():
        print(f"* {label}: import {imp:.2f}, first call {first_call:.2f}, second call {second:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"kernels": kernels, "first_call": latency}, indent=2))
    print()
    for kernel, k in kernels.items():
        print(f"summary ({kernel}): captioning takes " + verdict(k["rows"], k["sgemm_flops"], anchor))


if __name__ == "__main__":
    main()
