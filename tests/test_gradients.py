"""Central-difference gradient checks in float64 for every layer and the whole model."""

import numpy as np
import pytest
from helpers import tiny_model

import captioning as C
from captioning import eval_numerical_gradient, eval_numerical_gradient_array
from captioning.gradient_check import scaled_error
from captioning.pipeline.gradcheck import layer_check

LAYER_TOL = 1e-7
MODEL_TOL = 1e-6


def check_layer(forward, backward, inputs, rng, n_outputs=1):
    """The gate's check: backward against numeric gradients of sum(out * dout) for every input."""
    check = layer_check(forward.__name__, forward, backward, inputs, rng, LAYER_TOL, n_out=n_outputs)
    assert check.error < LAYER_TOL, check


@pytest.mark.parametrize("N,D,H", [(4, 5, 6), (1, 3, 7)])
def test_rnn_step(rng, N, D, H):
    inputs = [rng.standard_normal(s) for s in [(N, D), (N, H), (D, H), (H, H), (H,)]]
    check_layer(C.rnn_step_forward, C.rnn_step_backward, inputs, rng)


@pytest.mark.parametrize("N,T,D,H", [(2, 10, 3, 5), (1, 1, 4, 3), (3, 4, 2, 9)])
def test_rnn_sequence(rng, N, T, D, H):
    inputs = [rng.standard_normal(s) for s in [(N, T, D), (N, H), (D, H), (H, H), (H,)]]
    check_layer(C.rnn_forward, C.rnn_backward, inputs, rng)


@pytest.mark.parametrize("N,D,H", [(4, 5, 6), (1, 2, 3)])
def test_lstm_step(rng, N, D, H):
    inputs = [rng.standard_normal(s) for s in [(N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]]
    check_layer(C.lstm_step_forward, C.lstm_step_backward, inputs, rng, n_outputs=2)


@pytest.mark.parametrize("N,T,D,H", [(2, 10, 3, 6), (1, 1, 4, 3), (3, 5, 2, 7)])
def test_lstm_sequence(rng, N, T, D, H):
    inputs = [rng.standard_normal(s) for s in [(N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]]
    check_layer(C.lstm_forward, C.lstm_backward, inputs, rng)


def test_word_embedding(rng):
    N, T, V, D = 2, 4, 5, 3
    x = rng.integers(0, V, size=(N, T))
    x[0, :2] = 1  # repeated word: gradients must accumulate
    W = rng.standard_normal((V, D))
    out, cache = C.word_embedding_forward(x, W)
    dout = rng.standard_normal(out.shape)
    num = eval_numerical_gradient_array(lambda w: C.word_embedding_forward(x, w)[0], W, dout)
    assert scaled_error(num, C.word_embedding_backward(dout, cache)) < LAYER_TOL


def test_temporal_affine(rng):
    N, T, D, M = 2, 3, 4, 5
    inputs = [rng.standard_normal(s) for s in [(N, T, D), (D, M), (M,)]]
    check_layer(C.temporal_affine_forward, C.temporal_affine_backward, inputs, rng)


@pytest.mark.parametrize("N,T,V,p", [(100, 1, 10, 1.0), (100, 10, 10, 0.1), (5000, 10, 10, 0.1)])
def test_temporal_softmax_loss_value_and_gradient(rng, N, T, V, p):
    # The notebook's sanity checks: loss ~ T * log(V) * p for small random scores.
    x = 0.001 * rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) <= p
    loss, dx = C.temporal_softmax_loss(x, y, mask)
    assert loss == pytest.approx(T * np.log(V) * mask.mean(), rel=1e-3)
    if N <= 100:
        num = eval_numerical_gradient(lambda v: C.temporal_softmax_loss(v, y, mask)[0], x, verbose=False)
        assert scaled_error(num, dx) < LAYER_TOL


def make_model(cell_type, rng):
    return tiny_model(cell_type, V=7, D=6, W=5, H=8, seed=int(rng.integers(1 << 30)))


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_captioning_model_gradients(rng, cell_type):
    model = make_model(cell_type, rng)
    N, T = 3, 6
    features = rng.standard_normal((N, model.input_dim))
    captions = rng.integers(3, model.vocab_size, size=(N, T))
    captions[:, 0] = 1
    captions[0, 3:] = 0  # trailing padding
    captions[1, 2] = 0  # a masked position inside a caption
    captions[2, 1:] = 0  # nothing to predict after <START>
    loss, grads = model.loss(features, captions)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        num = eval_numerical_gradient(lambda _: model.loss(features, captions)[0], param, verbose=False)
        assert scaled_error(num, grads[name]) < MODEL_TOL, name
