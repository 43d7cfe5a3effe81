"""The cs231n vocabulary convention: four special tokens, and token ids back to words.

Shapes: N captions, L tokens per caption.
"""

from __future__ import annotations

import numpy as np

NULL, START, END, UNK = "<NULL>", "<START>", "<END>", "<UNK>"
SPECIAL_TOKENS = (NULL, START, END, UNK)  # ids 0-3 of every vocabulary this package writes


def decode_captions(captions, idx_to_word, plain: bool = False):
    """Token ids -> strings.  captions: (L,) -> str, or (N, L) -> list of N str.

    The notebook's form (default): ``<NULL>`` dropped, words up to and including
    ``<END>``, e.g. ``"<START> a red circle <END>"``.  ``plain=True`` gives the
    sentence alone, as captions are scored: every special token dropped and cut
    at ``<END>``, e.g. ``"a red circle"``.
    """
    captions = np.asarray(captions)
    drop = set(SPECIAL_TOKENS) if plain else {NULL}
    decoded = []
    for row in np.atleast_2d(captions):
        words = []
        for token in row:
            word = idx_to_word[int(token)]
            if word not in drop:
                words.append(word)
            if word == END:
                break
        decoded.append(" ".join(words))
    return decoded[0] if captions.ndim == 1 else decoded
