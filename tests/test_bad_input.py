"""Every bad input is rejected with a one-line ValueError naming the argument."""

import re

import numpy as np
import pytest
from helpers import tiny_model

import captioning as C


def lstm_step_args(dtype=np.float64, N=3, D=4, H=5):
    z = lambda *s: np.zeros(s, dtype=dtype)  # noqa: E731
    return dict(x=z(N, D), prev_h=z(N, H), prev_c=z(N, H), Wx=z(D, 4 * H), Wh=z(H, 4 * H), b=z(4 * H))


def raises(match, fn, *args, **kwargs):
    with pytest.raises(ValueError, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_mixed_dtypes_name_the_argument():
    args = lstm_step_args()
    args["Wh"] = args["Wh"].astype(np.float32)
    raises(r"lstm_step_forward: Wh has dtype float32 but x has float64", C.lstm_step_forward, **args)


def test_integer_arrays_are_rejected():
    args = lstm_step_args()
    args["b"] = args["b"].astype(np.int64)
    raises(r"lstm_step_forward: b must be float32 or float64, got int64", C.lstm_step_forward, **args)


def test_non_array_is_rejected():
    args = lstm_step_args()
    args["x"] = [[0.0]]
    raises(r"lstm_step_forward: x must be a numpy array, got list", C.lstm_step_forward, **args)


@pytest.mark.parametrize(
    "name,shape,expected",
    [
        ("Wx", (4, 21), re.escape("Wx must have shape (D, 4H) = (4, 20), got (4, 21)")),
        ("Wh", (5, 5), re.escape("Wh must have shape (H, 4H) = (5, 20), got (5, 5)")),
        ("b", (5,), re.escape("b must have shape (4H,) = (20,), got (5,)")),
        ("prev_c", (2, 5), re.escape("prev_c must have shape (N, H) = (3, 5), got (2, 5)")),
    ],
)
def test_wrong_shapes_give_expected_shape(name, shape, expected):
    args = lstm_step_args()
    args[name] = np.zeros(shape)
    raises("lstm_step_forward: " + expected, C.lstm_step_forward, **args)


def test_rnn_forward_shapes():
    x, h0 = np.zeros((2, 3, 4)), np.zeros((2, 5))
    raises(
        re.escape("rnn_forward: Wh must have shape (H, H) = (5, 5), got (5, 6)"),
        C.rnn_forward,
        x,
        h0,
        np.zeros((4, 5)),
        np.zeros((5, 6)),
        np.zeros(5),
    )
    raises(
        re.escape("rnn_forward: x must have shape (N, T, D) = (?, ?, ?), got (2, 3)"),
        C.rnn_forward,
        np.zeros((2, 3)),
        h0,
        np.zeros((4, 5)),
        np.zeros((5, 5)),
        np.zeros(5),
    )


def test_backward_gradient_shape_is_checked():
    x, h0 = np.zeros((2, 3, 4)), np.zeros((2, 5))
    _, cache = C.lstm_forward(x, h0, np.zeros((4, 20)), np.zeros((5, 20)), np.zeros(20))
    raises(
        re.escape("lstm_backward: dh must have shape (N, T, H) = (2, 3, 5), got (2, 3, 4)"),
        C.lstm_backward,
        np.zeros((2, 3, 4)),
        cache,
    )
    raises(
        r"lstm_backward: cache_x has dtype float64 but dh has float32",
        C.lstm_backward,
        np.zeros((2, 3, 5), dtype=np.float32),
        cache,
    )


def test_token_ids_out_of_range():
    W = np.zeros((4, 3))
    raises(
        re.escape("word_embedding_forward: x holds token id 4 outside the vocabulary range [0, 4)"),
        C.word_embedding_forward,
        np.array([[0, 4]]),
        W,
    )
    raises(
        re.escape("word_embedding_forward: x holds token id -1 outside the vocabulary range [0, 4)"),
        C.word_embedding_forward,
        np.array([[-1, 0]]),
        W,
    )
    raises(
        r"word_embedding_forward: x must hold integer token ids, got dtype float64",
        C.word_embedding_forward,
        np.array([[0.0]]),
        W,
    )


def test_softmax_loss_bad_targets_and_mask():
    x = np.zeros((2, 3, 5))
    raises(
        re.escape("temporal_softmax_loss: y holds token id 5 outside the vocabulary range [0, 5)"),
        C.temporal_softmax_loss,
        x,
        np.full((2, 3), 5),
        np.ones((2, 3), bool),
    )
    raises(
        re.escape("temporal_softmax_loss: mask must have shape (N, T) = (2, 3), got (3, 2)"),
        C.temporal_softmax_loss,
        x,
        np.zeros((2, 3), int),
        np.ones((3, 2), bool),
    )


def small_model(dtype=np.float32, cell_type="lstm"):
    return tiny_model(cell_type, V=4, D=6, W=4, H=5, dtype=dtype)


def test_model_rejects_bad_features_and_captions():
    m = small_model()
    captions = np.array([[1, 3, 2]])
    raises(
        r"CaptioningRNN.loss: features must be a float32 array \(the model's dtype\), got float64",
        m.loss,
        np.zeros((1, 6)),
        captions,
    )
    raises(
        re.escape("CaptioningRNN.loss: features must have shape (N, D) = (?, 6), got (1, 7)"),
        m.loss,
        np.zeros((1, 7), np.float32),
        captions,
    )
    raises(
        re.escape("CaptioningRNN.loss: captions holds token id 9 outside the vocabulary range [0, 4)"),
        m.loss,
        np.zeros((1, 6), np.float32),
        np.array([[1, 9, 2]]),
    )
    raises(
        re.escape("CaptioningRNN.loss: captions must have shape (N, T + 1) = (1, ?), got (2, 3)"),
        m.loss,
        np.zeros((1, 6), np.float32),
        np.array([[1, 3, 2], [1, 3, 2]]),
    )
    raises(
        r"CaptioningRNN.loss: captions must have at least 2 columns",
        m.loss,
        np.zeros((1, 6), np.float32),
        np.array([[1]]),
    )
    raises(r"CaptioningRNN.sample: features must be a float32 array", m.sample, np.zeros((1, 6)))
    raises(r"sample: max_length must be a positive integer, got 0", m.sample, np.zeros((1, 6), np.float32), 0)


def test_model_constructor_errors():
    raises(r"cell_type must be one of \['lstm', 'rnn'\], got 'gru'", C.CaptioningRNN, {"<NULL>": 0}, cell_type="gru")
    raises(r"word_to_idx must be a dict containing '<NULL>'", C.CaptioningRNN, {"a": 0})
    raises(r"hidden_dim must be a positive integer, got 0", C.CaptioningRNN, {"<NULL>": 0}, hidden_dim=0)
    raises(r"dtype must be float32 or float64, got int32", C.CaptioningRNN, {"<NULL>": 0}, dtype=np.int32)
