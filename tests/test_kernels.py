"""Kernels and the packed fast path against the plain NumPy reference in ``reference.py``."""

import numpy as np
import pytest
import reference as ref

import captioning as C
from captioning.cells import recurrent_grad
from captioning.kernels import elementwise as K
from captioning.kernels.elementwise import softmax_xent
from captioning.kernels.layout import transpose_into

TOL = {np.float64: 1e-10, np.float32: 2e-4}
SHAPES = [(1, 1, 3, 5), (1, 7, 4, 13), (5, 1, 6, 9), (6, 9, 5, 13), (17, 4, 8, 30)]  # N, T, D, H


def close(a, b, dtype):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    scale = max(1.0, np.abs(b).max())
    np.testing.assert_allclose(a, b, atol=TOL[dtype] * scale, rtol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_sequence_layers_match_reference(rng, cell, N, T, D, H, dtype):
    g = 4 if cell == "lstm" else 1
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = (
        rng.standard_normal((D, g * H)),
        rng.standard_normal((H, g * H)) / np.sqrt(H),
        rng.standard_normal(g * H),
    )
    dh = rng.standard_normal((N, T, H))
    args = [a.astype(dtype) for a in (x, h0, Wx, Wh, b)]
    fwd, bwd = getattr(C, f"{cell}_forward"), getattr(C, f"{cell}_backward")
    rfwd, rbwd = ref.RECURRENCES[cell]
    h, cache = fwd(*args)
    assert h.dtype == dtype
    h_ref, cache_ref = rfwd(*(a.astype(np.float64) for a in args))
    close(h, h_ref, dtype)
    grads = bwd(dh.astype(dtype), cache)
    for got, want in zip(grads, rbwd(dh, cache_ref), strict=True):
        assert got.dtype == dtype
        close(got, want, dtype)


@pytest.mark.parametrize(
    "kernel", ["lstm_gates_forward", "lstm_gates_backward", "rnn_tanh_forward", "rnn_tanh_backward"]
)
def test_parallel_and_serial_gate_kernels_agree(rng, kernel):
    n, H = 37, 29
    pair = getattr(K, kernel)
    shapes = {
        "lstm_gates_forward": [(n, 4 * H), (n + 5, 4 * H), "rows", (n, H), (n, H), (n, H), (n, H)],
        "lstm_gates_backward": [(n, H), (n, H), (n, H), (n, 4 * H), (n, H), (n, H), (n, 4 * H)],
        "rnn_tanh_forward": [(n, H), (n + 5, H), "rows"],
        "rnn_tanh_backward": [(n, H), (n, H), (n, H), (n, H)],
    }[kernel]
    args = [rng.permutation(n + 5)[:n] if s == "rows" else rng.random(s) for s in shapes]
    a1 = [a.copy() for a in args]
    a2 = [a.copy() for a in args]
    pair.serial(*a1)
    pair.parallel(*a2)
    for u, v in zip(a1, a2, strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("H,n", [(1, 1), (16, 16), (29, 37), (512, 128), (512, 25), (48, 0)])
def test_transpose_into_matches_numpy_full_and_partial_tiles(rng, H, n):
    src = rng.standard_normal((H, n)).astype(np.float32)
    dst = np.full((n + 3, H), np.nan, dtype=np.float32)  # rows past n must stay untouched
    transpose_into(src, dst[:n])
    np.testing.assert_array_equal(dst[:n], src.T)
    assert np.isnan(dst[n:]).all()


def test_recurrent_grad_matches_the_plain_product(rng):
    Wh, da = rng.standard_normal((13, 52)), rng.standard_normal((7, 52))
    out = np.empty((9, 13))
    recurrent_grad(Wh, da, np.empty(13 * 9), out[:7])
    np.testing.assert_allclose(out[:7], da @ Wh.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_kernel_matches_reference_serial_and_parallel(rng, dtype):
    M, V = 41, 23
    x = (3 * rng.standard_normal((M, V))).astype(dtype)
    y = rng.integers(V, size=M)
    w = (rng.random(M) > 0.3).astype(dtype) / 7
    loss_ref, d_ref = ref.softmax_loss(x.astype(np.float64)[:, None, :], y[:, None], w[:, None] > 0)
    for fn in (softmax_xent.serial, softmax_xent.parallel):
        d = x.copy()
        losses = np.empty(M)
        fn(d, y, w, losses)
        assert losses.sum() == pytest.approx(loss_ref * M / 7, rel=TOL[dtype] * 10)
        close(d, d_ref[:, 0] * M / 7, dtype)


def random_batch(rng, N, T, V, null_after_start_rows=()):
    lengths = rng.integers(1, T + 1, size=N)
    captions = rng.integers(3, V, size=(N, T + 1))
    captions[:, 0] = 1
    for i, L in enumerate(lengths):
        captions[i, L] = 2
        captions[i, L + 1 :] = 0
    for i in null_after_start_rows:
        captions[i, 1:] = 0
    return captions


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize(
    "N,T,empty_rows",
    [(1, 1, ()), (1, 16, ()), (9, 12, (0, 4)), (3, 5, (0, 1, 2)), (32, 16, (5,))],
)
def test_model_loss_matches_reference(rng, cell, N, T, empty_rows, dtype):
    V, D, W, H = 23, 10, 7, 13
    words = ["<NULL>", "<START>", "<END>", "<UNK>"] + [f"w{i}" for i in range(V - 4)]
    model = C.CaptioningRNN({w: i for i, w in enumerate(words)}, D, W, H, cell_type=cell, dtype=dtype, seed=3)
    features = rng.standard_normal((N, D)).astype(dtype)
    captions = random_batch(rng, N, T, V, empty_rows)
    loss, grads = model.loss(features, captions)
    p64 = {k: v.astype(np.float64) for k, v in model.params.items()}
    loss_ref, grads_ref = ref.captioning_loss(p64, features.astype(np.float64), captions, cell)
    assert loss == pytest.approx(loss_ref, rel=TOL[dtype], abs=TOL[dtype])
    for k in model.params:
        assert grads[k].dtype == dtype and grads[k].shape == model.params[k].shape
        close(grads[k], grads_ref[k], dtype)


def _apply(fn_name):
    import numba

    from captioning.kernels import elementwise as E

    fn = getattr(E, fn_name)

    @numba.njit
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    def run(x):
        out = np.empty_like(x)
        apply(x, out)
        return out

    return run


@pytest.mark.parametrize(
    "name,lo,hi,exact,tol",
    [
        ("exp32", -87.0, 88.0, np.exp, 1.5e-7),
        ("tanh32", -20.0, 20.0, np.tanh, 3e-7),
        ("sigmoid", -80.0, 80.0, lambda v: 1 / (1 + np.exp(-v)), 3e-7),
    ],
)
def test_fast_float32_math_is_within_a_few_ulps_of_libm(name, lo, hi, exact, tol):
    x = np.concatenate([np.linspace(lo, hi, 400_001), np.geomspace(1e-30, 1, 1001), -np.geomspace(1e-30, 1, 1001)])
    x = x.astype(np.float32)
    got = _apply(name)(x).astype(np.float64)
    want = exact(x.astype(np.float64))
    rel = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(np.float32).tiny)
    assert rel.max() < tol, (x[rel.argmax()], got[rel.argmax()], want[rel.argmax()])
    assert got.dtype == np.float64 and _apply(name)(x).dtype == np.float32


def test_fast_float32_math_special_values():
    inf, nan = np.float32(np.inf), np.float32(np.nan)
    special = np.array([-inf, -1000, -87.5, 0, inf, nan], dtype=np.float32)
    e = _apply("exp32")(special[:-2])  # exp32 is only used on arguments <= 0
    np.testing.assert_array_equal(e, [0, 0, 0, 1])
    t = _apply("tanh32")(special)
    np.testing.assert_array_equal(t[:-1], [-1, -1, -1, 0, 1])
    assert np.isnan(t[-1]) and np.isnan(_apply("exp32")(special[-1:]))[0]
    s = _apply("sigmoid")(special)
    np.testing.assert_array_equal(s[:-1], [0, 0, 0, 0.5, 1])
    assert np.isnan(s[-1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_normalizer_kernel_matches_scipy_logsumexp(rng, dtype):
    from scipy.special import logsumexp

    from captioning.sampling import log_normalizer

    x = (20 * rng.standard_normal((37, 1004))).astype(dtype)
    x[3, :] = -1e4  # all-tiny row: the max shift keeps it finite
    x[5, [0, 1]] = -np.inf  # forbidden words contribute nothing
    out = log_normalizer(x)
    assert out.dtype == np.float64 and out.shape == (37,)
    rtol = {np.float64: 1e-13, np.float32: 1e-6}[dtype]  # float32: exp32 is within a few float32 ulps
    np.testing.assert_allclose(out, logsumexp(x.astype(np.float64), axis=1), rtol=rtol, atol=0)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_row_top_matches_a_stable_sort(rng, k):
    """The k best words of a row other than <NULL> and <START>, ties to the lower id, against NumPy's stable sort."""
    x = rng.standard_normal((60, 1004)).astype(np.float32)
    x[:20] = np.round(x[:20])  # many ties
    x[20:25, 40:] = -np.inf  # only a few finite words
    x[25] = np.arange(1004, dtype=np.float32)  # ascending: every block beats the k-th best so far
    val, idx = np.empty(k, dtype=np.float32), np.empty(k, dtype=np.int64)
    for null, start in ((0, 1), (5, 1003)):
        for row in x:
            assert K._row_top(row, null, start, val, idx) == k
            order = [w for w in np.argsort(-row, kind="stable") if w not in (null, start)][:k]
            np.testing.assert_array_equal(idx, order)
            np.testing.assert_array_equal(val, row[order])


def test_greedy_pick_matches_numpy_argmax_and_scipy_log_softmax(rng):
    from scipy.special import log_softmax

    scores = (5 * rng.standard_normal((40, 1004))).astype(np.float32)
    scores[7, 0] = scores[7].max() + 1  # <NULL> would win: it is never picked
    rows = np.array([3, 7, 7, 39, 0])
    word, logp = np.empty(5, dtype=np.int64), np.empty(5)
    K.greedy_pick(scores, rows, 0, 1, word, logp)
    allowed = scores[rows].copy()
    allowed[:, [0, 1]] = -np.inf
    np.testing.assert_array_equal(word, allowed.argmax(axis=1))
    expected = log_softmax(scores[rows].astype(np.float64), axis=1)[np.arange(5), word]
    np.testing.assert_allclose(logp, expected, rtol=1e-6)
