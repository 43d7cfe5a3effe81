"""Random scenes of coloured shapes, and the captions people would write for them.

A scene is a list of :class:`Obj`; rendering lives in :mod:`.render` and the
image features in :mod:`.features`, which only ever see pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..vocab import SPECIAL_TOKENS

SHAPES = ("circle", "square", "triangle", "diamond")
PLURAL = {s: s + "s" for s in SHAPES}
COLORS = {  # RGB in [0, 1]
    "red": (0.85, 0.12, 0.10),
    "green": (0.15, 0.70, 0.20),
    "blue": (0.15, 0.30, 0.90),
    "yellow": (0.92, 0.85, 0.15),
    "purple": (0.60, 0.20, 0.75),
    "white": (0.95, 0.95, 0.95),
}
SIZES = {"small": 0.11, "large": 0.19}  # radius as a fraction of the image side
SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
COUNT_WORDS = {2: "two", 3: "three"}


@dataclass(frozen=True)
class Obj:
    shape: str
    color: str
    size: str
    x: float  # centre, fraction of the width (0 = left)
    y: float  # centre, fraction of the height (0 = top)


def random_scene(rng: np.random.Generator, max_objects: int = 3) -> list[Obj]:
    """1..max_objects non-overlapping objects at random places."""
    n = int(rng.choice(np.arange(1, max_objects + 1), p=_count_probs(max_objects)))
    objs: list[Obj] = []
    while len(objs) < n:
        size = str(rng.choice(list(SIZES)))
        r = SIZES[size]
        x, y = rng.uniform(r + 0.02, 1 - r - 0.02, size=2)
        if all((x - o.x) ** 2 + (y - o.y) ** 2 > (r + SIZES[o.size] + 0.04) ** 2 for o in objs):
            objs.append(Obj(str(rng.choice(SHAPES)), str(rng.choice(list(COLORS))), size, float(x), float(y)))
    return objs


def _count_probs(max_objects: int) -> np.ndarray:
    p = np.array([0.4, 0.4, 0.2][:max_objects] + [0.1] * max(0, max_objects - 3))
    return p / p.sum()


# ------------------------------------------------------------------- captions


def _where(o: Obj) -> str:
    col = "left" if o.x < 0.38 else "right" if o.x > 0.62 else ""
    row = "top" if o.y < 0.38 else "bottom" if o.y > 0.62 else ""
    if col and row:
        return f"{row} {col}"
    return col or row or "center"


def _relation(a: Obj, b: Obj) -> str:
    """Where a is relative to b, by the dominant axis."""
    dx, dy = a.x - b.x, a.y - b.y
    if abs(dx) >= abs(dy):
        return "to the left of" if dx < 0 else "to the right of"
    return "above" if dy < 0 else "below"


class _Phraser:
    """Fills templates, choosing synonyms and optional adjectives with one rng."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def size(self, o: Obj) -> str:
        return str(self.rng.choice(SIZE_WORDS[o.size]))

    def np(self, o: Obj, det: str = "a") -> str:
        """A noun phrase for one object, sometimes with its size."""
        if self.rng.random() < 0.4:
            return f"{det} {self.size(o)} {o.color} {o.shape}"
        return f"{det} {o.color} {o.shape}"


def _templates_one(p: _Phraser, o: Obj) -> list[str]:
    where = _where(o)
    at = f"in the {where}" if where != "center" else "in the middle"
    return [
        f"{p.np(o)} {at}",
        f"there is {p.np(o)} {at}",
        f"{p.np(o)} on a noisy background",
        f"a picture of a {p.size(o)} {o.shape} colored {o.color}",
        f"one {o.color} {o.shape} near the {where}",
        f"a {o.shape} that is {o.color}",
        f"{p.np(o)}",
        f"a {p.size(o)} {o.shape} in {o.color}",
    ]


def _templates_two(p: _Phraser, a: Obj, b: Obj) -> list[str]:
    rel_ab, rel_ba = _relation(a, b), _relation(b, a)
    out = [
        f"{p.np(a)} {rel_ab} {p.np(b)}",
        f"{p.np(b)} {rel_ba} {p.np(a)}",
        f"{p.np(a)} and {p.np(b)}",
        f"two shapes : {p.np(a)} and {p.np(b)}",
        f"a {a.color} {a.shape} next to a {b.color} {b.shape}",
        f"{p.np(a)} near {p.np(b)} on a noisy background",
    ]
    if a.shape == b.shape:
        out.append(f"two {PLURAL[a.shape]} one {a.color} and one {b.color}")
    if a.color == b.color:
        out.append(f"two {a.color} shapes")
    return out


