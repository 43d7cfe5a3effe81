"""CaptioningRNN: image features -> initial hidden state -> word-by-word language model.

Shapes: N batch, T caption steps, D image-feature size, W word-vector size,
H hidden size, V vocabulary size, P packed (row, step) positions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _validate as check
from .cells import get_cell
from .kernels.embedding import scatter_add_rows
from .layers.temporal import softmax_loss_rows
from .packing import pack_order, sequence_lengths
from .sampling import greedy_decode
from .vocab import END, NULL, START


class _LossContext(NamedTuple):
    """What the backward pass needs from the forward pass of :meth:`CaptioningRNN.loss`."""

    features: np.ndarray  # (N, D)
    h0: np.ndarray  # (N, H)
    order: np.ndarray  # (N,) rows sorted by length
    words: np.ndarray  # (U,) distinct input words
    inverse: np.ndarray  # (P,) index into words of each packed position
    x_words: np.ndarray  # (U, W)
    xa_words: np.ndarray  # (U, gH)
    hs: np.ndarray  # (P, H)
    core: tuple  # the cell's cache
    sel: object  # packed positions with a target: a slice (all) or an index array
    h_sel: np.ndarray  # (M, H)
    dscores: np.ndarray  # (M, V) gradient of the loss w.r.t. the scores


class CaptioningRNN:
    """The notebook's captioning model, with a ``seed`` for its initialisation.

    ``params`` holds W_embed (V, W), W_proj (D, H), b_proj (H,), Wx (W, gH),
    Wh (H, gH), b (gH,), W_vocab (H, V), b_vocab (V,), with g = 1 for 'rnn'
    and 4 for 'lstm'.
    """

    def __init__(
        self,
        word_to_idx,
        input_dim=512,
        wordvec_dim=128,
        hidden_dim=128,
        cell_type="rnn",
        dtype=np.float32,
        seed=0,
    ):
        if not isinstance(word_to_idx, dict) or NULL not in word_to_idx:
            raise ValueError(f"CaptioningRNN: word_to_idx must be a dict containing '{NULL}'")
        for name, value in (("input_dim", input_dim), ("wordvec_dim", wordvec_dim), ("hidden_dim", hidden_dim)):
            check.positive_int(f"CaptioningRNN: {name}", value)
        self.dtype = np.dtype(dtype)
        if self.dtype not in check.FLOAT_DTYPES:
            raise ValueError(f"CaptioningRNN: dtype must be float32 or float64, got {self.dtype}")
        self.cell = get_cell(cell_type)
        self.cell_type = cell_type
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        # token ids of the special words (start and end are None when the vocabulary lacks them)
        self.null_id: int = word_to_idx[NULL]
        self.start_id: int | None = word_to_idx.get(START)
        self.end_id: int | None = word_to_idx.get(END)
        self.input_dim, self.wordvec_dim, self.hidden_dim = int(input_dim), int(wordvec_dim), int(hidden_dim)
        self.seed = seed

        V, D, W, H = len(word_to_idx), self.input_dim, self.wordvec_dim, self.hidden_dim
        G = self.cell.gates * H
        rng = np.random.default_rng(seed)
        params = {
            "W_embed": rng.standard_normal((V, W)) / 100,
            "W_proj": rng.standard_normal((D, H)) / np.sqrt(D),
            "b_proj": np.zeros(H),
            "Wx": rng.standard_normal((W, G)) / np.sqrt(W),
            "Wh": rng.standard_normal((H, G)) / np.sqrt(H),
            "b": np.zeros(G),
            "W_vocab": rng.standard_normal((H, V)) / np.sqrt(H),
            "b_vocab": np.zeros(V),
        }
        self.params = {k: v.astype(self.dtype) for k, v in params.items()}

    @property
    def vocab_size(self) -> int:
        return len(self.word_to_idx)

    def config(self) -> dict:
        """Constructor arguments, enough to rebuild the model (with ``word_to_idx``)."""
        return {
            "input_dim": self.input_dim,
            "wordvec_dim": self.wordvec_dim,
            "hidden_dim": self.hidden_dim,
            "cell_type": self.cell_type,
            "dtype": self.dtype.name,
            "seed": self.seed,
        }

    def check_features(self, fn: str, features) -> np.ndarray:
        if not isinstance(features, np.ndarray) or features.dtype != self.dtype:
            got = features.dtype if isinstance(features, np.ndarray) else type(features).__name__
            raise ValueError(f"{fn}: features must be a {self.dtype} array (the model's dtype), got {got}")
        check.shape(fn, "features", features, (None, self.input_dim), "(N, D)")
        return features

    def loss(self, features, captions):
        """Masked softmax loss summed over time, averaged over the batch, and its gradients.

        features: (N, D); captions: (N, T + 1) ids, inputs ``[:, :-1]`` predict ``[:, 1:]``.
        Returns ``(loss, grads)`` with ``grads`` keyed like ``params``.
        """
        loss, ctx = self._forward("CaptioningRNN.loss", features, captions)
        return loss, self._backward(ctx)

    def nll(self, features, captions) -> float:
        """The loss of :meth:`loss` without the backward pass (for evaluation)."""
        return self._forward("CaptioningRNN.nll", features, captions)[0]

    def weighted_loss(self, features, captions, advantages):
        """Policy-gradient loss ``-sum_i a_i sum_t log p(w_it) m_it / sum(m)`` and its gradients.

        features: (N, D); captions: (N, T + 1) ids, each a ``<START>``-led sampled caption
        with ``<NULL>`` after its ``<END>``, so the mask ``m`` covers every word up to and
        including the first ``<END>`` (a caption that never ends: all its words);
        advantages: (N,) one weight per caption (no gradient flows into them).  With every
        ``a_i = 1`` it is the token-mean cross-entropy of the captions.  Returns ``(loss, grads)``.
        """
        fn = "CaptioningRNN.weighted_loss"
        advantages = np.asarray(advantages, dtype=np.float64)
        check.shape(fn, "advantages", advantages, (np.shape(captions)[0],), "(N,)")
        if not np.isfinite(advantages).all():
            raise ValueError(f"{fn}: advantages must be finite")
        captions = check.token_ids(fn, "captions", captions, self.vocab_size)
        if self.end_id is not None:  # whatever follows a caption's first <END> is not part of it
            ended = np.cumsum(captions[:, 1:] == self.end_id, axis=1) - (captions[:, 1:] == self.end_id) > 0
            captions = captions.copy()
            captions[:, 1:][ended] = self.null_id
        loss, ctx = self._forward(fn, features, captions, advantages)
        return loss, self._backward(ctx)

    def _forward(self, fn, features, captions, advantages=None):
        features = self.check_features(fn, features)
        N = features.shape[0]
        captions = check.token_ids(fn, "captions", captions, self.vocab_size)
        check.shape(fn, "captions", captions, (N, None), "(N, T + 1)")
        if captions.shape[1] < 2:
            raise ValueError(f"{fn}: captions must have at least 2 columns (T + 1 >= 2), got {captions.shape}")
        p = self.params
        mask = captions[:, 1:] != self.null_id
        order, packing, rows, steps = pack_order(sequence_lengths(mask))
        tokens = captions[rows, steps]
        targets = captions[rows, steps + 1]
        keep = mask[rows, steps]

        # Only steps before a row's last target run the recurrence, and only
        # positions with a target reach the vocabulary projection.
        h0 = features @ p["W_proj"] + p["b_proj"]
        # Input projection per distinct word, not per position: U <= min(P, V) rows.
        words, inverse = np.unique(tokens, return_inverse=True)
        x_words = p["W_embed"][words]  # (U, W)
        xa_words = x_words @ p["Wx"]
        xa_words += p["b"]
        hs, core = self.cell.forward(xa_words, h0[order], p["Wh"], packing, inverse)
        all_kept = bool(keep.all())
        sel = slice(None) if all_kept else np.flatnonzero(keep)
        h_sel = hs if all_kept else hs[sel]
        scores = h_sel @ p["W_vocab"]
        scores += p["b_vocab"]
        if advantages is None:  # the notebook's loss: summed over time, averaged over the batch
            weights = np.full(scores.shape[0], 1.0 / N, dtype=self.dtype)
        else:  # each caption's advantage, over the number of masked positions of the batch
            weights = (advantages / max(int(mask.sum()), 1))[rows[sel]].astype(self.dtype)
        loss = softmax_loss_rows(scores, np.ascontiguousarray(targets[sel]), weights)
        ctx = _LossContext(features, h0, order, words, inverse, x_words, xa_words, hs, core, sel, h_sel, scores)
        return loss, ctx

    def _backward(self, ctx: _LossContext) -> dict:
        p = self.params
        dscores = ctx.dscores  # written in place by the loss kernel
        grads = {"W_vocab": ctx.h_sel.T @ dscores, "b_vocab": dscores.sum(axis=0)}
        if isinstance(ctx.sel, slice):
            dhs = dscores @ p["W_vocab"].T
        else:
            dhs = np.zeros_like(ctx.hs)
            dhs[ctx.sel] = dscores @ p["W_vocab"].T
        dxa, dh0_sorted, grads["Wh"] = self.cell.backward(dhs, ctx.core)
        dxa_words = np.zeros_like(ctx.xa_words)
        scatter_add_rows(dxa, ctx.inverse, dxa_words)
        grads["Wx"] = ctx.x_words.T @ dxa_words
        grads["b"] = dxa_words.sum(axis=0)
        grads["W_embed"] = np.zeros_like(p["W_embed"])
        grads["W_embed"][ctx.words] = dxa_words @ p["Wx"].T
        dh0 = np.empty_like(ctx.h0)
        dh0[ctx.order] = dh0_sorted
        grads["W_proj"] = ctx.features.T @ dh0
        grads["b_proj"] = dh0.sum(axis=0)
        return grads

    # ------------------------------------------------------------ decoding steps
    # The decoders (``sampling.py``) run the model one word at a time through these
    # three methods; only this class knows how ``params`` are laid out.
    def initial_state(self, features: np.ndarray) -> tuple:
        """The cell's state before the first word: (N, D) features -> a tuple of (N, H) arrays."""
        p = self.params
        return self.cell.init_state(features @ p["W_proj"] + p["b_proj"])

    def input_table(self) -> np.ndarray:
        """(V, G) input projection ``W_embed @ Wx + b`` of every word: a decoding step looks its rows up.

        Computed once per decode call, it saves the step's ``x @ Wx`` product (a
        quarter of an H=512 LSTM step's arithmetic).
        """
        p = self.params
        table = p["W_embed"] @ p["Wx"]
        table += p["b"]
        return table

    def step_scores(
        self, table: np.ndarray, words: np.ndarray, state: tuple, parents: np.ndarray | None = None
    ) -> tuple[np.ndarray, tuple]:
        """Feed ``words`` (n,) into the cell; return vocabulary scores (n, V) and the new state (n rows).

        ``table`` is :meth:`input_table`.  Row r continues ``state`` row ``parents[r]``
        (default: row r), so rows that share a state (beam hypotheses with one parent)
        share its recurrent product.
        """
        p = self.params
        parents = np.arange(words.shape[0]) if parents is None else parents
        h, state = self.cell.step(table, words, state, p["Wh"], parents)
        scores = h @ p["W_vocab"]
        scores += p["b_vocab"]
        return scores, state

    def sample(self, features, max_length=30):
        """Greedy decoding.  features: (N, D) -> captions (N, max_length) int32.

        Positions after a row's ``<END>`` hold ``<NULL>``.
        """
        return greedy_decode(self, self.check_features("CaptioningRNN.sample", features), max_length)
