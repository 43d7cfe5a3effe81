"""A fixed, pixel-only image feature extractor for the synthetic data.

It never sees a scene description: it computes generic colour and edge
statistics, pooled over a spatial pyramid, the hand-made analogue of a CNN's
fc7 layer.

Per pixel (S x S image):
  * colour: 12 soft hue bins weighted by saturation x value, plus "bright grey"
    and "dark grey" (14 channels);
  * edges: Sobel gradient magnitude in 8 soft orientation bins;
  * colour x edge: each colour channel (blurred 3x3, so that a shape's outline
    counts for the colour inside it) times each orientation (112 channels).
Each of the 134 channels is averaged over a 1x1, 2x2 and 4x4 pyramid
(21 cells) and square-rooted: 2814 features per image.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm.auto import tqdm

from .. import _validate as check

HUE_BINS = 12
ORIENT_BINS = 8
PYRAMID = (1, 2, 4)
N_FEATURES = (HUE_BINS + 2 + ORIENT_BINS + (HUE_BINS + 2) * ORIENT_BINS) * sum(g * g for g in PYRAMID)


def _hsv(x: np.ndarray):
    """x: (n, S, S, 3) float in [0, 1] -> hue in [0, 1), saturation, value."""
    mx, mn = x.max(axis=-1), x.min(axis=-1)
    delta = mx - mn
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    safe = np.where(delta > 0, delta, 1)
    h = np.where(mx == r, (g - b) / safe % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6
    s = np.where(mx > 0, delta / np.where(mx > 0, mx, 1), 0)
    return h, s, mx


def _soft_bins(value: np.ndarray, n: int, circular: bool) -> np.ndarray:
    """Triangular soft assignment of values in [0, 1) to n bins -> (..., n)."""
    pos = value * n - 0.5
    lo = np.floor(pos)
    w_hi = pos - lo
    out = np.zeros(value.shape + (n,), dtype=np.float32)
    lo_i = lo.astype(int)
    hi_i = lo_i + 1
    if circular:
        lo_i %= n
        hi_i %= n
    else:
        lo_i = np.clip(lo_i, 0, n - 1)
        hi_i = np.clip(hi_i, 0, n - 1)
    np.put_along_axis(out, lo_i[..., None], (1 - w_hi)[..., None], axis=-1)
    np.put_along_axis(out, hi_i[..., None], np.take_along_axis(out, hi_i[..., None], -1) + w_hi[..., None], axis=-1)
    return out


def _blur3(x: np.ndarray) -> np.ndarray:
    """3x3 box blur over axes 1 and 2 with edge padding."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    out = np.zeros_like(x)
    S1, S2 = x.shape[1], x.shape[2]
    for i in range(3):
        for j in range(3):
            out += p[:, i : i + S1, j : j + S2]
    return out / 9


def _sobel(v: np.ndarray):
    p = np.pad(v, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = (p[:, :-2, 2:] + 2 * p[:, 1:-1, 2:] + p[:, 2:, 2:]) - (p[:, :-2, :-2] + 2 * p[:, 1:-1, :-2] + p[:, 2:, :-2])
    gy = (p[:, 2:, :-2] + 2 * p[:, 2:, 1:-1] + p[:, 2:, 2:]) - (p[:, :-2, :-2] + 2 * p[:, :-2, 1:-1] + p[:, :-2, 2:])
    return gx, gy


def _cells(maps: np.ndarray, g: int) -> np.ndarray:
    """(n, S, S, C) -> (n, g*g, (S/g)**2, C): the pixels of each cell of a g x g grid."""
    n, S, _, C = maps.shape
    k = S // g
    return maps.reshape(n, g, k, g, k, C).transpose(0, 1, 3, 2, 4, 5).reshape(n, g * g, k * k, C)


def _pyramid(fine: np.ndarray, finest: int) -> np.ndarray:
    """Per-cell means on the finest grid (n, finest, finest, C) -> (n, cells * C) over every level."""
    n, _, _, C = fine.shape
    out = []
    for g in PYRAMID:
        k = finest // g
        out.append(fine.reshape(n, g, k, g, k, C).mean(axis=(2, 4)).reshape(n, g * g * C))
    return np.concatenate(out, axis=1)


def extract_batch(images: np.ndarray) -> np.ndarray:
    """images: (n, S, S, 3) uint8, S divisible by 4 -> (n, N_FEATURES) float32."""
    x = images.astype(np.float32) / 255
    h, s, v = _hsv(x)
    chroma = _soft_bins(h, HUE_BINS, circular=True) * (s * v)[..., None]
    grey = 1 - s
    colour = np.concatenate([chroma, (grey * v)[..., None], (grey * (1 - v))[..., None]], axis=-1)
    gx, gy = _sobel(v)
    mag = np.hypot(gx, gy)
    theta = (np.arctan2(gy, gx) % np.pi) / np.pi
    orient = _soft_bins(theta, ORIENT_BINS, circular=True) * mag[..., None]
    # colour x orientation pooled per cell, without the (n, S, S, 112) map: for
    # each cell the sum over its pixels of outer(colour, orient) is one matmul.
    g = PYRAMID[-1]
    cb, oc = _cells(_blur3(colour), g), _cells(orient, g)
    joint = np.matmul(cb.transpose(0, 1, 3, 2), oc) / cb.shape[2]  # (n, g*g, 14, 8)
    n = len(images)
    fine = np.concatenate(
        [_cells(colour, g).mean(axis=2), oc.mean(axis=2), joint.reshape(n, g * g, -1)], axis=-1
    ).reshape(n, g, g, -1)
    return np.sqrt(np.maximum(_pyramid(fine, g), 0)).astype(np.float32)


def extract_features(images: np.ndarray, batch_size: int = 128, progress: bool = False, workers: int = 1) -> np.ndarray:
    """All images, in batches: (n, S, S, 3) uint8 -> (n, N_FEATURES) float32.

    ``workers`` threads extract batches at once (NumPy releases the GIL); every
    image's features are the same whatever the batching or the number of workers.
    """
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] % 4 or images.dtype != np.uint8:
        raise ValueError(
            "extract_features: images must be uint8 (n, S, S, 3) with S divisible by 4, "
            f"got {images.dtype} {images.shape}"
        )
    check.positive_int("extract_features: workers", workers)
    out = np.empty((len(images), N_FEATURES), dtype=np.float32)
    starts = range(0, len(images), batch_size)

    def one(start):
        out[start : start + batch_size] = extract_batch(images[start : start + batch_size])

    with ThreadPoolExecutor(workers) as pool:
        for _ in tqdm(pool.map(one, starts), total=len(starts), desc="features", disable=not progress, unit="batch"):
            pass
    return out
