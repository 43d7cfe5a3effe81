"""Layers with CS231n's contract: ``X_forward(...) -> (out, cache)``, ``X_backward(dout, cache) -> grads``."""

from .embedding import word_embedding_backward, word_embedding_forward
from .lstm import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from .rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward
from .temporal import temporal_affine_backward, temporal_affine_forward, temporal_softmax_loss

__all__ = [
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
    "temporal_affine_backward",
    "temporal_affine_forward",
    "temporal_softmax_loss",
    "word_embedding_backward",
    "word_embedding_forward",
]
