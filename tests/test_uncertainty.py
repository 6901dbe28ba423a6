"The prompt-level bootstrap: coverage on simulated data with a known truth, agreement with a plain loop, seeds."
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from hivemind.similarity import cross_model_similarity, intra_model_similarity, share_above, similarity_histogram
from hivemind.calibration import correlations, type_means
from hivemind.uncertainty import (bootstrap_counts, bootstrap_indices, index_counts, percentile_interval, share_draws,
                                  correlation_draws, share_intervals, bin_intervals, cell_intervals, neighbour_intervals,
                                  rho_intervals, within_prompt_means, weighted_pair_means, item_weights, resampled_run)

REPETITIONS = 200  # simulated runs per coverage check; 95% nominal must land in [0.90, 0.99]


def simulated_run(models=3, prompts=6, samples=4, dims=12, seed=0):
    "Responses and unit vectors whose within-(model, prompt) similarity differs by model and prompt"
    rng, rows, vectors = np.random.default_rng(seed), [], []
    for m in range(models):
        for p in range(prompts):
            centre, noise = rng.normal(size=dims), rng.uniform(0.2, 1.5)
            for s in range(samples):
                rows.append(dict(model=f'm{m}', prompt_id=f'p{p}', sample_index=s))
                vectors.append(centre + noise * rng.normal(size=dims))
    vectors = np.array(vectors)
    return pd.DataFrame(rows), vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


drawn_run = resampled_run  # the reference: the run a resample stands for, re-run the plain way


# ------------------------------------------------------------------ coverage with a known truth

def covered(low, high, truth):
    return bool(low <= truth <= high)


def test_share_interval_covers_the_true_share():
    "100 prompts, 5 models; each case above 0.8 with probability 0.6: true average share 60%"
    rng, counts, hits = np.random.default_rng(1), bootstrap_counts(100, 500, seed=2), 0
    for _ in range(REPETITIONS):
        means = np.where(rng.random((5, 100)) < 0.6, 0.85, 0.6)
        low, high = percentile_interval(share_draws(means, counts)[:, 0])
        hits += covered(low, high, 60.0)
    assert 0.90 <= hits / REPETITIONS <= 0.99, hits / REPETITIONS


def test_spearman_interval_covers_the_true_rho():
    "Bivariate normal with r = 0.5: Spearman's rho is (6 / pi) arcsin(r / 2) = 0.4826; 150 items"
    r, n = 0.5, 150
    truth = 6 / np.pi * np.arcsin(r / 2)
    rng, weights, hits = np.random.default_rng(3), bootstrap_counts(n, 500, seed=4), 0
    for _ in range(REPETITIONS):
        x = rng.normal(size=n); y = r * x + np.sqrt(1 - r ** 2) * rng.normal(size=n)
        hits += covered(*percentile_interval(correlation_draws(x, y, weights)), truth)
    assert 0.90 <= hits / REPETITIONS <= 0.99, hits / REPETITIONS


def test_paired_difference_covers_zero_for_a_random_subset():
    "A subset chosen at random has the full set's rho: the paired difference's interval covers 0"
    r, n = 0.4, 200
    rng, weights, hits = np.random.default_rng(5), bootstrap_counts(n, 500, seed=6), 0
    for _ in range(REPETITIONS):
        x = rng.normal(size=n); y = r * x + np.sqrt(1 - r ** 2) * rng.normal(size=n)
        subset = rng.random(n) < 0.5
        difference = correlation_draws(x, y, weights * subset) - correlation_draws(x, y, weights)
        hits += covered(*percentile_interval(difference), 0.0)
    assert 0.90 <= hits / REPETITIONS <= 0.99, hits / REPETITIONS


def test_pairing_narrows_the_difference():
    "The paired difference is narrower than the one with independent draws (the point of pairing)"
    rng = np.random.default_rng(7); n = 300
    x = rng.normal(size=n); y = 0.5 * x + rng.normal(size=n); subset = rng.random(n) < 0.7
    same, other = bootstrap_counts(n, 1000, seed=8), bootstrap_counts(n, 1000, seed=9)
    paired = np.subtract(*percentile_interval(correlation_draws(x, y, same * subset) - correlation_draws(x, y, same)))
    unpaired = np.subtract(*percentile_interval(correlation_draws(x, y, same * subset) - correlation_draws(x, y, other)))
    assert abs(paired) < 0.8 * abs(unpaired)


# ------------------------------------------------------------------ the same draws give the plain loop's statistics

