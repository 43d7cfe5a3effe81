"""Bootstrap intervals and paired comparisons over test images, on known cases and by simulated coverage;
a comparison's power by simulated trainings whose true difference is known."""

import numpy as np
import pytest
from pycocoevalcap.rouge.rouge import Rouge

from captioning.metrics import METRIC_NAMES, image_stats, metrics_of
from captioning.ngrams import corpus_bleu
from captioning.uncertainty import MIN_SEEDS, paired_difference, power, score_interval, seed_spread

WORDS = "a red blue green circle square triangle on left right of the big small".split()
B4, CIDER = METRIC_NAMES.index("BLEU-4"), METRIC_NAMES.index("CIDEr-D")
# The simulated captions carry no METEOR statistics (its scores are NaN; the jar's own tests: test_meteor.py):
# the assertions below hold for the other metrics.
K = [k for k, m in enumerate(METRIC_NAMES) if m != "METEOR"]


def sentence(rng) -> str:
    return " ".join(rng.choice(WORDS, rng.integers(4, 10)))


def corpus(n_images: int, seed: int):
    rng = np.random.default_rng(seed)
    return {i: [sentence(rng) for _ in range(5)] for i in range(n_images)}


def system(refs: dict, copy_rate: float, seed: int) -> dict:
    """A captioner that says one of the references with probability ``copy_rate``, else a random sentence."""
    rng = np.random.default_rng(seed)
    return {i: r[rng.integers(len(r))] if rng.random() < copy_rate else sentence(rng) for i, r in refs.items()}


def test_vectorised_scores_equal_corpus_bleu_of_each_resample():
    """metrics_of over a batch of resamples == corpus BLEU, CIDEr-D's and ROUGE-L's image means recomputed on each
    resampled caption set (ROUGE-L by pycocoevalcap)."""
    refs = corpus(80, 0)
    hyps = system(refs, 0.5, 1)
    stats = image_stats(refs, hyps)
    pick = np.random.default_rng(2).integers(0, 80, size=(5, 80))
    batch = metrics_of(np.moveaxis(stats[pick], 2, 0))  # (N_STATS, 5, 80) -> (6 metrics, 5 resamples)
    for b, rows in enumerate(pick):
        resampled_refs = {k: refs[i] for k, i in enumerate(rows)}  # a duplicated image counts twice
        resampled_hyps = {k: hyps[i] for k, i in enumerate(rows)}
        np.testing.assert_allclose(batch[:4, b], corpus_bleu(resampled_refs, resampled_hyps), rtol=1e-12)
        np.testing.assert_allclose(batch[4, b], stats[rows, -2].mean(), rtol=1e-12)
        rouge, _ = Rouge().compute_score(
            {k: list(r) for k, r in resampled_refs.items()}, {k: [h] for k, h in resampled_hyps.items()}
        )
        np.testing.assert_allclose(batch[5, b], rouge, rtol=1e-12)


def test_interval_brackets_the_estimate_and_is_seeded():
    refs = corpus(300, 3)
    stats = np.stack([image_stats(refs, system(refs, 0.6, s)) for s in (10, 11)])  # two seeds
    est = score_interval(stats, seed=5, n_resamples=500)
    per_seed = [corpus_bleu(refs, system(refs, 0.6, s))[3] for s in (10, 11)]
    assert est.value[B4] == pytest.approx(np.mean(per_seed), rel=1e-12)  # the mean over seeds of corpus BLEU-4
    assert np.all(est.low[K] < est.value[K]) and np.all(est.value[K] < est.high[K])
    assert 0.01 < est.high[B4] - est.low[B4] < 0.2
    again = score_interval(stats, seed=5, n_resamples=500)
    np.testing.assert_array_equal(again.low, est.low)
    assert not np.array_equal(score_interval(stats, seed=6, n_resamples=500).low, est.low)


def test_identical_systems_give_zero_difference_and_p_one():
    refs = corpus(200, 4)
    stats = image_stats(refs, system(refs, 0.5, 1))[None]
    d = paired_difference(stats, stats, seed=0, n_resamples=500)
    np.testing.assert_array_equal(d.value[K], 0.0)
    assert np.all(d.low[K] <= 0) and np.all(d.high[K] >= 0)
    np.testing.assert_array_equal(d.p[K], 1.0)


