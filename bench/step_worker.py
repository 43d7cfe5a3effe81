"""One implementation of the LSTM training step, timed in a process of its own (run by bench_train_step.py).

    python bench/step_worker.py {captioning,numpy-ref,torch,products,sgemm} BATCH.npz REPEATS WARMUP

Only numpy is imported up front; each implementation imports what it needs inside
its factory, so the torch anchor's process holds nothing of this project and runs
with torch's own defaults (threads, OpenMP).  Prints one JSON line: the median
seconds, the threads used and which of this project's modules the process loaded.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

OURS = ("captioning", "reference")


def captioning_step(batch, dims):
    import captioning
    from captioning.vocab import SPECIAL_TOKENS

    V, D, W, H = dims
    words = [*SPECIAL_TOKENS, *(f"w{i}" for i in range(V - len(SPECIAL_TOKENS)))]
    model = captioning.CaptioningRNN(
        {w: i for i, w in enumerate(words)}, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type="lstm", seed=0
    )
    features, captions = batch["features"], batch["captions"]
    import numba

    return (
        lambda: model.loss(features, captions)[0]
    ), f"numba {numba.get_num_threads()} ({numba.config.THREADING_LAYER})"


def numpy_ref_step(batch, dims):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import reference

    V, D, W, H = dims
    rng = np.random.default_rng(0)
    params = {
        "W_embed": rng.standard_normal((V, W)) / 100, "W_proj": rng.standard_normal((D, H)) / np.sqrt(D),
        "b_proj": np.zeros(H), "Wx": rng.standard_normal((W, 4 * H)) / np.sqrt(W),
        "Wh": rng.standard_normal((H, 4 * H)) / np.sqrt(H), "b": np.zeros(4 * H),
        "W_vocab": rng.standard_normal((H, V)) / np.sqrt(H), "b_vocab": np.zeros(V),
    }  # fmt: skip
    params = {k: v.astype(np.float32) for k, v in params.items()}
    features, captions = batch["features"], batch["captions"]
    return (lambda: reference.captioning_loss(params, features, captions, "lstm")[0]), "numpy defaults"


def torch_step(batch, dims):
    import torch

    V, D, W, H = dims
    torch.manual_seed(0)
    embed, proj = torch.nn.Embedding(V, W), torch.nn.Linear(D, H)
    lstm, vocab = torch.nn.LSTM(W, H, batch_first=True), torch.nn.Linear(H, V)
    params = [*embed.parameters(), *proj.parameters(), *lstm.parameters(), *vocab.parameters()]
    captions = batch["captions"]
    N = len(captions)
    f = torch.from_numpy(batch["features"])
    cin = torch.from_numpy(captions[:, :-1].astype(np.int64))
    cout = torch.from_numpy(captions[:, 1:].astype(np.int64))

    def step():
        for p in params:
            p.grad = None
        h0 = proj(f).unsqueeze(0)
        out, _ = lstm(embed(cin), (h0, torch.zeros_like(h0)))
        scores = vocab(out).reshape(-1, V)
        loss = torch.nn.functional.cross_entropy(scores, cout.reshape(-1), ignore_index=0, reduction="sum") / N
        loss.backward()
        return float(loss.detach())

    return step, f"torch {torch.__version__}, {torch.get_num_threads()} threads (its default)"


def sgemm_step(batch, dims):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 512), dtype=np.float32)
    b = rng.standard_normal((512, 2048), dtype=np.float32)
    return (lambda: a @ b), "numpy defaults"


def batch_sizes(captions: np.ndarray) -> list[int]:
    """Rows still running at each step once the batch is sorted by length, as the model packs it."""
    mask = captions[:, 1:] != 0
    lengths = np.where(mask.any(axis=1), mask.shape[1] - np.argmax(mask[:, ::-1], axis=1), 0)
    return [int((lengths > t).sum()) for t in range(int(lengths.max()))]


def products_step(batch, dims):
    """Only the matrix products CaptioningRNN.loss makes on this batch, back to back, in its layouts.

    Nothing else of the step runs between them (no gate kernel, softmax, gather or
    allocation), so caches stay warmer than in the step: its time is a floor for
    any step built on these products with this BLAS.
    """
    V, D, W, H = dims
    G = 4 * H
    captions = batch["captions"]
    N = len(captions)
    sizes = batch_sizes(captions)
    P, U = sum(sizes), len(np.unique(captions[:, :-1][captions[:, 1:] != 0]))
    rng = np.random.default_rng(0)

    def a(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    feats, W_proj, Wx, Wh, W_vocab = a(N, D), a(D, H), a(W, G), a(H, G), a(H, V)
    x_words, hs, gates, scores = a(U, W), a(P, H), a(P, G), a(P, V)
    out = {k: np.empty(s, np.float32) for k, s in {
        "h0": (N, H), "xa": (U, G), "dWv": (H, V), "dhs": (P, H), "dWh": (H, G), "dxw": (U, G),
        "dWx": (W, G), "dWe": (U, W), "dWp": (D, H), "dh_t": (H * N,)}.items()}  # fmt: skip
    offsets = np.cumsum([0, *sizes])

    def step():
        np.matmul(feats, W_proj, out=out["h0"])
        np.matmul(x_words, Wx, out=out["xa"])
        for t, n in enumerate(sizes):  # h_{t-1} @ Wh
            np.matmul(hs[offsets[t] : offsets[t] + n], Wh, out=gates[offsets[t] : offsets[t] + n])
        np.matmul(hs, W_vocab, out=scores)
        np.matmul(hs.T, scores, out=out["dWv"])
        np.matmul(scores, W_vocab.T, out=out["dhs"])
        for t in reversed(range(len(sizes))):  # the gradient on h_{t-1}, as the cells compute it
            n = sizes[t]
            np.matmul(Wh, gates[offsets[t] : offsets[t] + n].T, out=out["dh_t"][: H * n].reshape(H, n))
        np.matmul(hs.T, gates, out=out["dWh"])
        np.matmul(x_words.T, out["dxw"], out=out["dWx"])
        np.matmul(out["dxw"], Wx.T, out=out["dWe"])
        np.matmul(feats.T, out["h0"], out=out["dWp"])
        return 0.0

    return step, "numpy defaults"


FACTORIES = {
    "captioning": captioning_step,
    "numpy-ref": numpy_ref_step,
    "torch": torch_step,
    "products": products_step,
    "sgemm": sgemm_step,
}


def main(argv=None) -> None:
    impl, path, repeats, warmup = (argv or sys.argv[1:])[:4]
    with np.load(path) as z:
        batch = {k: z[k] for k in z.files}
    step, threads = FACTORIES[impl](batch, tuple(int(x) for x in batch["dims"]))
    for _ in range(int(warmup)):
        step()
    times = []
    for _ in range(int(repeats)):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    ours = sorted(m for m in sys.modules if m.split(".")[0] in OURS and "." not in m)
    print(json.dumps({"median_s": float(np.median(times)), "threads": threads, "imported_ours": ours}))


if __name__ == "__main__":
    main()
