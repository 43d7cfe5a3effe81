"""Element-wise Numba kernels: recurrent-cell gates and fused softmax cross-entropy.

One module on purpose: Numba's on-disk cache is keyed on the source file of
the cached function, so the math helpers live beside the kernels that inline
them and an edit here invalidates every kernel that depends on it.

Shapes: n rows in a block (active batch rows at one step), H hidden size,
M scored positions, V vocabulary size.  LSTM pre-activations have shape
(n, 4H) with gates in the notebook's order i, f, o, g.

Transcendentals.  float64 kernels call libm (exact, used for gradient checks).
float32 kernels use the branch-free ``exp`` and ``tanh`` below, which LLVM
vectorises: the PyPI llvmlite has no SVML, so libm calls would run one element
at a time, about 40x slower than the rest of a training step can afford.
Both stay within a few float32 ulps (``tests/test_kernels.py`` checks them
against libm on a dense grid).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic, overload

from ._jit import KernelPair, inline_njit, serial_njit, sum_njit

# ---------------------------------------------------------------- fast math (float32)


@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret an int32 as a float32 (used to build 2**n)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


_LN2_HI = np.float32(0.693359375)  # ln 2 split in two for exact range reduction
_LN2_LO = np.float32(-2.12194440e-4)
_LOG2E = np.float32(1.44269504)


@inline_njit
def exp32(x):
    """exp(x) for float32 x; 0 below -87 (where float32 exp becomes subnormal), NaN stays NaN."""
    lo = np.float32(-87.0)
    hi = np.float32(88.0)
    # A NaN-free copy for the integer part: fptosi of NaN would be undefined.
    xs = x if (x > lo and x < hi) else (lo if x <= lo else hi)
    n = np.floor(xs * _LOG2E + np.float32(0.5))
    r = x - n * _LN2_HI - n * _LN2_LO  # |r| <= ln(2)/2
    # Taylor series to r**7: truncation error < 6e-9 relative on |r| <= 0.347.
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    scale = _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))
    out = p * scale
    return np.float32(0.0) if x < lo else out


@inline_njit
def tanh32(x):
    """tanh(x) for float32 x: odd Taylor polynomial near 0, (1 - e)/(1 + e) with e = exp(-2|x|) beyond."""
    ax = abs(x)
    x2 = x * x
    # |x| < 0.25: terms to x**9; the x**11 term is < 4e-9 there.
    q = np.float32(62.0 / 2835.0)
    q = q * x2 - np.float32(17.0 / 315.0)
    q = q * x2 + np.float32(2.0 / 15.0)
    q = q * x2 - np.float32(1.0 / 3.0)
    small = x + x * x2 * q
    e = exp32(np.float32(-2.0) * ax)
    t = (np.float32(1.0) - e) / (np.float32(1.0) + e)
    large = t if x >= 0 else -t
    return small if ax < np.float32(0.25) else large


# ------------------------------------------------- dtype dispatch: exact for float64


def exp_(x):
    """exp: :func:`exp32` for float32, libm for float64 (Numba-only; see the overload)."""
    return math.exp(x)


def tanh_(x):
    """tanh: :func:`tanh32` for float32, libm for float64 (Numba-only; see the overload)."""
    return math.tanh(x)


def as_type_of(x, value):
    """``value`` in the floating type of ``x``: a bare ``1`` or a float64 would promote float32 math."""
    return value


@overload(as_type_of)
def _as_type_of_impl(x, value):
    if x == types.float32:
        return lambda x, value: np.float32(value)
    return lambda x, value: np.float64(value)


@inline_njit
def one_like(x):
    return as_type_of(x, 1.0)


@overload(exp_)
def _exp_impl(x):
    if x == types.float32:
        return lambda x: exp32(x)
    return lambda x: math.exp(x)


@overload(tanh_)
def _tanh_impl(x):
    if x == types.float32:
        return lambda x: tanh32(x)
    return lambda x: math.tanh(x)


@inline_njit
def sigmoid(x):
    """Overflow-free logistic function: exp only ever sees -|x|."""
    e = exp_(-abs(x))
    one = one_like(e)
    r = one / (one + e)
    return r if x >= 0 else e * r


# ------------------------------------------------------------------------ gate kernels


@KernelPair
def lstm_gates_forward(a, xa, rows, c_prev, h, c, tc):
    """a <- gates(a + xa[rows]); c = f*c_prev + i*g; tc = tanh(c); h = o*tc.

    a: (n, 4H); xa: (U, 4H) input projections; rows: (n,) the row of xa each row adds;
    c_prev, h, c, tc: (n, H).  ``a`` is overwritten in place.
    """
    n = a.shape[0]
    H = h.shape[1]
    for r in prange(n):
        ar, xr = a[r], xa[rows[r]]
        for j in range(3 * H):  # i, f, o are contiguous
            ar[j] = sigmoid(ar[j] + xr[j])
        ai, af, ao, ag = ar[:H], ar[H : 2 * H], ar[2 * H : 3 * H], ar[3 * H :]
        xg = xr[3 * H :]
        for j in range(H):
            ag[j] = tanh_(ag[j] + xg[j])
        cp, hr, cr, tr = c_prev[r], h[r], c[r], tc[r]
        for j in range(H):
            cn = af[j] * cp[j] + ai[j] * ag[j]
            t = tanh_(cn)
            cr[j] = cn
            tr[j] = t
            hr[j] = ao[j] * t


@KernelPair
def lstm_gates_backward(dh_out, dh_rec, dc, gates, c_prev, tc, da):
    """Backward through one LSTM step's element-wise part.

    dh_out, dh_rec: (n, H) gradient on h from the output and from step t+1;
    dc: (n, H) gradient on c from step t+1, overwritten with the gradient on c_prev;
    gates: (n, 4H) activations i, f, o, g; c_prev, tc: (n, H); da: (n, 4H) output.
    """
    n = da.shape[0]
    H = tc.shape[1]
    for r in prange(n):
        gr, dr = gates[r], da[r]
        gi, gf, go, gg = gr[:H], gr[H : 2 * H], gr[2 * H : 3 * H], gr[3 * H :]
        di, df, do, dg = dr[:H], dr[H : 2 * H], dr[2 * H : 3 * H], dr[3 * H :]
        dho, dhr, dcr, cp, tr = dh_out[r], dh_rec[r], dc[r], c_prev[r], tc[r]
        for j in range(H):
            i, f, o, g, t = gi[j], gf[j], go[j], gg[j], tr[j]
            one = one_like(t)
            dh = dho[j] + dhr[j]
            dct = dcr[j] + dh * o * (one - t * t)
            di[j] = dct * g * i * (one - i)
            df[j] = dct * cp[j] * f * (one - f)
            do[j] = dh * t * o * (one - o)
            dg[j] = dct * i * (one - g * g)
            dcr[j] = dct * f


@KernelPair
def rnn_tanh_forward(a, xa, rows):
    """a <- tanh(a + xa[rows]), in place.  a: (n, H); xa: (U, H) input projections; rows: (n,)."""
    n, H = a.shape
    for r in prange(n):
        ar, xr = a[r], xa[rows[r]]
        for j in range(H):
            ar[j] = tanh_(ar[j] + xr[j])


@KernelPair
def rnn_tanh_backward(dh_out, dh_rec, h, da):
    """da = (dh_out + dh_rec) * (1 - h**2).  All (n, H)."""
    n, H = h.shape
    for r in prange(n):
        dr, dho, dhr, hr = da[r], dh_out[r], dh_rec[r], h[r]
        for j in range(H):
            y = hr[j]
            dr[j] = (dho[j] + dhr[j]) * (one_like(y) - y * y)


# ------------------------------------------------------------- decoding steps
# A decoding step continues state row ``parents[r]`` with word ``words[r]``: beam
# hypotheses that share a parent share its ``h @ Wh``, computed once.  The input
# projection is looked up in the (V, G) table inside the kernel and the LSTM's gate
# activations stay in a row buffer, so no (n, G) array is written.  The arithmetic
# is that of the training kernels above, in the same order: the same bits.


@serial_njit
def lstm_decode_step(a, parents, table, words, c_prev, h, c):
    """h, c <- one LSTM step of n rows from m state rows.

    a: (m, 4H) pre-activations h_prev @ Wh of the state rows; parents: (n,) state row of
    each row; table: (V, 4H) input projection of every word; words: (n,) ids;
    c_prev: (m, H) cell states; h, c: (n, H) outputs.
    """
    n, H = h.shape
    buf = np.empty(4 * H, dtype=a.dtype)
    for r in range(n):
        p = parents[r]
        ar, xr = a[p], table[words[r]]
        for j in range(3 * H):
            buf[j] = sigmoid(ar[j] + xr[j])
        for j in range(3 * H, 4 * H):
            buf[j] = tanh_(ar[j] + xr[j])
        cp, hr, cr = c_prev[p], h[r], c[r]
        for j in range(H):
            cn = buf[H + j] * cp[j] + buf[j] * buf[3 * H + j]
            cr[j] = cn
            hr[j] = buf[2 * H + j] * tanh_(cn)


@serial_njit
def rnn_decode_step(a, parents, table, words, h):
    """h <- tanh(a[parents] + table[words]): one RNN step of n rows from m state rows.

    a: (m, H) h_prev @ Wh; parents, words: (n,); table: (V, H); h: (n, H) output.
    """
    n, H = h.shape
    for r in range(n):
        ar, xr, hr = a[parents[r]], table[words[r]], h[r]
        for j in range(H):
            hr[j] = tanh_(ar[j] + xr[j])


# ------------------------------------------------------------------ softmax + x-entropy

_MAX_LANES = 16


@serial_njit
def _row_max(x):
    """Max of a row, NaNs skipped, in 16 independent lanes so LLVM vectorises it.

    A max is exact in any order, so the lanes change nothing but speed.
    """
    V = x.shape[0]
    acc = np.full(_MAX_LANES, x[0])
    full = V - V % _MAX_LANES
    for v in range(0, full, _MAX_LANES):
        for k in range(_MAX_LANES):
            xv = x[v + k]
            acc[k] = xv if xv > acc[k] else acc[k]
    m = acc[0]
    for k in range(_MAX_LANES):
        m = acc[k] if acc[k] > m else m
    for v in range(full, V):
        m = x[v] if x[v] > m else m
    return m


@sum_njit
def _row_sum(x):
    s = 0.0
    for v in range(x.shape[0]):
        s += x[v]
    return s


@KernelPair
def softmax_xent(scores, targets, weights, losses):
    """Per-row weighted cross-entropy; ``scores`` is overwritten with its gradient.

    scores: (M, V) logits -> weights[r] * (softmax(scores[r]) - onehot(targets[r]));
    targets: (M,) int; weights: (M,); losses: (M,) float64 output,
    weights[r] * -log p[targets[r]].  Rows with weight 0 get zero gradient and loss.
    """
    M, V = scores.shape
    for r in prange(M):
        row = scores[r]
        w = weights[r]
        if w == 0.0:
            row[:] = 0.0
            losses[r] = 0.0
            continue
        y = targets[r]
        m = _row_max(row)
        zy = float(row[y] - m)
        for v in range(V):
            row[v] = exp_(row[v] - m)
        s = _row_sum(row)
        scale = as_type_of(row[0], w / s)
        for v in range(V):
            row[v] = row[v] * scale
        row[y] -= w
        losses[r] = w * (math.log(s) - zy)


# ----------------------------------------------------------------- decoding


@serial_njit
def _log_normalizer(row, buf):
    """log(sum(exp(row))) in float64 for one row of scores (V,); ``buf`` (V,) is scratch."""
    m = _row_max(row)
    for v in range(row.shape[0]):
        buf[v] = exp_(row[v] - m)
    return float(m) + math.log(_row_sum(buf))


@serial_njit
def log_normalizers(scores, out):
    """out[r] = log(sum(exp(scores[r]))), float64, for scores (n, V): log p(w) = scores[r, w] - out[r]."""
    buf = np.empty(scores.shape[1], dtype=scores.dtype)
    for r in range(scores.shape[0]):
        out[r] = _log_normalizer(scores[r], buf)


@inline_njit
def _insert(val, idx, count, c, f):
    """Put candidate (c, f) into the descending top list val/idx holding ``count`` entries; returns the new count.

    A candidate enters only if it beats the last of a full list: ties keep the earlier one.
    """
    k = val.shape[0]
    if count == k and not c > val[k - 1]:
        return count
    p = min(count, k - 1)
    while p > 0 and c > val[p - 1]:
        val[p], idx[p] = val[p - 1], idx[p - 1]
        p -= 1
    val[p], idx[p] = c, f
    return min(count + 1, k)


@serial_njit
def _row_top(row, null, start, val, idx):
    """The k = len(val) largest entries of row (V,) other than ``null`` and ``start`` into val/idx,
    best first (ties: the lower index); returns how many (min(k, V - 2)).

    Once k words are held, each block of 16 words is first checked against the
    k-th best with no insertion; only a block holding a word above it is walked
    word by word, so most of the row costs one compare per word and no branch.
    """
    k = val.shape[0]
    V = row.shape[0]
    count = 0
    full = V - V % _MAX_LANES
    for b in range(0, V, _MAX_LANES):
        if count == k and b < full:
            hit = False
            thr = val[k - 1]
            for q in range(_MAX_LANES):
                hit |= row[b + q] > thr
            if not hit:
                continue
        for w in range(b, min(b + _MAX_LANES, V)):
            if w != null and w != start:
                if count < k or row[w] > val[k - 1]:
                    count = _insert(val, idx, count, row[w], w)
    return count


@serial_njit
def greedy_pick(scores, rows, null, start, word, logp):
    """Each listed row's best word other than ``null`` and ``start`` (ties: the lower id) and its log-probability.

    scores: (R, V); rows: (n,) rows of scores; word: (n,) int64 and logp: (n,) float64 outputs.
    """
    buf = np.empty(scores.shape[1], dtype=scores.dtype)
    val, idx = np.empty(1, dtype=scores.dtype), np.empty(1, dtype=np.int64)
    for i in range(rows.shape[0]):
        row = scores[rows[i]]
        _row_top(row, null, start, val, idx)
        word[i] = idx[0]
        logp[i] = float(val[0]) - _log_normalizer(row, buf)


@serial_njit
def beam_select(scores, active, logp, done, null, start, new_logp, src, word):
    """One beam-search step for n images of k hypotheses: the k best continuations of each image.

    scores: (R, V) next-word scores of the computed hypotheses; active: (n, k) row of
    each hypothesis in ``scores``, -1 where it was not computed (it has ended, or
    its log-probability is -inf); logp: (n, k) float64 log-probabilities; done:
    (n, k) ended hypotheses, which continue only with ``null`` at no cost.
    Continuations with ``null`` or ``start`` are forbidden.  Candidates are ranked
    by log-probability, ties by (beam, word); the k best go to new_logp (n, k)
    float64, src (n, k) parent beam and word (n, k), best first.  A row's own k
    best words are found first (one compare per word), then merged.
    """
    n, k = logp.shape
    V = scores.shape[1]
    buf = np.empty(V, dtype=scores.dtype)
    val, idx = np.empty(k), np.empty(k, dtype=np.int64)
    row_val, row_idx = np.empty(k, dtype=scores.dtype), np.empty(k, dtype=np.int64)
    for i in range(n):
        count = 0
        for j in range(k):
            r = active[i, j]
            if done[i, j]:
                count = _insert(val, idx, count, logp[i, j], j * V + null)
            elif r < 0:  # log-probability -inf: every continuation is -inf, k of them suffice
                for w in range(min(V, k + 2)):
                    if w != null and w != start:
                        count = _insert(val, idx, count, -np.inf, j * V + w)
            else:
                row = scores[r]
                row_count = _row_top(row, null, start, row_val, row_idx)
                base = logp[i, j] - _log_normalizer(row, buf)
                for p in range(row_count):
                    count = _insert(val, idx, count, base + float(row_val[p]), j * V + row_idx[p])
        for p in range(k):
            new_logp[i, p] = val[p]
            src[i, p] = idx[p] // V
            word[i, p] = idx[p] % V