def test_systems_of_equal_quality_give_an_interval_containing_zero():
    """Two captioners drawn the same way (different draws): the difference interval contains 0, p is large."""
    refs = corpus(400, 5)
    a = image_stats(refs, system(refs, 0.5, 1))[None]
    b = image_stats(refs, system(refs, 0.5, 2))[None]
    d = paired_difference(a, b, seed=0, n_resamples=1000)
    assert d.low[B4] < 0 < d.high[B4] and d.low[CIDER] < 0 < d.high[CIDER]
    assert d.p[B4] > 0.05 and d.p[CIDER] > 0.05


def test_clearly_different_systems_give_an_interval_excluding_zero():
    refs = corpus(400, 6)
    good = image_stats(refs, system(refs, 0.8, 1))[None]
    bad = np.stack([image_stats(refs, system(refs, 0.3, s)) for s in (2, 3)])
    d = paired_difference(good, bad, seed=0, n_resamples=1000)
    assert d.low[B4] > 0 and d.low[CIDER] > 0
    assert d.p[B4] < 0.01 and d.p[CIDER] < 0.01
    flipped = paired_difference(bad, good, seed=0, n_resamples=1000)
    np.testing.assert_allclose(flipped.value, -d.value)
    assert flipped.high[B4] < 0


def test_intervals_cover_the_population_value_at_about_the_nominal_rate():
    """Simulated test sets of 200 images drawn from a population of 6,000: the 95% intervals of corpus
    BLEU-4 and mean CIDEr-D cover the population's value in about 95% of 200 draws (binomial sd 1.5%)."""
    refs = corpus(6000, 7)
    population = image_stats(refs, system(refs, 0.5, 8))
    truth = metrics_of(population.T)
    rng = np.random.default_rng(9)
    covered = np.zeros(len(METRIC_NAMES))
    draws = 200
    for k in range(draws):
        sample = population[rng.choice(len(population), size=200, replace=False)][None]
        est = score_interval(sample, seed=k, n_resamples=400)
        covered += (est.low <= truth) & (truth <= est.high)
    rate = covered[K] / draws
    assert np.all((0.89 <= rate) & (rate <= 0.99)), dict(zip([METRIC_NAMES[k] for k in K], rate, strict=True))


@pytest.fixture(scope="module")
def population():
    return corpus(3000, 11)


@pytest.fixture(scope="module")
def trainings(population):
    """40 "trainings" of one captioner: each seed copies a reference with its own rate (0.5 +- 0.08), on a
    population of 3,000 images; the truth is the mean over them of each one's score on the population."""
    refs = population
    rates = np.clip(0.5 + 0.08 * np.random.default_rng(12).standard_normal(40), 0.05, 0.95)
    pool = np.stack([image_stats(refs, system(refs, r, 100 + s)) for s, r in enumerate(rates)])
    return pool, np.mean([metrics_of(p.T) for p in pool], axis=0)


def draw(pool, k: int, seeds: int, images: int = 200):
    """Two systems of ``seeds`` trainings each, on the same ``images`` test images, drawn without replacement."""
    rng = np.random.default_rng(1000 + k)
    picked, imgs = rng.choice(len(pool), 2 * seeds, replace=False), rng.choice(pool.shape[1], images, replace=False)
    return pool[picked[:seeds]][:, imgs], pool[picked[seeds:]][:, imgs]


@pytest.mark.parametrize("seeds", [3, 5])
def test_two_level_intervals_cover_training_and_image_noise(trainings, seeds):
    """With seed noise larger than image noise, the intervals over seeds and images cover the truth at
    about the nominal rate (200 draws: binomial sd 1.5%)."""
    pool, truth = trainings
    covered = np.zeros(len(METRIC_NAMES))
    for k in range(200):
        est = score_interval(draw(pool, k, seeds)[0], seed=k, n_resamples=400)
        covered += (est.low <= truth) & (truth <= est.high)
    rate = covered[K] / 200
    assert np.all((0.89 <= rate) & (rate <= 0.995)), dict(zip([METRIC_NAMES[k] for k in K], rate, strict=True))


