"""Greedy, beam search and temperature sampling for both cells."""

import numpy as np
import pytest
import reference as ref
from helpers import tiny_model

from captioning.sampling import beam_search, decode, greedy_decode, temperature_sample


def sequence_logprob(m, features, captions) -> np.ndarray:
    """Log-probability (N,) of each caption up to and including its <END>: minus the model's loss, row by row."""
    full = np.concatenate([np.full((len(captions), 1), m.start_id, dtype=captions.dtype), captions], axis=1)
    return np.array([-m.nll(features[i : i + 1], full[i : i + 1]) for i in range(len(captions))])


def model(cell, seed=0, end_bias=0.0):
    m = tiny_model(cell, V=16, D=10, W=8, H=16, seed=seed)
    m.params["W_vocab"] *= 4  # peaky enough that beams differ from greedy
    m.params["b_vocab"][2] += end_bias
    return m


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_step_continues_the_state_row_its_parent_names(cell, dtype):
    """Rows sharing a parent share its h @ Wh: the same bits as a step on the gathered state,
    and each row is the plain NumPy reference run on its own two words."""
    m = tiny_model(cell, V=16, D=10, W=8, H=16, seed=1, dtype=dtype)
    p, table = m.params, m.input_table()
    features = np.random.default_rng(0).standard_normal((3, 10)).astype(dtype)
    first = np.array([4, 5, 6])
    _, state = m.step_scores(table, first, m.initial_state(features))
    parents, second = np.array([0, 0, 2, 2, 2, 1]), np.array([3, 7, 7, 8, 9, 3])
    scores, new = m.step_scores(table, second, state, parents)
    gathered_scores, gathered = m.step_scores(table, second, tuple(s[parents] for s in state))
    np.testing.assert_array_equal(scores, gathered_scores)
    for a, b in zip(new, gathered, strict=True):
        np.testing.assert_array_equal(a, b)
    x = p["W_embed"][np.stack([first[parents], second], axis=1)]
    h0 = features[parents] @ p["W_proj"] + p["b_proj"]
    forward = ref.lstm_forward if cell == "lstm" else ref.rnn_forward
    h, _ = forward(x, h0, p["Wx"], p["Wh"], p["b"])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(new[0], h[:, 1], rtol=tol, atol=tol)
    np.testing.assert_allclose(scores, h[:, 1] @ p["W_vocab"] + p["b_vocab"], rtol=tol, atol=tol)


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


def slow_beam_search(m, features, k, max_length, length_penalty=0.7):
    """One image at a time, hypotheses as Python lists: prune by total log-probability, an ended
    hypothesis continues with <NULL> at no cost, pick by log-prob / length**penalty, greedy competes."""
    from scipy.special import log_softmax

    p = m.params

    def step_scores(word, state):  # the model's own step, its input projection computed for this word
        xa = p["W_embed"][word] @ p["Wx"] + p["b"]
        h, state = m.cell.step(xa, np.zeros(1, dtype=np.int64), state, p["Wh"], np.zeros(1, dtype=np.int64))
        return h @ p["W_vocab"] + p["b_vocab"], state

    out = []
    for i in range(len(features)):
        state = m.initial_state(features[i : i + 1])
        hyps = [([], 0.0, False, state)]
        for _ in range(max_length):
            cands = []
            for toks, lp, done, st in hyps:
                if done:
                    cands.append((toks + [m.null_id], lp, True, st))
                    continue
                scores, st2 = step_scores(np.array([toks[-1] if toks else m.start_id]), st)
                logp = log_softmax(scores.astype(np.float64), axis=1)[0]
                logp[[m.null_id, m.start_id]] = -np.inf
                cands += [(toks + [w], lp + logp[w], w == m.end_id, st2) for w in range(len(logp))]
            order = sorted(range(len(cands)), key=lambda j: -cands[j][1])  # stable: ties keep their order
            hyps = [cands[j] for j in order[:k]]
            if all(h[2] for h in hyps):
                break
        lengths = [sum(1 for _ in t[: t.index(m.end_id) + 1]) if m.end_id in t else len(t) for t, *_ in hyps]
        norm = [h[1] / max(n, 1) ** length_penalty for h, n in zip(hyps, lengths, strict=True)]
        best = hyps[int(np.argmax(norm))][0]
        row = np.full(max_length, m.null_id, dtype=np.int32)
        row[: len(best)] = best
        greedy = greedy_decode(m, features[i : i + 1], max_length)
        g_len = max(int(np.sum(greedy[0] != m.null_id)), 1)
        if sequence_logprob(m, features[i : i + 1], greedy)[0] / g_len**length_penalty > max(norm):
            row = greedy[0]
        out.append(row)
    return np.stack(out)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("end_bias", [0.0, 1.5, 4.0])
def test_beam_search_equals_a_slow_one_image_at_a_time_reference(cell, end_bias):
    """Images whose hypotheses have all ended leave the vectorised batch early; the captions are the
    reference's, for images that end at different steps (end_bias makes <END> likelier)."""
    for seed in range(3):
        m = model(cell, seed, end_bias=end_bias)
        f = np.random.default_rng(seed + 10).standard_normal((7, 10))
        for k in (2, 3):
            np.testing.assert_array_equal(beam_search(m, f, k, 9), slow_beam_search(m, f, k, 9))


@pytest.mark.parametrize("method", ["greedy", "beam", "temperature"])
def test_decode_in_chunks_equals_one_call_per_chunk(method):
    m = model("lstm", end_bias=1.0)
    f = np.random.default_rng(5).standard_normal((11, 10))
    whole = decode(m, f, method=method, max_length=9, seed=3, batch_size=4)
    assert whole.shape == (11, 9) and whole.dtype == np.int32
    rng = np.random.default_rng(3)
    parts = [decode(m, f[s : s + 4], method=method, max_length=9, seed=rng) for s in range(0, 11, 4)]
    np.testing.assert_array_equal(whole, np.concatenate(parts))
    if method != "temperature":  # a deterministic decoder does not depend on the chunking
        np.testing.assert_array_equal(whole, decode(m, f, method=method, max_length=9, batch_size=100))
    with pytest.raises(ValueError, match="decode: batch_size must be a positive integer, got 0"):
        decode(m, f, method=method, batch_size=0)
