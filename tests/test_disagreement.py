"Disagreement measures against scipy and brute-force loops over raters"
import itertools
import numpy as np
import pytest
from scipy import stats
from hivemind.disagreement import (ABSOLUTE_CLASSES, label_counts, shannon_entropy, grouped_entropy, gini_impurity,
                                   pairwise_disagreement, minority_share, fleiss_kappa_single, disagreement_table)

rng = np.random.default_rng(0)
LABELS = [list(rng.integers(1, 6, int(rng.integers(23, 27)))) for _ in range(40)]
COUNTS = label_counts(LABELS, ABSOLUTE_CLASSES)


def test_entropy_matches_scipy_in_bits():
    assert shannon_entropy(COUNTS) == pytest.approx([stats.entropy(c, base=2) for c in COUNTS])
    assert shannon_entropy([[5, 5, 5, 5, 5]])[0] == pytest.approx(np.log2(5))


def test_grouped_entropy_merges_low_middle_high():
    merged = [[c[:2].sum(), c[2], c[3:].sum()] for c in COUNTS]
    assert grouped_entropy(COUNTS) == pytest.approx([stats.entropy(m, base=2) for m in merged])


def test_pairwise_disagreement_counts_rater_pairs():
    for labels, value in zip(LABELS[:10], pairwise_disagreement(COUNTS[:10])):
        pairs = list(itertools.combinations(labels, 2))
        assert value == pytest.approx(sum(a != b for a, b in pairs) / len(pairs))


def test_gini_and_minority_share_by_loops():
    for labels, gini, minority in zip(LABELS, gini_impurity(COUNTS), minority_share(COUNTS)):
        shares = [labels.count(c) / len(labels) for c in ABSOLUTE_CLASSES]
        assert gini == pytest.approx(1 - sum(s * s for s in shares)) and minority == pytest.approx(1 - max(shares))


def test_single_item_kappas_average_to_fleiss_kappa_with_equal_raters():
    counts = rng.multinomial(25, [0.1, 0.2, 0.4, 0.2, 0.1], size=30)
    shares = counts.sum(0) / counts.sum(); agreement = ((counts * (counts - 1)).sum(1) / (25 * 24)).mean()
    fleiss = (agreement - (shares ** 2).sum()) / (1 - (shares ** 2).sum())  # textbook Fleiss kappa
    assert fleiss_kappa_single(counts).mean() == pytest.approx(fleiss)


def test_table_and_bad_labels():
    table = disagreement_table(LABELS, ABSOLUTE_CLASSES)
    assert len(table) == 40 and table.raters.tolist() == [len(l) for l in LABELS]
    with pytest.raises(ValueError, match='item 1: label 6'):
        label_counts([[1], [6]], ABSOLUTE_CLASSES)


def test_bad_or_empty_counts_are_refused():
    from hivemind.disagreement import checked_counts, MEASURES
    from hivemind.similarity import InputError
    bad = COUNTS[:5].astype(float)
    bad[3, 1] = np.nan
    negative = COUNTS[:5].copy()
    negative[2, 0] = -1
    for name, measure in MEASURES.items():
        with pytest.raises(InputError, match=r'label counts: 1 non-finite value\(s\) .* row\(s\) 3'): measure(bad)
        with pytest.raises(InputError, match=r'negative count\(s\) in item\(s\) 2'): measure(negative)
        with pytest.raises(InputError, match='label counts: empty'): measure(np.zeros((0, 5)))
    with pytest.raises(InputError, match='disagreement_table: labels is empty'):
        disagreement_table([], ABSOLUTE_CLASSES)
    assert checked_counts(COUNTS).dtype == float
