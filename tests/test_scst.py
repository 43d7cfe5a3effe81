"""Self-critical training's core: the weighted loss, multinomial sampling, the CIDEr-D reward and baselines."""

import numpy as np
import pytest
from helpers import kill_mid_epoch, tiny_model
from pycocoevalcap.cider.cider import Cider
from scipy.stats import chisquare

from captioning import eval_numerical_gradient
from captioning.gradient_check import scaled_error
from captioning.ngrams import DocFrequencies, cider_d, cider_d_each
from captioning.sampling import greedy_decode, sample_captions
from captioning.scst import CiderReward, mean_baseline

END, NULL, START = 2, 0, 1


def batch(rng, m):
    """Captions that end at different steps, one never ending, one with words after its <END>."""
    caps = rng.integers(4, m.vocab_size, (5, 7))
    caps[:, 0] = START
    caps[0, 3], caps[0, 4:] = END, NULL
    caps[1, 2], caps[1, 3:] = END, [5, 6, 7, 8]  # words after <END>: not part of the caption
    caps[2, 5], caps[2, 6:] = END, NULL
    caps[4, 1], caps[4, 2:] = END, NULL  # <END> at once
    return rng.standard_normal((5, m.input_dim)), caps  # row 3 never ends


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_weighted_loss_gradients_match_central_differences(cell):
    rng = np.random.default_rng(0)
    m = tiny_model(cell, V=10, D=6, W=5, H=7, seed=1)
    features, caps = batch(rng, m)
    advantages = rng.standard_normal(5)
    _, grads = m.weighted_loss(features, caps, advantages)
    for name, p in m.params.items():
        num = eval_numerical_gradient(lambda _: m.weighted_loss(features, caps, advantages)[0], p, verbose=False)
        assert scaled_error(num, grads[name]) < 1e-6, name


def test_unit_weights_give_the_token_mean_cross_entropy():
    rng = np.random.default_rng(1)
    m = tiny_model("lstm", V=10, D=6, W=5, H=7, seed=2)
    features, caps = batch(rng, m)
    caps[1, 3:] = NULL  # the notebook's loss masks <NULL> only
    loss, grads = m.weighted_loss(features, caps, np.ones(5))
    xe, xe_grads = m.loss(features, caps)
    tokens = int((caps[:, 1:] != NULL).sum())
    assert loss == pytest.approx(xe * 5 / tokens, rel=1e-12)
    for name in grads:
        np.testing.assert_allclose(grads[name], xe_grads[name] * 5 / tokens, rtol=1e-10, atol=1e-14)


def test_words_after_the_first_end_get_exactly_zero_gradient():
    rng = np.random.default_rng(2)
    m = tiny_model("lstm", V=12, D=6, W=5, H=7, seed=3)
    features, caps = batch(rng, m)
    caps[:, 1:][caps[:, 1:] == 11] = 4  # word 11 appears only after an <END>
    caps[1, 3:] = 11
    advantages = rng.standard_normal(5)
    loss, grads = m.weighted_loss(features, caps, advantages)
    assert not grads["W_embed"][11].any()
    cut = caps.copy()
    cut[1, 3:] = NULL
    loss_cut, grads_cut = m.weighted_loss(features, cut, advantages)
    assert loss == loss_cut and all(np.array_equal(grads[k], grads_cut[k]) for k in grads)
    with pytest.raises(ValueError, match=r"weighted_loss: advantages must have shape \(N,\) = \(5,\), got \(4,\)"):
        m.weighted_loss(features, caps, np.ones(4))


def first_word_probabilities(m, features):
    scores, _ = m.step_scores(m.input_table(), np.array([START]), m.initial_state(features))
    scores[0, [NULL, START]] = -np.inf
    p = np.exp(scores[0] - scores[0].max())
    return p / p.sum()


def test_first_words_follow_the_softmax_chi_square():
    m = tiny_model("lstm", V=9, D=6, W=5, H=7, seed=4)
    m.params["W_vocab"] *= 3  # a distribution far from uniform
    f = np.random.default_rng(3).standard_normal((1, 6))
    p = first_word_probabilities(m, f)[2:]  # <END> and the words; <NULL> and <START> never appear
    samples = sample_captions(m, f, 20000, max_length=1, seed=7)
    counts = np.bincount(samples[:, 0], minlength=9)[2:]
    assert counts.sum() == 20000 and samples.shape == (20000, 1) and samples.dtype == np.int32
    assert chisquare(counts, 20000 * p).pvalue > 1e-3
    assert chisquare(counts, np.full(7, 20000 / 7)).pvalue < 1e-6  # the test can tell a wrong distribution


