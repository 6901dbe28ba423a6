"Subset rules on fixtures whose right sizes are known (the paper's, ties included), the Spearman aggregation, and the simulated-panel oracle"
import itertools
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from hivemind.calibration import (PAPER_SIZES, TUKEY_KS, ENTROPY_PERCENTS, PAIRWISE_PERCENTS, tukey_keep, top_percent_keep,
                                  first_ranked_keep, pairwise_agreement, item_statistics, subset_masks, correlations, type_means,
                                  comparison_table, correlate)
from hivemind.disagreement import shannon_entropy, label_counts, PAIRWISE_CLASSES
from hivemind.human_data import Panel, simulated_items


def tukey_fixture():
    "750 means with quartiles 3.2 and 3.6 and outliers placed between the fences of k = 3.0 ... 0.5"
    outliers = [1.9] * 5 + [2.1] * 6 + [2.3] * 8 + [2.5] * 13 + [2.7] * 23 + [2.9] * 97  # each band: excluded from k downwards
    means = np.array(outliers + [3.1] * 35 + [3.2] * 114 + [3.4] * 260 + [3.6] * 189)
    return np.random.default_rng(0).permutation(means)


def test_tukey_fixture_gives_the_paper_sizes():
    means = tukey_fixture()
    assert len(means) == 750 and tuple(np.percentile(means, [25, 75])) == pytest.approx((3.2, 3.6))
    assert [int(tukey_keep(means, k).sum()) for k in TUKEY_KS] == PAPER_SIZES['absolute_similar']


def test_tukey_keeps_the_fence_and_uses_global_quartiles():
    means = np.array([1.0, 2, 2, 2, 3, 3, 3, 4.0, 4.5])  # Q1 2, Q3 3: k = 1 fences [1, 4]
    assert tukey_keep(means, 1.0).tolist() == [True] * 8 + [False]


def entropy_levels(count):
    "`count` distinct entropies of 25-rater count vectors, highest first, with one count vector each"
    vectors = {}
    for split in itertools.combinations_with_replacement(range(26), 4):
        counts = np.diff([0, *split, 25])
        vectors.setdefault(round(float(shannon_entropy([counts])[0]), 9), counts)
    levels = sorted(vectors, reverse=True)[::7][:count]
    return [vectors[level] for level in levels]


def entropy_fixture():
    "750 items of 25 labels whose top-p% entropy subsets (ties kept) have the paper's sizes"
    groups = [17, 13, 15, 18, 12, 15, 15, 18]  # cumulative 17, 30, 45, 63, 75, 90, 105, 123
    vectors = entropy_levels(len(groups) + 1)
    rng = np.random.default_rng(1); rows = []
    for vector, size in zip(vectors, groups + [750 - sum(groups)]):
        rows += [np.roll(vector, int(rng.integers(5))) for _ in range(size)]  # same counts in other classes: exact ties
    return np.array(rows)[rng.permutation(750)]


def test_entropy_fixture_gives_the_paper_sizes_with_ties():
    counts = entropy_fixture()
    entropies = shannon_entropy(counts)
    assert len(set(entropies.tolist())) == 9  # rotated count vectors tie bit for bit
    assert [int(top_percent_keep(entropies, p).sum()) for p in ENTROPY_PERCENTS] == PAPER_SIZES['absolute_disagreed']


def expected_top_percent(values, percent):
    "Independent count: where the percentile lands between two sorted values decides which tie group is the last kept"
    ordered = np.sort(values); position = (100 - percent) / 100 * (len(values) - 1)
    below, fraction = int(np.floor(position)), position - np.floor(position)
    cut = ordered[below] if fraction == 0 or ordered[below] == ordered[below + 1] else ordered[below + 1]
    return int((values >= cut).sum())


@pytest.mark.parametrize('seed', range(5))
def test_top_percent_matches_an_independent_count(seed):
    rng = np.random.default_rng(seed)
    entropies = shannon_entropy(rng.multinomial(25, rng.dirichlet(np.ones(5) * 0.7), size=300))
    for percent in ENTROPY_PERCENTS:
        assert top_percent_keep(entropies, percent).sum() == expected_top_percent(entropies, percent)


