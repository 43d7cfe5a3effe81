"""CaptioningRNN: parameters, dtypes, determinism, stability and greedy sampling."""

import warnings

import numpy as np
import pytest

import captioning as C

WORDS = ["<NULL>", "<START>", "<END>", "<UNK>", "a", "cat", "dog"]
W2I = {w: i for i, w in enumerate(WORDS)}


@pytest.mark.parametrize("cell_type,g", [("rnn", 1), ("lstm", 4)])
def test_params_have_the_notebook_names_and_shapes(cell_type, g):
    V, D, W, H = len(W2I), 12, 8, 10
    m = C.CaptioningRNN(W2I, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=cell_type)
    shapes = {k: v.shape for k, v in m.params.items()}
    assert shapes == {
        "W_embed": (V, W),
        "W_proj": (D, H),
        "b_proj": (H,),
        "Wx": (W, g * H),
        "Wh": (H, g * H),
        "b": (g * H,),
        "W_vocab": (H, V),
        "b_vocab": (V,),
    }
    assert all(v.dtype == np.float32 for v in m.params.values())


def test_seeded_initialisation_is_reproducible_and_leaves_global_rng_alone():
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    a = C.CaptioningRNN(W2I, 6, 4, 5, seed=11)
    b = C.CaptioningRNN(W2I, 6, 4, 5, seed=11)
    c = C.CaptioningRNN(W2I, 6, 4, 5, seed=12)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["Wx"], c.params["Wx"])
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_stay_finite_without_warnings(cell_type, dtype):
    m = C.CaptioningRNN(W2I, 6, 4, 5, cell_type=cell_type, dtype=dtype)
    for k in m.params:
        m.params[k] = np.full_like(m.params[k], 1e4)
    m.params["W_vocab"][:, 4] = -1e4
    features = np.full((3, 6), 1e4, dtype=dtype)
    captions = np.array([[1, 4, 5, 2], [1, 6, 2, 0], [1, 4, 4, 4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grads = m.loss(features, captions)
        sampled = m.sample(features, max_length=4)
    assert np.isfinite(loss) and loss > 1e4
    assert all(np.isfinite(g).all() for g in grads.values())
    assert sampled.shape == (3, 4)


def test_sigmoid_kernel_is_exact_at_extremes():
    from captioning.kernels.elementwise import sigmoid

    assert sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0
    assert sigmoid(-30.0) == pytest.approx(np.exp(-30.0), rel=1e-12)
    assert sigmoid(0.0) == 0.5


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_greedy_sample_matches_a_plain_loop_and_pads_after_end(cell_type):
    rng = np.random.default_rng(0)
    m = C.CaptioningRNN(W2I, 6, 4, 5, cell_type=cell_type, dtype=np.float64, seed=1)
    m.params["b_vocab"][2] = 0.5  # make <END> likely so some rows stop early
    features = rng.standard_normal((8, 6))
    out = m.sample(features, max_length=7)
    assert out.shape == (8, 7) and out.dtype == np.int32
    # plain reference: run every row all the way with the notebook's step functions
    p = m.params
    h = features @ p["W_proj"] + p["b_proj"]
    c = np.zeros_like(h)
    word = np.full(8, 1)
    expected = np.zeros((8, 7), dtype=np.int32)
    for t in range(7):
        x = p["W_embed"][word]
        if cell_type == "lstm":
            h, c, _ = C.lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
        else:
            h, _ = C.rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
        word = (h @ p["W_vocab"] + p["b_vocab"]).argmax(1)
        expected[:, t] = word
    for row, exp in zip(out, expected, strict=True):
        ends = np.flatnonzero(exp == 2)
        stop = ends[0] + 1 if ends.size else 7
        np.testing.assert_array_equal(row[:stop], exp[:stop])
        assert (row[stop:] == 0).all()
    assert (expected == 2).any(), "the test should exercise early stopping"


def test_loss_is_notebook_averaged_over_batch_not_positions():
    m = C.CaptioningRNN(W2I, 6, 4, 5, dtype=np.float64)
    f = np.random.default_rng(1).standard_normal((2, 6))
    one, _ = m.loss(f[:1], np.array([[1, 4, 2]]))
    both, _ = m.loss(np.concatenate([f[:1], f[:1]]), np.array([[1, 4, 2], [1, 4, 2]]))
    assert both == pytest.approx(one)