def test_sampling_is_reproducible_grouped_by_image_and_cold_is_greedy():
    m = tiny_model("rnn", V=9, D=6, W=5, H=7, seed=5)
    f = np.random.default_rng(4).standard_normal((3, 6))
    a = sample_captions(m, f, 4, max_length=8, seed=11, batch_size=5)
    again = sample_captions(m, f, 4, max_length=8, seed=np.random.default_rng(11), batch_size=5)
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, sample_captions(m, f, 4, max_length=8, seed=12))
    assert a.shape == (12, 8)
    for row in a:  # <NULL> after <END>, never <START> or <NULL> before it
        ends = np.flatnonzero(row == END)
        tail = row[ends[0] + 1 :] if ends.size else row[:0]
        assert (tail == NULL).all() and not np.isin(row[: len(row) - len(tail)], [NULL, START]).any()
    cold = sample_captions(m, f, 2, max_length=8, temperature=1e-4, seed=1)
    np.testing.assert_array_equal(cold, np.repeat(greedy_decode(m, f, 8), 2, axis=0))
    with pytest.raises(ValueError, match="sample_captions: n must be a positive integer, got 0"):
        sample_captions(m, f, 0)


REFS = {
    0: ["a red circle in the middle", "a big red circle", "there is a red circle"],
    1: ["two blue squares", "a blue square and a blue square", "two squares that are blue"],
    2: ["a green triangle to the left of a red circle", "a green triangle and a red circle"],
}
WORDS = ["<NULL>", "<START>", "<END>", "<UNK>"] + sorted({w for rs in REFS.values() for r in rs for w in r.split()})
W2I = {w: i for i, w in enumerate(WORDS)}


def tokens(*captions, length=10):
    out = np.full((len(captions), length), NULL, dtype=np.int32)
    for k, c in enumerate(captions):
        ids = [W2I[w] for w in c.split()] + [END]
        out[k, : len(ids)] = ids
    return out


def test_fixed_statistics_equal_the_scorers_cider_when_they_coincide():
    hyps = {0: "a red circle", 1: "two blue squares and a square", 2: "a green circle"}
    each = cider_d_each(REFS, hyps, DocFrequencies.from_references(REFS))
    np.testing.assert_allclose(each.mean(), cider_d(REFS, hyps), rtol=1e-12)
    reference, per_image = Cider().compute_score(REFS, {i: [h] for i, h in hyps.items()})
    np.testing.assert_allclose(each, per_image, rtol=1e-6)


def test_rewards_use_training_statistics_only():
    """A caption's reward depends on its own image's references and the training statistics, not on its batch
    nor on any other split's references."""
    reward = CiderReward(REFS, WORDS)
    caps = tokens("a red circle", "two blue squares", "a green triangle")
    alone = reward([REFS[0]], caps[:1])
    batch = reward([REFS[0], REFS[1], REFS[2]], caps)
    assert alone[0] == batch[0]
    other = CiderReward({**REFS, 3: ["a white diamond"]}, WORDS)  # more training images: other statistics
    assert other([REFS[0]], caps[:1])[0] != alone[0]


def test_end_counts_as_a_word():
    """A fragment that stops early is not rewarded like the caption it starts: its "<END>" n-grams miss."""
    reward = CiderReward(REFS, WORDS)
    full, fragment = reward([REFS[2]] * 2, tokens("a green triangle and a red circle", "a green triangle and a"))
    plain = DocFrequencies.from_references(REFS)
    without = cider_d_each(
        {0: REFS[2], 1: REFS[2]}, {0: "a green triangle and a red circle", 1: "a green triangle and a"}, plain
    )
    assert full > fragment
    assert fragment / full < without[1] / without[0]  # <END> widens the gap


