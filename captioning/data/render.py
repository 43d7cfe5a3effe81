"""Rasterise scenes into uint8 RGB images over a noisy, cluttered background."""

from __future__ import annotations

import numpy as np

from .scenes import COLORS, SIZES, Obj


def _mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Pixels inside a shape of radius r centred at the origin; dx, dy in pixels."""
    if shape == "circle":
        return dx**2 + dy**2 <= r**2
    if shape == "square":
        s = r * 0.85
        return (np.abs(dx) <= s) & (np.abs(dy) <= s)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r * 1.15
    if shape == "triangle":  # apex up, base at dy = +r/2
        h = 1.5 * r
        top = -r
        t = (dy - top) / h  # 0 at the apex, 1 at the base
        return (t >= 0) & (t <= 1) & (np.abs(dx) <= t * r * 0.95)
    raise ValueError(f"unknown shape {shape!r}")


def render(
    scene: list[Obj], rng: np.random.Generator, size: int = 64, noise: float = 0.06, clutter: int = 3
) -> np.ndarray:
    """One (size, size, 3) uint8 image: grey noisy background, faint clutter lines, then the objects."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = rng.uniform(0.15, 0.35)
    for _ in range(int(rng.integers(0, clutter + 1))):  # faint low-saturation strokes
        x0, y0, x1, y1 = rng.uniform(0, size, 4)
        length = np.hypot(x1 - x0, y1 - y0) + 1e-6
        dist = np.abs((y1 - y0) * xx - (x1 - x0) * yy + x1 * y0 - y1 * x0) / length
        along = ((xx - x0) * (x1 - x0) + (yy - y0) * (y1 - y0)) / length**2
        line = (dist < 0.7) & (along >= 0) & (along <= 1)
        img[line] = img[line] * 0.6 + rng.uniform(0.2, 0.5) * 0.4
    for o in scene:
        m = _mask(o.shape, xx - o.x * size, yy - o.y * size, SIZES[o.size] * size)
        rgb = np.clip(np.asarray(COLORS[o.color]) + rng.normal(0, 0.04, 3), 0, 1)
        img[m] = rgb
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
