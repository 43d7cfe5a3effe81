"""captioning: image captioning with RNN and LSTM language models on a Numba + BLAS core.

The notebook's names are importable from here, so its checks run against
this package in place of ``cs231n``.
"""

from importlib.metadata import version

from .data.coco import decode_captions, load_coco_data, sample_coco_minibatch
from .evaluation import BLEU_score, evaluate_model
from .gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from .layers import (
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from .model import CaptioningRNN
from .solver import CaptioningSolver

__version__ = version("captioning")

__all__ = [
    "BLEU_score",
    "CaptioningRNN",
    "CaptioningSolver",
    "decode_captions",
    "evaluate_model",
    "load_coco_data",
    "sample_coco_minibatch",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "rel_error",
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