def test_equal_systems_differ_significantly_at_the_nominal_rate_only_with_three_seeds_a_side(trainings):
    """Two equally good captioners: with one seed a side, the test-image bootstrap calls them different
    far more often than 5% (training noise is left out); with three seeds a side, about 5% of the time."""
    pool, _ = trainings
    rates = {}
    for seeds in (1, 3):
        false = np.zeros(len(METRIC_NAMES))
        for k in range(200):
            false += paired_difference(*draw(pool, k, seeds), seed=k, n_resamples=400).p < 0.05
        rates[seeds] = false[K] / 200
    assert np.all(rates[1][1:] > 0.2), rates
    assert np.all(rates[3] <= 0.09), rates


def test_one_seed_gets_its_image_interval_and_no_spread(trainings):
    pool, _ = trainings
    one = pool[:1, :200]
    est = score_interval(one, seed=3, n_resamples=300)
    assert np.all(est.low[K] < est.value[K]) and np.all(est.value[K] < est.high[K])
    assert np.isnan(seed_spread(one)).all()
    per_seed = np.array([metrics_of(p.T) for p in pool[:4, :200]])
    np.testing.assert_allclose(seed_spread(pool[:4, :200]), per_seed.std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(score_interval(pool[:4, :200], n_resamples=10).value, per_seed.mean(axis=0))


def truth_of(pool: np.ndarray) -> np.ndarray:
    """(5,) the mean over a pool's trainings of each one's scores on the whole population."""
    return metrics_of(np.moveaxis(pool, 2, 0)).mean(axis=1)


@pytest.fixture(scope="module")
def copies(population):
    """Per-image statistics of a captioner that always says one of the references."""
    return image_stats(population, system(population, 1.0, 7))


def better_by(pool, copies, k: int, delta: float):
    """The pool's trainings made better by saying a reference on a fixed random share of the images, the
    share found by bisection so that the truth gains ``delta`` on metric ``k``; and the gain reached."""
    u = np.random.default_rng(21).random(pool.shape[1])
    base, lo, hi = truth_of(pool)[k], 0.0, 1.0
    for _ in range(30):
        q = (lo + hi) / 2
        lo, hi = (q, hi) if truth_of(np.where((u < q)[None, :, None], copies, pool))[k] - base < delta else (lo, q)
    better = np.where((u < hi)[None, :, None], copies, pool)
    return better, truth_of(better)[k] - base


def draw_pair(better, pool, k: int, seeds: int, images: int = 200):
    """``seeds`` trainings of the better captioner and ``seeds`` others of the pool, on the same test images."""
    rng = np.random.default_rng(5000 + k)
    picked, imgs = rng.choice(len(pool), 2 * seeds, replace=False), rng.choice(pool.shape[1], images, replace=False)
    return better[picked[:seeds]][:, imgs], pool[picked[seeds:]][:, imgs]


def detected(better, pool, k: int, seeds: int, draws: int = 200) -> float:
    """How often the paired comparison finds the better captioner better at the 5% level."""
    hits = 0
    for i in range(draws):
        d = paired_difference(*draw_pair(better, pool, i, seeds), seed=i, n_resamples=400)
        hits += bool(d.p[k] < 0.05 and d.value[k] > 0)
    return hits / draws


def reported_mde(pool, k: int, seeds: int = 3) -> float:
    """The median over 40 draws of two equal captioners of the minimum detectable effect each reports."""
    return float(np.median([power(*draw(pool, i, seeds), seed=i, n_resamples=400).mde[k] for i in range(40)]))


@pytest.mark.parametrize("metric", ["BLEU-4", "CIDEr-D"])
def test_a_true_difference_of_the_reported_detectable_effect_is_found_about_80_percent_of_the_time(
    trainings, copies, metric
):
    """3 seeds a side, 200 test images: systems whose true difference equals the minimum detectable effect
    the comparison reports are found significantly different in 70-90% of 200 draws (power 80%)."""
    pool, _ = trainings
    k = METRIC_NAMES.index(metric)
    mde = reported_mde(pool, k)
    better, delta = better_by(pool, copies, k, mde)
    assert delta == pytest.approx(mde, rel=0.02)
    assert 0.70 <= detected(better, pool, k, 3) <= 0.90


def test_the_seeds_a_side_it_reports_detect_a_smaller_difference_about_80_percent_of_the_time(trainings, copies):
    """A true BLEU-4 difference of 0.6 times what 3 seeds detect. Each of 40 pilots with 3 seeds a side says how
    many seeds a side it needs; trained with that many (at most the pool's 20 a side), 5 comparisons per pilot
    find it in 70-90% of the 200; 3 seeds a side find it far less often."""
    pool, _ = trainings
    better, delta = better_by(pool, copies, B4, 0.6 * reported_mde(pool, B4))
    hits, advised = 0, []
    for i in range(40):
        n = power(*draw_pair(better, pool, i, 3), seed=i, n_resamples=400).seeds_needed(delta)[B4]
        advised.append(n := int(min(n, 20)))
        for j in range(5):
            d = paired_difference(*draw_pair(better, pool, 1000 + 5 * i + j, n), seed=j, n_resamples=400)
            hits += bool(d.p[B4] < 0.05 and d.value[B4] > 0)
    assert 6 <= np.median(advised) <= 15
    assert 0.70 <= hits / 200 <= 0.90
    assert detected(better, pool, B4, 3, draws=100) < 0.5


def test_power_against_a_plain_reference(trainings):
    """The seeds' part from each side's per-seed scores, the images' part from a bootstrap over images with
    the seeds fixed; one seed on a side leaves both unmeasured; a difference the images alone hide is ∞."""
    pool, _ = trainings
    a, b = pool[:3, :300], pool[3:7, :300]
    per_seed = lambda x: np.array([metrics_of(s.T) for s in x]).T  # noqa: E731  (5, S)
    p = power(a, b, seed=1, n_resamples=500)
    var_a, var_b = per_seed(a).var(axis=1, ddof=1), per_seed(b).var(axis=1, ddof=1)
    rng = np.random.default_rng(99)
    boot = []
    for _ in range(500):
        rows = rng.integers(0, 300, 300)
        boot.append(per_seed(a[:, rows]).mean(axis=1) - per_seed(b[:, rows]).mean(axis=1))
    image = np.var(boot, axis=0, ddof=1)
    np.testing.assert_allclose(p.seed_sum, var_a + var_b, rtol=1e-10)
    np.testing.assert_allclose(p.seeds_now, var_a / 3 + var_b / 4, rtol=1e-10)
    np.testing.assert_allclose(p.image, image, rtol=0.2)  # two bootstraps of 500 resamples
    np.testing.assert_allclose(p.mde, 2.8016 * np.sqrt(p.image + p.seeds_now), rtol=1e-4)
    need = p.seeds_needed(p.mde)
    assert np.all(need[K] <= 4) and np.all(need[K] >= MIN_SEEDS)  # what 3 and 4 seeds detect needs no more
    assert np.all(np.isinf(p.seeds_needed(0.5 * 2.8016 * np.sqrt(p.image))[K]))
    paired = power(a, pool[3:6, :300], paired_seeds=True, n_resamples=200)
    diff = per_seed(a) - per_seed(pool[3:6, :300])
    np.testing.assert_allclose(paired.seed_sum, diff.var(axis=1, ddof=1), rtol=1e-10)
    one = power(a[:1], b, n_resamples=200)
    assert np.isnan(one.mde).all() and np.isnan(one.seeds_needed(0.1)).all()


def test_bad_shapes_are_one_line_errors():
    with pytest.raises(ValueError, match=r"score_interval: expected per-image statistics of shape \(seeds, images"):
        score_interval(np.zeros((10, 12)))
    with pytest.raises(
        ValueError, match=r"expected per-image statistics of shape \(seeds, images >= 2, 18 or 12\), got \(1, 10, 11\)"
    ):
        score_interval(np.zeros((1, 10, 11)))  # the statistics of another version's scoring
    a = np.zeros((1, 10, 12))
    with pytest.raises(ValueError, match="a and b must score the same images, got 10 and 12 images"):
        paired_difference(a, np.zeros((1, 12, 12)))
    with pytest.raises(ValueError, match="power: paired seeds need as many seeds on each side, got 1 and 2"):
        power(a, np.zeros((2, 10, 12)), paired_seeds=True)