def test_shares_bins_and_cells_equal_the_stage_rerun_on_each_resample():
    responses, vectors = simulated_run()
    positions = bootstrap_indices(6, 5, seed=11)
    counts = index_counts(positions, 6)
    from hivemind.uncertainty import cell_means, cross_pieces, cell_draws, bin_draws
    means, models, _ = cell_means(responses, vectors)
    per_prompt, valid, _ = cross_pieces(responses, vectors)
    shares, bins, cells = share_draws(means, counts), bin_draws(means, counts), cell_draws(per_prompt, valid, counts)
    for b, drawn in enumerate(positions):
        run, run_vectors = drawn_run(responses, vectors, drawn)
        intra = intra_model_similarity(run, run_vectors)
        assert shares[b, 0] == pytest.approx(share_above(intra))
        np.testing.assert_allclose(bins[b, 1:], similarity_histogram(intra).loc[models].to_numpy())
        np.testing.assert_allclose(cells[b], cross_model_similarity(run, run_vectors).loc[models, models].to_numpy())


def test_interval_functions_use_the_seeded_draws():
    responses, vectors = simulated_run()
    shares = share_intervals(responses, vectors, resamples=50, seed=3)
    counts = bootstrap_counts(6, 50, seed=3)
    from hivemind.uncertainty import cell_means
    low, high = percentile_interval(share_draws(cell_means(responses, vectors)[0], counts))
    np.testing.assert_allclose(shares.low, low); np.testing.assert_allclose(shares.high, high)
    assert shares.estimate[0] == pytest.approx(share_above(intra_model_similarity(responses, vectors)))


def test_spearman_draws_equal_spearmanr_of_each_resample_and_subset():
    rng = np.random.default_rng(12); n = 40
    x, y = rng.integers(0, 5, n).astype(float), np.round(rng.normal(size=n), 1)
    x[3] = np.nan  # a missing score: left out, as calibration.correlate does
    subset = rng.random(n) < 0.6
    positions = bootstrap_indices(n, 6, seed=13)
    full, part = (correlation_draws(x, y, index_counts(positions, n) * mask) for mask in (np.ones(n, bool), subset))
    for b, drawn in enumerate(positions):
        kept = drawn[~np.isnan(x[drawn])]
        assert full[b] == pytest.approx(stats.spearmanr(x[kept], y[kept])[0])
        inside = kept[subset[kept]]
        assert part[b] == pytest.approx(stats.spearmanr(x[inside], y[inside])[0])


def test_weighted_pair_means_equal_the_resampled_responses():
    rng = np.random.default_rng(14)
    units = rng.normal(size=(5, 6)); units /= np.linalg.norm(units, axis=1, keepdims=True)
    positions = rng.integers(0, 5, size=(8, 5))
    means = weighted_pair_means(units @ units.T, index_counts(positions, 5))
    for b, drawn in enumerate(positions):
        pairs = [(i, j) for i in range(5) for j in range(5) if i != j and drawn[i] != drawn[j]]
        expected = np.mean([units[drawn[i]] @ units[drawn[j]] for i, j in pairs]) if pairs else np.nan
        np.testing.assert_allclose(means[b], expected)


def test_rho_intervals_match_calibration_and_are_paired():
    rng = np.random.default_rng(15); n = 60
    quality = rng.normal(size=n)
    items = pd.DataFrame({'item_id': [f'i{k}' for k in range(n)], 'prompt': [f'q{k % 6}' for k in range(n)],
                          'response': [f'r{k}' for k in range(n)],
                          'labels': [list(np.clip(np.round(3 + q + rng.normal(size=25)), 1, 5).astype(int)) for q in quality]})
    scores = pd.DataFrame({'scorer': 'lm:x', 'scorer_type': 'lm', 'prompt': items.prompt, 'response': items.response,
                           'score': quality + rng.normal(size=n)})
    table = rho_intervals(items, scores, 'absolute_disagreed', resamples=100, seed=1)
    expected = type_means(correlations(items, scores, 'absolute_disagreed')).set_index('subset').rho
    ours = table.query("level == 'type' and statistic == 'rho'").set_index('subset').estimate
    np.testing.assert_allclose(ours.loc[expected.index], expected)
    weights = bootstrap_counts(n, 100, seed=1)
    full = correlation_draws(scores.score.to_numpy(), np.array([np.mean(l) for l in items.labels]), weights)
    row = table.query("level == 'scorer' and statistic == 'rho' and subset == 'full'").iloc[0]
    assert (row.low, row.high) == pytest.approx(tuple(percentile_interval(full)))
    clustered = rho_intervals(items, scores, 'absolute_disagreed', resamples=100, seed=1, unit='prompts')
    assert set(clustered.unit) == {'prompts'}


def test_neighbour_intervals_are_means_over_drawn_prompts():
    table = pd.DataFrame({5: [1.0, 2.0, 4.0], 10: [3.0, 3.0, 6.0]}, index=['a', 'b', 'c'])
    result = neighbour_intervals(table, resamples=40, seed=2)
    counts = bootstrap_counts(3, 40, seed=2)
    np.testing.assert_allclose(percentile_interval(counts @ table.to_numpy() / 3)[0], result.low)


# ------------------------------------------------------------------ determinism and errors