def pairwise_fixture(seed=2):
    "500 pairwise items of 25 labels, many tied neutral counts"
    rng = np.random.default_rng(seed)
    return [list(rng.choice(PAIRWISE_CLASSES, 25, p=rng.dirichlet(np.ones(5)))) for _ in range(500)]


def test_pairwise_subsets_have_the_paper_sizes_and_break_ties_by_file_order():
    items = pd.DataFrame({'labels': pairwise_fixture()})
    statistics = item_statistics(items, 'pairwise')
    for setting, key, descending in [('pairwise_similar', 'neutral', True), ('pairwise_disagreed', 'agreement', False)]:
        masks = subset_masks(statistics, setting)
        assert [int(masks[f'p{p}'].sum()) for p in PAIRWISE_PERCENTS] == PAPER_SIZES[setting]
        values = statistics[key].tolist()
        ranked = sorted(range(500), key=lambda i: (-values[i] if descending else values[i], i))  # Python's sort, independent
        for p in PAIRWISE_PERCENTS:
            assert set(np.flatnonzero(masks[f'p{p}'])) == set(ranked[:500 * p // 100])
    assert statistics.neutral.duplicated().sum() > 400  # the fixture really has ties


def test_agreement_formula_against_a_loop():
    for labels in pairwise_fixture(3)[:50]:
        plus, minus, zero = sum(l > 0 for l in labels), sum(l < 0 for l in labels), labels.count(0)
        expected = max(plus + zero / 2, minus + zero / 2) / len(labels)
        assert pairwise_agreement(label_counts([labels], PAIRWISE_CLASSES))[0] == pytest.approx(expected)


def test_first_ranked_keep_is_stable():
    assert np.flatnonzero(first_ranked_keep([2, 1, 1, 1, 0], 60)).tolist() == [1, 2, 4]
    assert np.flatnonzero(first_ranked_keep([2, 1, 1, 1, 0], 60, descending=True)).tolist() == [0, 1, 2]


def toy_scores(items, values):
    "A scores table giving each item's response the value in `values[scorer]`"
    return pd.concat([pd.DataFrame({'scorer': name, 'scorer_type': kind, 'prompt': items.prompt, 'response': items.response, 'score': score})
                      for (name, kind), score in values.items()], ignore_index=True)


def test_type_means_are_unweighted_means_of_spearman():
    rng = np.random.default_rng(4)
    items = pd.DataFrame({'prompt': 'p', 'response': [f'r{i}' for i in range(40)], 'labels': [list(rng.integers(1, 6, 25)) for _ in range(40)]})
    means = item_statistics(items, 'absolute').mean_label
    values = {(f'lm:{i}', 'lm'): means + rng.normal(0, s, 40) for i, s in enumerate([0.1, 0.5, 2.0])} | {('reward:a', 'reward'): rng.normal(size=40)}
    table = correlations(items, toy_scores(items, values), 'absolute_similar')
    full = type_means(table).query("subset == 'full'").set_index('scorer_type').rho
    expected = np.mean([stats.spearmanr(values[(f'lm:{i}', 'lm')], means)[0] for i in range(3)])
    assert full['lm'] == pytest.approx(expected) and full['reward'] == pytest.approx(stats.spearmanr(values[('reward:a', 'reward')], means)[0])
    pearson = correlations(items, toy_scores(items, values), 'absolute_similar', method='pearson')
    assert pearson.query("subset == 'full' and scorer == 'lm:0'").rho.item() == pytest.approx(stats.pearsonr(values[('lm:0', 'lm')], means)[0])


def test_small_subsets_are_missing_with_a_reason():
    items = pd.DataFrame({'prompt': 'p', 'response': ['a', 'b', 'c', 'd'], 'labels': [[1, 1], [2, 3], [4, 4], [5, 5]]})
    table = correlations(items, toy_scores(items, {('lm:x', 'lm'): [1.0, 2, 3, 4]}), 'absolute_disagreed')
    small = table[table['size'] < 3]
    assert len(small) and small.rho.isna().all() and small.missing_reason.str.contains('needs at least 3').all()
    bars = type_means(table)
    assert (bars.rho.isna() == (bars.missing_reason != '')).all()
    compared = comparison_table(table, 'absolute_disagreed')
    assert 'needs at least 3' in compared.query("scorer == 'lm:x'").note.item()
    assert compared.iloc[1, 3:12].tolist() == [750, *PAPER_SIZES['absolute_disagreed']]


def test_comparison_table_puts_the_paper_row_beside_a_matching_scorer():
    items = pd.DataFrame({'prompt': 'p', 'response': list('abcdef'), 'labels': [[1], [2], [3], [4], [5], [5, 4]]})
    table = correlations(items, toy_scores(items, {('lm:Qwen/Qwen2.5-0.5B-Instruct', 'lm'): range(6)}), 'absolute_similar')
    compared = comparison_table(table, 'absolute_similar')
    assert compared.query("source == 'paper' and scorer == 'Qwen/Qwen2.5-0.5B-Instruct'").full.item() == pytest.approx(0.352)
    assert compared.query("scorer == 'paper mean over judge scorers'").full.item() == pytest.approx(0.322, abs=5e-4)


def oracle_responses(count=300, seed=0):
    "Invented responses of varied length, structure and vocabulary to 20 prompts"
    rng = np.random.default_rng(seed); vocabulary = [f'w{i}' for i in range(300)]
    texts = [' '.join(rng.choice(vocabulary, int(rng.integers(5, 80)))) + '\n- point' * int(rng.integers(0, 4)) for _ in range(count)]
    return pd.DataFrame({'id': [f'r{i:03d}' for i in range(count)], 'prompt': [f'p{i % 20}' for i in range(count)], 'text': texts})


def test_simulated_panel_oracle():
    "Scorers that follow the consensus and not the polarising items: the analysis must find exactly that"
    panel = Panel(taste_sd=0, leniency_sd=0, noise_sd=0.1, quality_sd=0.5, polarising_share=0.2)
    absolute, _ = simulated_items(oracle_responses(1000), seed=3, panel=panel)
    polarising = absolute.polarising.to_numpy(); statistics = item_statistics(absolute, 'absolute')
    # 1. entropy separates the polarising items exactly: they are the top-k entropies
    top = statistics.entropy.rank(ascending=False, method='first').to_numpy() <= polarising.sum()
    assert 150 <= polarising.sum() <= 250 and (top == polarising).all()
    # 2. a scorer equal to the hidden quality on consensus items and to noise on polarising ones
    rng = np.random.default_rng(5)
    faithful = np.where(polarising, rng.normal(size=len(absolute)), absolute.quality)
    scores = toy_scores(absolute, {('lm:faithful', 'lm'): faithful, ('reward:random', 'reward'): rng.normal(size=len(absolute))})
    table = correlations(absolute, scores, 'absolute_disagreed').set_index(['subset', 'scorer'])
    share = 100 * polarising.mean()
    inside = [f'p{p}' for p in ENTROPY_PERCENTS if p < share]  # subsets made only of polarising items
    masks = subset_masks(statistics, 'absolute_disagreed')
    assert len(inside) >= 4 and all(polarising[masks[s]].all() for s in inside)
    assert table.loc[('full', 'lm:faithful'), 'rho'] > 0.6
    assert all(abs(table.loc[(s, 'lm:faithful'), 'rho']) < 0.3 for s in inside if table.loc[(s, 'lm:faithful'), 'size'] >= 50)
    consensus = correlate(faithful[~polarising], statistics.mean_label[~polarising])[0]
    assert consensus > 0.9  # on the consensus items the scorer tracks the humans
    assert abs(table.loc[('full', 'reward:random'), 'rho']) < 0.2
