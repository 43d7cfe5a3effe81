"""Greedy, beam search and temperature sampling for both cells."""

import numpy as np
import pytest

from captioning import CaptioningRNN
from captioning.sampling import beam_search, decode, greedy_decode, sequence_logprob, temperature_sample

WORDS = ["<NULL>", "<START>", "<END>", "<UNK>"] + [f"w{i}" for i in range(12)]


def model(cell, seed=0, end_bias=0.0):
    m = CaptioningRNN({w: i for i, w in enumerate(WORDS)}, 10, 8, 16, cell_type=cell, dtype=np.float64, seed=seed)
    m.params["W_vocab"] *= 4  # peaky enough that beams differ from greedy
    m.params["b_vocab"][2] += end_bias
    return m


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_beam_width_one_is_greedy(cell):
    m = model(cell)
    f = np.random.default_rng(0).standard_normal((9, 10))
    np.testing.assert_array_equal(beam_search(m, f, beam_width=1, max_length=12), greedy_decode(m, f, 12))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_beam_never_scores_below_greedy(cell, k):
    for seed in range(4):
        m = model(cell, seed, end_bias=1.0)
        f = np.random.default_rng(seed).standard_normal((16, 10))
        greedy = greedy_decode(m, f, 10)
        beam = beam_search(m, f, beam_width=k, max_length=10, length_penalty=0.0)
        lg, lb = sequence_logprob(m, f, greedy), sequence_logprob(m, f, beam)
        assert (lb >= lg - 1e-9).all()
        if seed == 0 and k == 5:
            assert (lb > lg + 1e-6).any(), "the beam should find better captions than greedy somewhere"


def test_beam_output_is_well_formed():
    m = model("lstm", end_bias=2.0)
    out = beam_search(m, np.random.default_rng(3).standard_normal((6, 10)), beam_width=4, max_length=8)
    assert out.shape == (6, 8) and out.dtype == np.int32
    for row in out:
        ends = np.flatnonzero(row == 2)
        if ends.size:
            assert (row[ends[0] + 1 :] == 0).all()
        assert not (row == 1).any()


def test_sequence_logprob_matches_model_loss():
    m = model("lstm")
    f = np.random.default_rng(1).standard_normal((5, 10))
    caps = greedy_decode(m, f, 9)
    full = np.concatenate([np.ones((5, 1), dtype=np.int32), caps], axis=1)
    per_row = [m.loss(f[i : i + 1], full[i : i + 1])[0] for i in range(5)]
    np.testing.assert_allclose(-sequence_logprob(m, f, caps), per_row, rtol=1e-10)


def test_temperature_sampling_is_seeded():
    m = model("rnn")
    f = np.random.default_rng(2).standard_normal((20, 10))
    a = temperature_sample(m, f, 10, temperature=1.0, seed=7)
    b = temperature_sample(m, f, 10, temperature=1.0, seed=np.random.default_rng(7))
    c = temperature_sample(m, f, 10, temperature=1.0, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    cold = temperature_sample(m, f, 10, temperature=1e-4, seed=1)
    np.testing.assert_array_equal(cold, greedy_decode(m, f, 10))


def test_decode_rejects_unknown_method_and_bad_arguments():
    m = model("rnn")
    f = np.zeros((1, 10))
    with pytest.raises(
        ValueError, match=r"decode: method must be one of \['beam', 'greedy', 'temperature'\], got 'top-k'"
    ):
        decode(m, f, method="top-k")
    with pytest.raises(ValueError, match=r"temperature must be > 0, got 0"):
        temperature_sample(m, f, temperature=0)
    with pytest.raises(ValueError, match=r"beam_width must be a positive integer, got 0"):
        beam_search(m, f, beam_width=0)