def test_same_seed_same_intervals_other_seed_other_draws():
    responses, vectors = simulated_run()
    first = cell_intervals(responses, vectors, resamples=60, seed=5)
    pd.testing.assert_frame_equal(first, cell_intervals(responses, vectors, resamples=60, seed=5))
    assert not first[['low', 'high']].equals(cell_intervals(responses, vectors, resamples=60, seed=6)[['low', 'high']])
    np.testing.assert_array_equal(within_prompt_means(responses, vectors, 10, seed=1),
                                  within_prompt_means(responses, vectors, 10, seed=1))
    np.testing.assert_array_equal(item_weights(pd.Series(list('aabc')), 'prompts', 7, 3),
                                  item_weights(pd.Series(list('aabc')), 'prompts', 7, 3))


def test_bin_intervals_hold_the_histogram():
    responses, vectors = simulated_run()
    table = bin_intervals(responses, vectors, resamples=30)
    histogram = similarity_histogram(intra_model_similarity(responses, vectors))
    wide = table.pivot(index='model', columns='bin', values='estimate').loc[histogram.index, histogram.columns]
    np.testing.assert_allclose(wide.to_numpy(), histogram.to_numpy())
    assert ((table.low <= table.estimate + 1e-9) & (table.estimate <= table.high + 1e-9)).all()


def test_bad_input_is_named():
    from hivemind.uncertainty import UncertaintyError
    with pytest.raises(UncertaintyError, match='at least one unit'): bootstrap_indices(0)
    with pytest.raises(UncertaintyError, match='resamples must be at least 1'): bootstrap_indices(3, 0)
    with pytest.raises(UncertaintyError, match='strictly between 0 and 1'): percentile_interval(np.zeros((3, 1)), 1.0)
    with pytest.raises(UncertaintyError, match='spearman or pearson'): correlation_draws(np.ones(3), np.ones(3), np.ones((1, 3)), 'kendall')


def test_uncertainty_keeps_every_name_as_the_stage_modules_define_it():
    "The machinery moved beside its stages; `hivemind.uncertainty` still names each function, the same object"
    import hivemind.uncertainty as uncertainty
    import hivemind.bootstrap, hivemind.similarity, hivemind.calibration, hivemind.similarity_figures, hivemind.calibration_figures
    homes = {'bootstrap': ['RESAMPLES', 'CONFIDENCE', 'bootstrap_indices', 'index_counts', 'bootstrap_counts', 'resampled_run',
                           'percentile_interval', 'interval_frame', 'ratio_draws', 'as_estimate', 'statistic_intervals',
                           'interval_text'],
             'similarity': ['cell_means', 'share_draws', 'share_intervals', 'weighted_pair_means', 'within_prompt_means',
                            'bin_draws', 'bin_intervals', 'cross_pieces', 'cell_draws', 'cell_intervals', 'neighbour_intervals'],
             'calibration': ['tie_groups', 'group_ranks', 'weighted_ranks', 'weighted_pearson', 'weighted_spearman',
                             'correlation_draws', 'item_weights', 'rho_intervals'],
             'similarity_figures': ['paper_shares', 'interval_plot'], 'calibration_figures': ['rho_figure']}
    for module, names in homes.items():
        for name in names: assert getattr(uncertainty, name) is getattr(getattr(hivemind, module), name), name
    assert uncertainty.UncertaintyError is hivemind.bootstrap.BootstrapError


def simulated_items(n=60, seed=15):
    "Absolute items of 6 prompts with 25 labels each, and an LM scorer that follows their latent quality"
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n)
    items = pd.DataFrame({'item_id': [f'i{k}' for k in range(n)], 'prompt': [f'q{k % 6}' for k in range(n)],
                          'response': [f'r{k}' for k in range(n)],
                          'labels': [list(np.clip(np.round(3 + q + rng.normal(size=25)), 1, 5).astype(int)) for q in quality]})
    scores = pd.DataFrame({'scorer': 'lm:x', 'scorer_type': 'lm', 'prompt': items.prompt, 'response': items.response,
                           'score': quality + rng.normal(size=n)})
    return items, scores


def test_the_figures_intervals_are_chapter_11s():
    "Same seed, same method: the intervals drawn in Fig 10's bars equal `rho_intervals`' bars"
    from hivemind.calibration_figures import setting_figure
    items, scores = simulated_items(n=40, seed=2)
    table = rho_intervals(items, scores, 'absolute_disagreed', resamples=100, seed=2025)
    _, data = setting_figure(correlations(items, scores, 'absolute_disagreed'), 'absolute_disagreed', intervals=table)
    bars = table.query("level == 'type' and statistic == 'rho'").set_index(['scorer_type', 'subset'])
    keyed = data.set_index(['scorer_type', 'subset'])
    np.testing.assert_allclose(keyed.rho, bars.estimate.loc[keyed.index], equal_nan=True)
    np.testing.assert_allclose(keyed[['low', 'high']].to_numpy(), bars[['low', 'high']].loc[keyed.index].to_numpy(), equal_nan=True)
    assert (keyed.xs('full', level='subset').difference.dropna() == 0).all()