def _templates_many(p: _Phraser, objs: list[Obj]) -> list[str]:
    a, b, c = objs[0], objs[1], objs[2]
    n = COUNT_WORDS.get(len(objs), "several")
    out = [
        f"{n} shapes including {p.np(a)} and {p.np(b)}",
        f"{p.np(a)} , {p.np(b)} and {p.np(c)}",
        f"{n} objects including {p.np(a)}",
        f"{p.np(a)} {_relation(a, b)} {p.np(b)}",
        f"a {a.color} {a.shape} a {b.color} {b.shape} and a {c.color} {c.shape}",
    ]
    if len({o.shape for o in objs}) == 1:
        out.append(
            f"{n} {PLURAL[a.shape]} of different colors"
            if len({o.color for o in objs}) > 1
            else f"{n} {a.color} {PLURAL[a.shape]}"
        )
    if len({o.color for o in objs}) == 1:
        out.append(f"{n} {a.color} shapes")
    return out


CAPTION_STYLES = ("standard", "memory")
LISTING = ", from left to right :"  # the memory style's distractors: every object again, in the image's order
RECALL = ", in order :"  # then what the description named, in the order it named it
DESCRIPTION_WORDS = 15  # the memory style's descriptions: those of the standard style's default length
MEMORY_WORDS = DESCRIPTION_WORDS + 26  # and its two parts for three objects: 14 and 12 words


def memory_tail(caption: str, scene: list[Obj]) -> str:
    """The caption, then every object of the scene from left to right, then what the caption named, in its order.

    "a red circle above a blue square" becomes "a red circle above a blue square ,
    from left to right : blue square , red circle , in order : red circle , blue square".
    The recall part needs the order in which the description named the objects,
    which the image does not show and the listing between (the same colours and
    shapes, in the image's order) disturbs: 13 to 30 words back. A colour named
    without its shape right after it ("a square colored red") is recalled alone.
    """
    listing = " , ".join(f"{o.color} {o.shape}" for o in sorted(scene, key=lambda o: o.x))
    words = caption.split()
    named = [
        f"{w} {nxt}" if nxt in SHAPES else w for w, nxt in zip(words, [*words[1:], ""], strict=True) if w in COLORS
    ]
    recall = f" {RECALL} {' , '.join(named)}" if named else ""
    return f"{caption} {LISTING} {listing}{recall}"


def captions_for(
    scene: list[Obj], rng: np.random.Generator, k: int = 5, max_words: int = 15, style: str = "standard"
) -> list[str]:
    """k different captions, each from a different template, shuffled object order included.

    ``max_words`` bounds a caption's words. ``style`` "memory": the description's
    words are bounded by DESCRIPTION_WORDS instead, and each caption goes on with
    :func:`memory_tail` (which draws nothing from ``rng``: with the same seed, the
    scenes and descriptions are the standard style's at its default length).
    """
    p = _Phraser(rng)
    objs = [scene[i] for i in rng.permutation(len(scene))]
    if len(objs) == 1:
        pool = _templates_one(p, objs[0])
    elif len(objs) == 2:
        pool = _templates_two(p, *objs)
    else:
        pool = _templates_many(p, objs)
    if style == "memory":
        pool = [memory_tail(c, scene) for c in dict.fromkeys(pool) if len(c.split()) <= DESCRIPTION_WORDS]
    else:
        pool = [c for c in dict.fromkeys(pool) if len(c.split()) <= max_words]
    picks = rng.choice(len(pool), size=k, replace=len(pool) < k)
    return [pool[i] for i in picks]


def vocabulary(style: str = "standard") -> list[str]:
    """Every word the templates of ``style`` can produce, after the special tokens."""
    words = set()
    for s in SHAPES:
        words |= {s, PLURAL[s]}
    words |= set(COLORS) | {w for ws in SIZE_WORDS.values() for w in ws} | set(COUNT_WORDS.values())
    words |= set(
        "a an and one there is are in the on of to left right above below top bottom middle center near "
        "noisy background picture colored that next shapes objects including different colors , : several".split()
    )
    if style == "memory":
        words |= set(LISTING.split()) | set(RECALL.split())
    return [*SPECIAL_TOKENS, *sorted(words)]