def test_mean_baseline_advantages_sum_to_zero_per_image():
    rewards = np.random.default_rng(5).random(12)
    advantages = rewards - mean_baseline(rewards, 4)
    np.testing.assert_allclose(advantages.reshape(3, 4).sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(mean_baseline(rewards, 4)[0], rewards[1:4].mean())
    with pytest.raises(ValueError, match="mean_baseline: needs at least 2 samples per image, got n=1"):
        mean_baseline(rewards, 1)


CLASSES = 8
TOY_WORDS = ["<NULL>", "<START>", "<END>", "<UNK>", "a", "thing", "the", "shape"] + [f"w{c}" for c in range(CLASSES)]


def toy_data(seed=0) -> dict:
    """Images of 8 classes; each has 3 references "a thing" (every image's: CIDEr-D ~ 0) and 2 "the w<class>
    shape" (its class's own): cross-entropy's most likely caption is "a thing", CIDEr-D's best another."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLASSES, 8))
    w2i = {w: i for i, w in enumerate(TOY_WORDS)}
    data = {"word_to_idx": w2i, "idx_to_word": TOY_WORDS}
    for split, per_class in (("train", 6), ("val", 3)):
        feats, caps, idxs = [], [], []
        for c in range(CLASSES):
            for _ in range(per_class):
                for ref in ["a thing"] * 3 + [f"the w{c} shape"] * 2:
                    ids = [START] + [w2i[w] for w in ref.split()] + [END]
                    caps.append(ids + [NULL] * (6 - len(ids)))
                    idxs.append(len(feats))
                feats.append(centres[c] + 0.1 * rng.standard_normal(8))
        data[f"{split}_features"] = np.array(feats, dtype=np.float32)
        data[f"{split}_captions"], data[f"{split}_image_idxs"] = np.array(caps, np.int32), np.array(idxs, np.int32)
        data[f"{split}_urls"] = np.array([f"{split}/{k}" for k in range(len(feats))])
    return data


def cross_entropy_model(data):
    from captioning.solver import CaptioningSolver, SolverConfig

    m = tiny_model("lstm", D=8, W=16, H=32, dtype=np.float32, word_to_idx=data["word_to_idx"])
    CaptioningSolver(
        m, data, SolverConfig("adam", {"learning_rate": 1e-2}, 1.0, 24, 30, eval_images=0), verbose=False
    ).train()
    return m


def scst(m, data, baseline="mean", epochs=8, eval_images=24, **kwargs):
    """An SCST solver for the toy data: lr 5e-3, 8 images a batch, 5 samples an image."""
    from captioning.scst import ScstConfig, ScstSolver
    from captioning.solver import SolverConfig

    cfg = SolverConfig("adam", {"learning_rate": 5e-3}, 1.0, 8, epochs, 1.0, eval_images, "CIDEr-D")
    return ScstSolver(m, data, cfg, ScstConfig(samples=5, baseline=baseline, max_length=6), verbose=False, **kwargs)


@pytest.mark.parametrize("baseline", ["mean", "greedy"])
def test_scst_finds_the_cider_optimum_cross_entropy_misses(baseline):
    from captioning.evaluation import evaluate

    data = toy_data()
    m = cross_entropy_model(data)
    before, hyps = evaluate(m, data, "val", np.arange(24), max_length=6)
    assert set(hyps.values()) == {"a thing"} and before["CIDEr-D"] < 0.1  # the cross-entropy optimum
    s = scst(m, data, baseline)
    summary = s.train()
    history = s.state.epoch_history
    assert s.state.iteration == 8 * 6  # 48 images, 8 a batch, 8 epochs
    assert history[-1]["train_reward"] > history[0]["train_reward"] + 1.0
    assert summary["best_val_CIDEr-D"] > before["CIDEr-D"] + 2.0
    after, hyps = evaluate(m, data, "val", np.arange(24), max_length=6)
    assert after["CIDEr-D"] == summary["best_val_CIDEr-D"] and all(h.startswith("the w") for h in hyps.values())
    for e in history:
        assert {
            f"train_{k}" for k in ("reward", "baseline", "advantage", "sample_length", "never_ends", "entropy")
        } <= set(e)
        assert 1 <= e["train_sample_length"] <= 6 and 0 <= e["train_never_ends"] <= 1 and e["train_entropy"] >= 0
    if baseline == "mean":
        assert all(abs(e["train_advantage"]) < 1e-9 for e in history)  # the mean baseline centres every image


def test_the_greedy_baseline_is_the_greedy_captions_reward():
    from captioning.scst import ScstConfig, ScstSolver
    from captioning.solver import SolverConfig

    data = toy_data()
    m = cross_entropy_model(data)
    frozen = SolverConfig("adam", {"learning_rate": 0.0}, 1.0, 48, 1, eval_images=0, select_metric="CIDEr-D")
    s = ScstSolver(m, data, frozen, ScstConfig(samples=3, baseline="greedy", max_length=6), verbose=False)
    s.train()
    greedy = greedy_decode(m, data["train_features"][s.images], 6)
    expected = s.reward(s.refs, greedy).mean()
    assert s.state.epoch_history[0]["train_baseline"] == pytest.approx(expected, rel=1e-12)


KILLED_SCST = """
import sys
sys.path.insert(0, {tests!r})
from test_scst import cross_entropy_model, scst, toy_data
data = toy_data()
scst(cross_entropy_model(data), data, epochs=40, eval_images=0, checkpoint_path={ckpt!r}).train()
"""


def test_a_killed_scst_run_resumes_bitwise(tmp_path):
    import os

    ckpt = tmp_path / "scst.npz"
    kill_mid_epoch(KILLED_SCST.format(tests=os.path.dirname(__file__), ckpt=str(ckpt)), ckpt)
    data = toy_data()
    resumed = scst(cross_entropy_model(data), data, epochs=40, eval_images=0, checkpoint_path=ckpt)
    resumed.train(resume_from=ckpt)
    reference = scst(cross_entropy_model(data), data, epochs=40, eval_images=0)
    reference.train()
    assert resumed.loss_history == reference.loss_history and len(reference.loss_history) == 40 * 6
    assert resumed.state.epoch_history == reference.state.epoch_history
    assert resumed.sample_rng.bit_generator.state == reference.sample_rng.bit_generator.state
    for k in reference.model.params:
        np.testing.assert_array_equal(resumed.model.params[k], reference.model.params[k])
        for key, value in reference.optim_configs[k].items():  # Adam's moments and step count
            np.testing.assert_array_equal(resumed.optim_configs[k][key], value)
