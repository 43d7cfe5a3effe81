"""Benchmark: one LSTM training step (loss + all gradients) at COCO's dimensions.

    python bench/bench_train_step.py [--batch-sizes 25 128] [--repeats 15]

Compares, in the same process and interleaved round by round:
  * ``captioning``   this package (CaptioningRNN.loss);
  * ``numpy-ref``    the plain NumPy reference in tests/reference.py;
  * ``torch``        torch.nn.LSTM + Embedding + Linear, padded batch, 2 threads,
                     in a subprocess so its OpenMP pool and Numba's never meet
                     (only if torch is importable; it is never a dependency).

Batches are synthetic but shaped like COCO: caption lengths ~ round(N(10.5, 2.5))
clipped to [5, 15] words plus <END>, padded to T = 16 inputs, and words drawn from
a Zipf law over the vocabulary like real captions.  Prints medians, captions/s,
the fraction of this machine's sgemm rate achieved, and first-call latency.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# captioning sets OMP_WAIT_POLICY=PASSIVE for its own OpenMP pool on import; the
# torch worker runs in a subprocess with the environment as the user gave it.
USER_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import reference  # noqa: E402

import captioning  # noqa: E402

V, D, W, H, T = 1004, 512, 256, 512, 16


def make_batch(N: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = np.clip(np.round(rng.normal(10.5, 2.5, N)), 5, 15).astype(int)
    ranks = np.arange(1, V - 3)
    zipf = 1.0 / ranks
    words = rng.choice(ranks + 3, size=(N, T + 1), p=zipf / zipf.sum())
    captions = np.zeros((N, T + 1), dtype=np.int32)
    for i, L in enumerate(lengths):
        captions[i, 0] = 1
        captions[i, 1 : L + 1] = words[i, :L]
        captions[i, L + 1] = 2
    features = rng.standard_normal((N, D)).astype(np.float32)
    return features, captions


def make_model():
    words = ["<NULL>", "<START>", "<END>", "<UNK>"] + [f"w{i}" for i in range(V - 4)]
    return captioning.CaptioningRNN(
        {w: i for i, w in enumerate(words)}, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type="lstm", seed=0
    )


def sgemm_rate(repeats: int = 20) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 512), dtype=np.float32)
    b = rng.standard_normal((512, 2048), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * 2048 * 512 * 2048 / float(np.median(times))


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


def torch_step_factory(N: int, features, captions):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    torch.manual_seed(0)
    embed, proj = torch.nn.Embedding(V, W), torch.nn.Linear(D, H)
    lstm, vocab = torch.nn.LSTM(W, H, batch_first=True), torch.nn.Linear(H, V)
    params = [*embed.parameters(), *proj.parameters(), *lstm.parameters(), *vocab.parameters()]
    f = torch.from_numpy(features)
    cin = torch.from_numpy(captions[:, :-1].astype(np.int64))
    cout = torch.from_numpy(captions[:, 1:].astype(np.int64))

    def step():
        for p in params:
            p.grad = None
        h0 = proj(f).unsqueeze(0)
        out, _ = lstm(embed(cin), (h0, torch.zeros_like(h0)))
        scores = vocab(out)
        loss = (
            torch.nn.functional.cross_entropy(scores.reshape(-1, V), cout.reshape(-1), ignore_index=0, reduction="sum")
            / N
        )
        loss.backward()
        return float(loss.detach())

    return step


def torch_worker(N: int, repeats: int, warmup: int) -> None:
    """Subprocess entry: time the torch step and print the median seconds."""
    features, captions = make_batch(N)
    step = torch_step_factory(N, features, captions)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(float(np.median(times)))


def torch_median(N: int, repeats: int, warmup: int) -> float | None:
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if USER_OMP_WAIT_POLICY is not None:
        env["OMP_WAIT_POLICY"] = USER_OMP_WAIT_POLICY
    res = subprocess.run(
        [sys.executable, __file__, "--torch-worker", str(N), str(repeats), str(warmup)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(res.stdout.strip().splitlines()[-1])


FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
import captioning
t1 = time.perf_counter()
import sys; sys.path.insert(0, {bench!r})
from bench_train_step import make_batch, make_model
m = make_model(); f, c = make_batch(25)
t2 = time.perf_counter(); m.loss(f, c); t3 = time.perf_counter(); m.loss(f, c); t4 = time.perf_counter()
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


def bench(N: int, repeats: int, warmup: int, use_torch: bool) -> dict:
    features, captions = make_batch(N)
    model = make_model()
    params64 = model.params  # the reference runs on the same float32 params
    impls = {
        "captioning": lambda: model.loss(features, captions)[0],
        "numpy-ref": lambda: reference.captioning_loss(params64, features, captions, "lstm")[0],
    }
    times = {k: [] for k in impls}
    for _ in range(warmup):
        for fn in impls.values():
            fn()
    for _ in range(repeats):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    if use_torch:
        t = torch_median(N, repeats, warmup)
        if t is not None:
            med["torch"] = t
    return {"N": N, "median_s": med, "flops": gemm_flops(captions)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[25, 128])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    ap.add_argument("--torch-worker", type=int, nargs=3, metavar=("N", "REPEATS", "WARMUP"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.torch_worker:
        return torch_worker(*args.torch_worker)

    rate = sgemm_rate()
    latency = first_call_latency()
    rows = [bench(N, args.repeats, args.warmup, not args.no_torch) for N in args.batch_sizes]

    print(
        f"sgemm (2048x512 @ 512x2048, float32): {rate / 1e9:.0f} GFLOP/s; "
        f"numba threads {captioning.kernels._jit.numba.get_num_threads()}"
    )
    print("\n| N | implementation | median ms | captions/s | vs numpy-ref | vs torch | % of sgemm rate |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        med = r["median_s"]
        for name, t in med.items():
            vs_ref = med["numpy-ref"] / t
            vs_torch = f"{med['torch'] / t:.2f}x" if "torch" in med else "n/a"
            frac = f"{100 * r['flops'] / t / rate:.0f}%" if name == "captioning" else ""
            print(f"| {r['N']} | {name} | {1e3 * t:.1f} | {r['N'] / t:.0f} | {vs_ref:.2f}x | {vs_torch} | {frac} |")
    print("\nFirst call (seconds: import, first loss(), second loss()):")
    for label, (imp, first, second) in latency.items():
        print(f"  {label}: import {imp:.2f}, first call {first:.2f}, second call {second:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"sgemm_flops": rate, "rows": rows, "first_call": latency}, indent=2))
    best = {r["N"]: r["median_s"]["numpy-ref"] / r["median_s"]["captioning"] for r in rows}
    print("summary: " + ", ".join(f"N={n}: {x:.2f}x numpy-ref" for n, x in best.items()))


if __name__ == "__main__":
    main()
