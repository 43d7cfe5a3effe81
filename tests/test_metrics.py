"""BLEU, CIDEr-D and ROUGE-L against nltk and pycocoevalcap; the notebook's BLEU_score; human agreement."""

import numpy as np
import pytest
from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu
from nltk.translate.bleu_score import sentence_bleu
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from captioning.data import scenes
from captioning.evaluation import BLEU_score
from captioning.metrics import METRIC_NAMES, corpus_scores, human_agreement, image_stats
from captioning.ngrams import cider_d, corpus_bleu, score_captions
from captioning.rouge import lcs_lengths, rouge_l, rouge_l_each


def corpus(seed, n=150, short=True):
    rng = np.random.default_rng(seed)
    refs, hyps = {}, {}
    for i in range(n):
        caps = scenes.captions_for(scenes.random_scene(rng), rng, k=6)
        refs[f"img{i}"] = caps[: 2 + i % 4]  # 2 to 5 references
        hyps[f"img{i}"] = caps[5]
    if short:
        hyps["img3"] = "red"  # shorter than the 2-, 3- and 4-grams
        hyps["img4"] = "a zebra"  # words no reference has
    return refs, hyps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bleu_and_cider_match_pycocoevalcap(seed):
    refs, hyps = corpus(seed)
    res = {k: [v] for k, v in hyps.items()}
    want_bleu, _ = Bleu(4).compute_score(refs, res, verbose=0)
    want_cider, _ = Cider().compute_score(refs, res)
    np.testing.assert_allclose(corpus_bleu(refs, hyps), want_bleu, rtol=1e-6, atol=1e-9)
    assert cider_d(refs, hyps) == pytest.approx(want_cider, rel=1e-6)
    both = score_captions(refs, hyps)
    assert both["BLEU-4"] == pytest.approx(want_bleu[3], rel=1e-6) and both["CIDEr-D"] == pytest.approx(
        want_cider, rel=1e-6
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rouge_l_matches_pycocoevalcap_per_image_and_per_corpus(seed):
    refs, hyps = corpus(seed)
    hyps["img5"] = ""  # a caption that ended at once
    hyps["img6"] = "a a a a a a a a"  # a repeated word matches once per occurrence in the reference
    score, each = Rouge().compute_score(refs, {k: [v] for k, v in hyps.items()})
    np.testing.assert_allclose(rouge_l_each(refs, hyps), each, rtol=1e-6, atol=1e-12)
    assert rouge_l(refs, hyps) == pytest.approx(score, rel=1e-6)
    assert corpus_scores(image_stats(refs, hyps))["ROUGE-L"] == pytest.approx(score, rel=1e-6)


def test_hand_computed_rouge_l():
    # LCS "the cat on mat": precision 4/4, recall 4/6, F with beta 1.2
    p, r = 1.0, 4 / 6
    assert rouge_l({0: ["the cat sat on the mat"]}, {0: "the cat on mat"}) == pytest.approx(
        (1 + 1.44) * p * r / (r + 1.44 * p), rel=1e-12
    )
    a = np.array([[1, 2, 3, 4, -1], [5, 5, 5, -1, -1]])
    b = np.array([[4, 1, 3, 2, 4, -2], [5, 6, 5, -2, -2, -2]])
    np.testing.assert_array_equal(lcs_lengths(a, b), [3, 2])  # 1 3 4 (or 1 2 4); 5 5


def test_bleu_matches_nltk_when_hypotheses_have_all_ngram_orders():
    # nltk counts a hypothesis with no n-grams of some order as 1 in the denominator,
    # pycocoevalcap as 0: with hypotheses of >= 4 words both definitions coincide.
    refs, hyps = corpus(5, short=False)
    ids = [i for i in hyps if len(hyps[i].split()) >= 4]
    refs, hyps = {i: refs[i] for i in ids}, {i: hyps[i] for i in ids}
    want = [
        nltk_corpus_bleu(
            [[r.split() for r in refs[i]] for i in ids], [hyps[i].split() for i in ids], weights=tuple([1 / n] * n)
        )
        for n in (1, 2, 3, 4)
    ]
    np.testing.assert_allclose(corpus_bleu(refs, hyps), want, rtol=1e-6)


def test_hand_computed_bleu_with_brevity_penalty():
    refs = {0: ["the cat sat on the mat"]}
    hyps = {0: "the cat sat"}
    b = corpus_bleu(refs, hyps)
    bp = np.exp(1 - 6 / 3)
    assert b[0] == pytest.approx(bp, rel=1e-8)
    # no 4-gram in the hypothesis: pycocoevalcap's smoothing gives (1e-15 / 1e-9) ** (1/4) * bp
    assert b[3] == pytest.approx(1e-6**0.25 * bp, rel=1e-6)


def test_notebook_bleu_score_equals_nltk_bitwise():
    """Random captions of a small vocabulary (many repeats, clipping, brevity both ways, no overlap, empty ones)
    and special tokens: BLEU_score == nltk's sentence_bleu with weights [1], to the last bit."""
    rng = np.random.default_rng(5)
    words = ["a", "cat", "dog", "on", "mat", "the", "<UNK>", "<END>"]
    for _ in range(2000):
        gt, sample = (" ".join(rng.choice(words, rng.integers(0, 12))) for _ in range(2))
        ref, hyp = ([w for w in x.split(" ") if w not in ("<UNK>", "<END>")] for x in (gt, sample))
        assert BLEU_score(gt, sample) == float(sentence_bleu([ref], hyp, weights=[1])), (gt, sample)


def test_notebook_bleu_score_semantics():
    gt = "<START> a cat sat on a mat <END>"
    sample = "<START> a cat <UNK> <END>"
    want = sentence_bleu([["a", "cat", "sat", "on", "a", "mat"]], ["a", "cat"], weights=[1])
    assert BLEU_score(gt, sample) == pytest.approx(want)
    assert BLEU_score(gt, sample) == pytest.approx(np.exp(1 - 6 / 2))


def test_human_agreement_is_leave_one_out():
    refs, _ = corpus(3, short=False)
    refs = {k: v for k, v in refs.items() if len(v) == 5}
    got = human_agreement(refs)
    rounds = []
    for k in range(5):
        hyp = {i: [r[k]] for i, r in refs.items()}
        rest = {i: r[:k] + r[k + 1 :] for i, r in refs.items()}
        scores = Bleu(4).compute_score(rest, hyp, verbose=0)[0]
        rounds.append(scores + [Cider().compute_score(rest, hyp)[0], Rouge().compute_score(rest, hyp)[0]])
    want = np.mean(rounds, axis=0)
    assert METRIC_NAMES == ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D", "ROUGE-L", "METEOR")
    assert list(got) == list(METRIC_NAMES[:-1])  # METEOR's jar is not run for the ceiling
    np.testing.assert_allclose([got[m] for m in METRIC_NAMES[:-1]], want, rtol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="refs and hyps must have the same image ids"):
        corpus_bleu({1: ["a b"]}, {2: "a b"})
    with pytest.raises(ValueError, match=r"hyps\[1\] must be one caption string, got list"):
        cider_d({1: ["a b"]}, {1: ["a b"]})
    with pytest.raises(ValueError, match=r"refs\[1\] must be a non-empty list of caption strings"):
        corpus_bleu({1: []}, {1: "a"})
    with pytest.raises(ValueError, match="every image needs at least 2 references"):
        human_agreement({1: ["a b"]})
