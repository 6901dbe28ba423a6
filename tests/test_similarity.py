"Each similarity statistic against a plain scipy / scikit-learn computation on random data, plus the edge-case rules"
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist, pdist
from sklearn.decomposition import PCA
from hivemind.similarity import (InputError, SimilarityError, baseline_members, closest_cross_model_pairs,
                                 cluster_representatives,
                                 count_bounds, cross_model_similarity, intra_model_similarity, neighbour_bounds,
                                 neighbour_models, passage_words, pca_2d, random_pair_baseline, share_above, shared_passage,
                                 similarity_histogram, require_finite, require_rows, unit_rows, FUNCTION_WORDS)


def make_responses(models=3, prompts=4, samples=5, dims=16, seed=0, drop=()):
    "Random responses (model, prompt_id, sample_index, text) and vectors; `drop` removes (model, prompt) groups"
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([[f'm{i}' for i in range(models)], [f'p{i}' for i in range(prompts)], range(samples)],
                                       names=['model', 'prompt_id', 'sample_index'])
    frame = index.to_frame(index=False)
    frame = frame[~frame.set_index(['model', 'prompt_id']).index.isin(drop)].reset_index(drop=True)
    frame['text'] = [' '.join(rng.choice(list('abcdefgh'), 8)) for _ in range(len(frame))]
    # a per-prompt centre makes similarities realistic (positive, prompt-dependent) without being trivial
    centres = {p: rng.normal(size=dims) for p in frame.prompt_id.unique()}
    vectors = np.stack([centres[p] for p in frame.prompt_id]) + rng.normal(size=(len(frame), dims))
    return frame, vectors.astype(np.float32)


def plain_intra(frame, vectors):
    return {key: 1 - pdist(vectors[rows], 'cosine').mean() for key, rows in frame.groupby(['model', 'prompt_id']).indices.items()}


def test_intra_matches_scipy():
    frame, vectors = make_responses(samples=7)
    intra = intra_model_similarity(frame, vectors)
    expected = plain_intra(frame, vectors)
    np.testing.assert_allclose(intra.mean_similarity, [expected[(m, p)] for m, p in zip(intra.model, intra.prompt_id)], rtol=1e-6)


def test_intra_unequal_groups_and_missing_prompt():
    frame, vectors = make_responses(drop=[('m1', 'p2')])
    frame, vectors = frame.iloc[:-2].reset_index(drop=True), vectors[:-2]  # last group now has 3 responses
    intra = intra_model_similarity(frame, vectors)
    assert ('m1', 'p2') not in set(zip(intra.model, intra.prompt_id))
    expected = plain_intra(frame, vectors)
    np.testing.assert_allclose(intra.mean_similarity, [expected[(m, p)] for m, p in zip(intra.model, intra.prompt_id)], rtol=1e-6)
    assert not intra.mean_similarity.isna().any()


def test_intra_single_response_is_an_error_or_dropped():
    frame, vectors = make_responses(samples=2)
    frame, vectors = frame.iloc[1:].reset_index(drop=True), vectors[1:]  # (m0, p0) has one response
    with pytest.raises(SimilarityError, match="model 'm0', prompt 'p0'"): intra_model_similarity(frame, vectors)
    kept = intra_model_similarity(frame, vectors, drop_single=True)
    assert kept.attrs['dropped_single'] == 1 and len(kept) == 11 and not kept.mean_similarity.isna().any()


def test_identical_responses_give_one():
    frame, _ = make_responses(models=1, prompts=1, samples=4)
    intra = intra_model_similarity(frame, np.tile([[0.3, -1.2, 2.0]], (4, 1)))
    np.testing.assert_allclose(intra.mean_similarity, [1.0])
    assert similarity_histogram(intra).loc['m0', '0.9-1.0'] == 100


def test_zero_vector_and_length_mismatch_are_errors():
    frame, vectors = make_responses(models=1, prompts=1, samples=3)
    vectors[1] = 0
    with pytest.raises(SimilarityError, match='row 1 is all zeros'): intra_model_similarity(frame, vectors)
    with pytest.raises(SimilarityError, match='3 responses but 2 vectors'): intra_model_similarity(frame, vectors[:2])


def test_histogram_matches_numpy():
    frame, vectors = make_responses(models=2, prompts=30, samples=3, dims=4, seed=3)
    intra = intra_model_similarity(frame, vectors)
    table = similarity_histogram(intra)
    for model, group in intra.groupby('model'):
        counts, _ = np.histogram(group.mean_similarity.clip(0, 1), bins=10, range=(0, 1))
        np.testing.assert_allclose(table.loc[model].to_numpy(), 100 * counts[::-1] / len(group))
    np.testing.assert_allclose(table.loc['Average'], table.drop('Average').mean())
    np.testing.assert_allclose(table.drop('Average').sum(axis=1), 100)
    top = [c for c in table.columns if float(c.split('-')[0]) >= 0.5]
    assert share_above(intra, 0.5) == pytest.approx(table.loc['Average', top].sum())


def test_cross_model_matches_scipy_and_authors_variant():
    frame, vectors = make_responses(models=3, prompts=3, samples=4, drop=[('m2', 'p0')])
    matrix = cross_model_similarity(frame, vectors)
    authors = cross_model_similarity(frame, vectors, self_pairs=True)
    groups = frame.groupby(['model', 'prompt_id']).indices
    for a in matrix.index:
        for b in matrix.columns:
            shared = [p for p in ['p0', 'p1', 'p2'] if (a, p) in groups and (b, p) in groups]
            cross = [1 - cdist(vectors[groups[a, p]], vectors[groups[b, p]], 'cosine').mean() for p in shared]
            distinct = [1 - pdist(vectors[groups[a, p]], 'cosine').mean() for p in shared]
            assert authors.loc[a, b] == pytest.approx(np.mean(cross), rel=1e-6)
            assert matrix.loc[a, b] == pytest.approx(np.mean(distinct if a == b else cross), rel=1e-6)
    assert matrix.attrs['prompts'].loc['m2', 'm0'] == 2
    assert (np.diag(authors) > np.diag(matrix)).all()


def test_cross_model_without_shared_prompt_is_an_error():
    frame, vectors = make_responses(models=2, prompts=2, samples=2, drop=[('m0', 'p1'), ('m1', 'p0')])
    with pytest.raises(SimilarityError, match="'m0' and 'm1' have no prompt"): cross_model_similarity(frame, vectors)


def brute_force_neighbours(frame, vectors, depths):
    "Per prompt and j: sort each row's cosine distances (stable), drop itself, count distinct models with a set"
    result = {}
    for prompt, rows in frame.groupby('prompt_id').indices.items():
        distances = cdist(vectors[rows], vectors[rows], 'cosine')
        models = frame.model.to_numpy()[rows]
        ranked = [[k for k in np.argsort(row, kind='stable') if k != i] for i, row in enumerate(distances)]
        result[prompt] = [np.mean([len(set(models[r[:j]])) for r in ranked]) for j in depths]
    return pd.DataFrame.from_dict(result, orient='index', columns=depths)


def test_neighbours_match_brute_force():
    frame, vectors = make_responses(models=5, prompts=3, samples=6, dims=8, seed=2)
    depths = [1, 2, 5, 10, 29]
    ours = neighbour_models(frame, vectors, depths)
    np.testing.assert_allclose(ours.to_numpy(), brute_force_neighbours(frame, vectors, depths).loc[ours.index].to_numpy())


def test_neighbours_default_depths_are_capped():
    frame, vectors = make_responses(models=2, prompts=2, samples=3)
    assert list(neighbour_models(frame, vectors).columns) == [5]
    with pytest.raises(SimilarityError, match='smallest pool has 6'): neighbour_models(frame, vectors, [6])
    single = frame.iloc[[0]].reset_index(drop=True)
    with pytest.raises(SimilarityError, match='single response'): neighbour_models(single, vectors[:1])


def test_neighbours_with_identical_responses_are_deterministic():
    frame, _ = make_responses(models=3, prompts=1, samples=2)
    ones = np.ones((6, 4))
    first, second = neighbour_models(frame, ones, [1, 2, 3]), neighbour_models(frame, ones, [1, 2, 3])
    pd.testing.assert_frame_equal(first, second)
    np.testing.assert_allclose(first.to_numpy(), brute_force_neighbours(frame, ones, [1, 2, 3]).to_numpy())


def test_pca_matches_sklearn():
    _, vectors = make_responses(models=2, prompts=1, samples=20, dims=10, seed=5)
    coordinates, explained = pca_2d(vectors)
    reference = PCA(n_components=2).fit(vectors.astype(np.float64))
    projected = reference.transform(vectors.astype(np.float64))
    signs = np.sign((coordinates * projected).sum(axis=0))
    np.testing.assert_allclose(coordinates, projected * signs, atol=1e-8)
    np.testing.assert_allclose(explained, reference.explained_variance_ratio_)
    np.testing.assert_array_equal(pca_2d(-vectors)[0], pca_2d(-vectors)[0])
    assert np.allclose(pca_2d(np.ones((3, 5)))[0], 0)
    with pytest.raises(SimilarityError, match='at least 2'): pca_2d(vectors[:1])


def test_baseline_groups_mix_prompts_and_match_scipy():
    frame, vectors = make_responses(models=2, prompts=6, samples=3, seed=4)
    codes = pd.factorize(frame.prompt_id)[0]
    members = baseline_members(codes, 40, 4, np.random.default_rng(1))
    assert all(len(set(codes[m])) == 4 for m in members)
    baseline = random_pair_baseline(frame, vectors, groups_per_model=30, seed=7)
    assert set(baseline.responses) == {3} and len(baseline) == 60 and not baseline.mean_similarity.isna().any()
    # rerun the same draw and check each group's number against scipy
    rng = np.random.default_rng(7)
    for model, own in frame.groupby('model').indices.items():
        drawn = own[baseline_members(pd.factorize(frame.prompt_id.iloc[own])[0], 30, 3, rng)]
        expected = [1 - pdist(vectors[rows], 'cosine').mean() for rows in drawn]
        np.testing.assert_allclose(baseline[baseline.model == model].mean_similarity, expected, rtol=1e-6)
    # responses to different prompts are less alike than responses to the same prompt
    assert baseline.mean_similarity.mean() < intra_model_similarity(frame, vectors).mean_similarity.mean()


def test_baseline_needs_two_prompts():
    frame, vectors = make_responses(models=1, prompts=1, samples=3)
    with pytest.raises(SimilarityError, match='at least 2 prompts'): random_pair_baseline(frame, vectors)


def test_closest_pairs_match_brute_force():
    frame, vectors = make_responses(models=3, prompts=3, samples=4, seed=6)
    pairs = closest_cross_model_pairs(frame, vectors, top=5)
    everything = [1 - cdist(vectors[[i]], vectors[[k]], 'cosine')[0, 0] for i in range(len(frame)) for k in range(i + 1, len(frame))
                  if frame.model[i] != frame.model[k] and frame.prompt_id[i] == frame.prompt_id[k]]
    np.testing.assert_allclose(pairs.similarity, sorted(everything, reverse=True)[:5], rtol=1e-6)
    assert (pairs.model_a != pairs.model_b).all()
    words = lambda text: ' ' + ' '.join(passage_words(text)[0]) + ' '
    assert all(words(s) in words(a) and words(s) in words(b) for s, a, b in zip(pairs.passage, pairs.text_a, pairs.text_b) if s)


def brute_force_passage(first, second, prompt, min_words=3):
    "Every common run of words by plain loops: (longest run, most new words among runs of >= min_words words)"
    a, b, known = passage_words(first)[0], passage_words(second)[0], FUNCTION_WORDS | set(passage_words(prompt)[0])
    runs = [a[i:i + k] for k in range(1, len(a) + 1) for i in range(len(a) - k + 1)
            if any(b[m:m + k] == a[i:i + k] for m in range(len(b) - k + 1))]
    return max(map(len, runs), default=0), max((sum(w not in known for w in r) for r in runs if len(r) >= min_words), default=0)


def test_shared_passage_matches_brute_force():
    rng = np.random.default_rng(0)
    vocabulary = ['time', 'is', 'a', 'river', 'weaver', 'the', 'of', 'clock']
    for _ in range(60):
        first, second = (' '.join(rng.choice(vocabulary, n)) for n in rng.integers(0, 12, 2))
        prompt = ' '.join(rng.choice(vocabulary, 3))
        found = shared_passage(first, second, prompt)
        assert (found['longest'], found['new_words']) == brute_force_passage(first, second, prompt)
        assert (found['passage'] == '') == (found['new_words'] == 0)


def test_shared_passage_ignores_the_prompt():
    "Cases built so that the answer is known"
    zoo, time = 'Is it right to keep animals in zoos?', 'Write a metaphor about time.'
    echo = shared_passage('Is it right to keep animals in zoos? Yes, it is.', 'IS IT RIGHT TO KEEP ANIMALS IN ZOOS? no', zoo)
    assert echo == {'longest': 8, 'passage': '', 'new_words': 0}
    happiness = shared_passage('Happiness is a warm feeling.', 'Happiness is a choice.', 'What is happiness?')
    assert happiness == {'longest': 3, 'passage': '', 'new_words': 0}
    metaphor = shared_passage('Time is a river that carries us all.', 'Honestly: time is a river, wide and slow.', time)
    assert metaphor == {'longest': 4, 'passage': 'Time is a river', 'new_words': 1}
    # the model's own passage wins over a longer echo, and an echo at its start is trimmed
    mixed = shared_passage('Is it right to keep animals in zoos? Zoos protect endangered species.',
                           'Is it right to keep animals in zoos. Zoos protect endangered species, I think.', zoo)
    assert mixed == {'longest': 12, 'passage': 'Zoos protect endangered species', 'new_words': 3}
    assert shared_passage('Why did the electric car stop?', 'Why did the electric car win?',
                          'Generate a joke about electric vehicles.')['passage'] == 'Why did the electric car'
    assert shared_passage('a lone river', 'river', time) == {'longest': 1, 'passage': '', 'new_words': 0}  # under 3 words
    assert shared_passage('same words here', 'same words here', min_words=4)['passage'] == ''


def test_closest_pairs_count_the_pairs_that_share_only_the_prompt():
    zoo, time = 'Is it right to keep animals in zoos?', 'Write a metaphor about time.'
    frame = pd.DataFrame({'model': ['a', 'b'] * 3, 'prompt_id': ['zoo', 'zoo', 'time', 'time', 'joke', 'joke'],
                          'prompt': [zoo, zoo, time, time, 'Tell a joke.', 'Tell a joke.'],
                          'text': ['Is it right to keep animals in zoos? Yes.', 'Is it right to keep animals in zoos? No.',
                                   'Time is a river that carries us.', 'Time is a river, wide and slow.',
                                   'Knock knock.', 'A horse walks into a bar.']})
    vectors = np.eye(3)[[0, 0, 1, 1, 2, 2]] + 0.01
    pairs = closest_cross_model_pairs(frame, vectors, top=3).set_index('prompt_id')
    assert pairs.attrs['prompt_only'] == 1
    assert pairs.prompt_only.to_dict() == {'zoo': True, 'time': False, 'joke': False}
    assert pairs.passage.to_dict() == {'zoo': '', 'time': 'Time is a river', 'joke': ''}
    assert pairs.shared_words.to_dict() == {'zoo': 8, 'time': 4, 'joke': 0}
    # without a prompt column the echo counts as the models' own words
    assert closest_cross_model_pairs(frame.drop(columns='prompt'), vectors, top=3).attrs['prompt_only'] == 0


def test_neighbour_counts_lie_within_their_bounds():
    frame, vectors = make_responses(models=3, prompts=3, samples=4, dims=8, seed=9, drop=[('m2', 'p1')])
    depths = [1, 3, 5, 7]
    counts, bounds = neighbour_models(frame, vectors, depths), neighbour_bounds(frame, depths)
    assert ((counts >= bounds.floor) & (counts <= bounds.ceiling)).all().all()
    # identical vectors: the floor is reached at j = 5 (all from m0) and the forced 2 of 2 at j = 10
    same = neighbour_models(make_responses(models=2, prompts=1, samples=6)[0], np.ones((12, 3)), [5, 10])
    np.testing.assert_allclose(same.loc['p0'], [1.0, 2.0])  # ties go by row order: everyone's first 5 are of m0
    assert neighbour_bounds(make_responses(models=2, prompts=1, samples=6)[0], [5, 10]).loc[10].tolist() == [2, 2]


def test_count_bounds_match_brute_force():
    "The fewest and most models among j items drawn from groups, against enumerating every draw"
    from itertools import combinations
    for sizes in ([2, 0, 3], [1, 1, 1, 2], [4, 2]):
        items = [m for m, size in enumerate(sizes) for _ in range(size)]
        depths = np.arange(1, len(items) + 1)
        floor, ceiling = count_bounds(np.array(sizes), depths)
        for j, low, high in zip(depths, floor, ceiling):
            distinct = [len(set(draw)) for draw in combinations(items, j)]
            assert (low, high) == (min(distinct), max(distinct))


def test_cluster_representatives_are_stable_and_cover_the_clusters():
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [8, 0], [0, 8]])
    points = np.concatenate([rng.normal(c, 0.3, size=(n, 2)) for c, n in zip(centres, [10, 6, 3])])
    chosen = cluster_representatives(points, 3)
    assert chosen == cluster_representatives(points.copy(), 3)
    assert [np.argmin(((centres - points[k]) ** 2).sum(1)) for k in chosen] == [0, 1, 2]  # largest cluster first


def test_pca_of_a_large_pool_matches_sklearn():
    "A pool like the paper's (more dimensions than responses, both large) with a flat spectrum: still the exact components"
    rng = np.random.default_rng(8)
    vectors = rng.normal(size=(620, 700))
    coordinates, explained = pca_2d(vectors)
    reference = PCA(n_components=2, svd_solver='full').fit(vectors)
    np.testing.assert_allclose(np.abs(coordinates), np.abs(reference.transform(vectors)), atol=1e-6)
    np.testing.assert_allclose(explained, reference.explained_variance_ratio_, rtol=1e-6)


@pytest.mark.parametrize('rows, dims', [(12, 384), (60, 40), (2, 5)])
def test_pca_small_side_paths_match_sklearn(rows, dims):
    "Fewer responses than dimensions (the demo: 12 x 384) uses the Gram matrix, more uses the covariance"
    vectors = np.random.default_rng(rows).normal(size=(rows, dims))
    coordinates, explained = pca_2d(vectors)
    reference = PCA(n_components=min(2, rows), svd_solver='full').fit(vectors)
    projected = reference.transform(vectors)
    np.testing.assert_allclose(np.abs(coordinates[:, :projected.shape[1]]), np.abs(projected), atol=1e-8)
    np.testing.assert_allclose(explained[:projected.shape[1]], reference.explained_variance_ratio_, rtol=1e-6, atol=1e-12)


# Bad input (issue 9, item 7): a missing id, a non-finite vector or an empty pool stops each statistic with an error
# that names the function, the input and the first offending responses.

def named_responses(**kwargs):
    "`make_responses` with response ids as the store writes them (`model/decoding/prompt/sample`)"
    frame, vectors = make_responses(**kwargs)
    ids = [f'{m}/top_p/{p}/{s}' for m, p, s in zip(frame.model, frame.prompt_id, frame.sample_index)]
    return frame.assign(id=ids), vectors


STATISTICS = {'intra_model_similarity': intra_model_similarity, 'cross_model_similarity': cross_model_similarity,
              'neighbour_models': neighbour_models, 'random_pair_baseline': random_pair_baseline,
              'closest_cross_model_pairs': closest_cross_model_pairs}


@pytest.mark.parametrize('name', STATISTICS)
@pytest.mark.parametrize('column', ['prompt_id', 'model'])
def test_missing_prompt_or_model_is_refused_naming_the_response(name, column):
    frame, vectors = named_responses()
    intact = frame.copy()
    for missing in (np.nan, None):
        frame[column] = intact[column].astype(object)
        frame.loc[[7, 30], column] = missing
        with pytest.raises(SimilarityError, match=rf'{name}: responses: {column} is missing or not finite in 2 of 60 '
                                                   rf'row\(s\): m0/top_p/p1/2, m1/top_p/p2/0'):
            STATISTICS[name](frame, vectors)


def test_missing_prompt_is_refused_by_the_bounds():
    frame, _ = named_responses()
    frame.loc[3, 'prompt_id'] = np.nan
    with pytest.raises(SimilarityError, match='neighbour_bounds: responses: prompt_id is missing .* m0/top_p/p0/3'):
        neighbour_bounds(frame, [1, 2])


@pytest.mark.parametrize('name', STATISTICS)
@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_vector_is_refused_naming_the_response(name, bad):
    frame, vectors = named_responses()
    vectors[12, [0, 5, 9]] = bad
    with pytest.raises(SimilarityError, match=rf'{name}: embeddings of responses: 3 non-finite value\(s\) '
                                               rf'\(NaN or inf\) in 1 of 60 row\(s\): m0/top_p/p2/2'):
        STATISTICS[name](frame, vectors)


def test_nan_means_do_not_reach_the_histogram():
    frame, vectors = named_responses()
    intra = intra_model_similarity(frame, vectors)
    broken = intra.assign(mean_similarity=intra.mean_similarity.where(intra.index != 2))
    for function in (similarity_histogram, share_above):
        message = rf'{function.__name__}: intra: mean_similarity is missing .* index 2'
        with pytest.raises(SimilarityError, match=message):
            function(broken)


def test_pca_refuses_non_finite_and_names_the_rows():
    _, vectors = make_responses(models=2, prompts=1, samples=5)
    vectors[[1, 4], 0] = np.nan
    with pytest.raises(SimilarityError, match=r'pca_2d: vectors: 2 non-finite value\(s\) .* row\(s\) 1, 4'):
        pca_2d(vectors)
    with pytest.raises(SimilarityError, match=r'in 2 of 10 row\(s\): b, e'): pca_2d(vectors, list('abcdefghij'))
    with pytest.raises(SimilarityError, match='cluster_representatives: points'):
        cluster_representatives(vectors[:, :2])


@pytest.mark.parametrize('name', STATISTICS)
def test_empty_responses_are_refused(name):
    frame, vectors = named_responses()
    with pytest.raises(SimilarityError, match=rf'{name}: responses: no rows'):
        STATISTICS[name](frame.iloc[:0], vectors[:0])


def test_other_empty_inputs_are_refused():
    frame, vectors = named_responses()
    intra = intra_model_similarity(frame, vectors)
    with pytest.raises(SimilarityError, match='similarity_histogram: intra: no rows'):
        similarity_histogram(intra.iloc[:0])
    with pytest.raises(SimilarityError, match='share_above: intra: no rows'): share_above(intra.iloc[:0])
    with pytest.raises(SimilarityError, match='neighbour_bounds: responses: no rows'):
        neighbour_bounds(frame.iloc[:0], [1])
    with pytest.raises(SimilarityError, match='neighbour_bounds: depths is empty'): neighbour_bounds(frame, [])
    with pytest.raises(SimilarityError, match='neighbour_models: depths is empty'): neighbour_models(frame, vectors, [])
    with pytest.raises(SimilarityError, match=r'vectors: empty \(shape \(0, 16\)\)'): unit_rows(vectors[:0])


def test_missing_text_is_refused_by_the_overlap_finder():
    frame, vectors = named_responses()
    frame.loc[5, 'text'] = None
    with pytest.raises(SimilarityError, match='closest_cross_model_pairs: responses: text is missing .* m0/top_p/p1/0'):
        closest_cross_model_pairs(frame, vectors)


def test_first_names_and_row_labels():
    frame = pd.DataFrame({'model': ['a'] * 5, 'prompt_id': [None] * 5}, index=list('vwxyz'))
    with pytest.raises(InputError, match=r'in 5 of 5 row\(s\): index v, index w, index x and 2 more$'):
        require_rows(frame, ['prompt_id'], 'responses')
    with pytest.raises(InputError, match=r"responses: no column\(s\) \['text'\]"):
        require_rows(frame, ['text'], 'responses')
    assert issubclass(SimilarityError, InputError) and issubclass(InputError, ValueError)


def test_require_finite_checks_every_entry_and_copies_nothing():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(200, 7)).astype(np.float32)
    assert require_finite(values, 'x') is values
    huge = np.full((3, 4), 3e38, dtype=np.float32)  # every row sum overflows to inf, every entry is finite
    assert require_finite(huge, 'x') is huge
    for row, column in zip(rng.integers(0, 200, 20), rng.integers(0, 7, 20)):
        broken = values.copy()
        broken[row, column] = np.nan
        with pytest.raises(InputError, match=rf'in 1 of 200 row\(s\): row\(s\) {row}$'): require_finite(broken, 'x')
    mixed = values.copy()
    mixed[4, :2] = [np.inf, -np.inf]  # the row sum is NaN
    with pytest.raises(InputError, match=r'2 non-finite value\(s\)'): require_finite(mixed, 'x')


def test_valid_results_do_not_change_with_an_id_column():
    frame, vectors = named_responses(samples=4)
    plain = frame.drop(columns='id')
    pd.testing.assert_frame_equal(intra_model_similarity(frame, vectors), intra_model_similarity(plain, vectors))
    pd.testing.assert_frame_equal(cross_model_similarity(frame, vectors), cross_model_similarity(plain, vectors))
    pd.testing.assert_frame_equal(neighbour_models(frame, vectors), neighbour_models(plain, vectors))


# ------------------------------------------------------------------ the validators' home, the intervals in the figures

def test_the_validators_live_in_checks_and_similarity_re_exports_them():
    import hivemind.checks as checks
    import hivemind.similarity as similarity
    for name in ('InputError', 'row_labels', 'first_names', 'require_rows', 'require_finite'):
        assert getattr(similarity, name) is getattr(checks, name), name
    assert issubclass(SimilarityError, checks.InputError)


def test_figure_csvs_carry_each_interval_and_keep_their_form_without():
    from hivemind.bootstrap import with_confidence
    from hivemind.similarity import bin_intervals, cell_intervals, neighbour_intervals
    from hivemind.similarity_figures import long_histogram, matrix_table, neighbour_table
    frame, vectors = make_responses(models=3, prompts=6, samples=4)
    histogram = similarity_histogram(intra_model_similarity(frame, vectors))
    bins = with_confidence(bin_intervals(frame, vectors, resamples=50, seed=3), 0.9)
    csv = long_histogram(histogram, bins)
    assert list(csv.columns) == ['model', 'bin', 'percent', 'low', 'high', 'confidence', 'resamples']
    expected = bins.set_index(['model', 'bin']).loc[list(zip(csv.model, csv.bin))]
    np.testing.assert_allclose(csv[['percent', 'low', 'high']].to_numpy(), expected[['estimate', 'low', 'high']].to_numpy())
    assert (csv.confidence == 0.9).all() and (csv.resamples == 50).all()
    pd.testing.assert_frame_equal(long_histogram(histogram), csv[['model', 'bin', 'percent']])
    matrix = cross_model_similarity(frame, vectors)
    cells = with_confidence(cell_intervals(frame, vectors, resamples=50, seed=3))
    table = matrix_table(matrix, cells)
    np.testing.assert_allclose(table.similarity, cells.estimate)
    assert list(matrix_table(matrix).columns) == ['model', *matrix.columns]
    neighbours = neighbour_models(frame, vectors)
    means = with_confidence(neighbour_intervals(neighbours, resamples=50, seed=3))
    long = neighbour_table(neighbours, means)
    np.testing.assert_allclose(long.groupby('j')['mean'].first(), neighbours.mean())
    assert long[['low', 'high']].notna().all().all() and len(long) == neighbours.size


def test_fig6_labels_each_cell_with_its_own_interval():
    from hivemind.similarity import cell_intervals
    from hivemind.similarity_figures import similarity_matrix_plot, short_decimal
    frame, vectors = make_responses(models=3, prompts=6, samples=4)
    matrix = cross_model_similarity(frame, vectors)
    cells = cell_intervals(frame, vectors, resamples=50, seed=3)
    fig = similarity_matrix_plot(matrix, intervals=cells)
    expected = {f'{short_decimal(matrix.loc[a, b])}\n{short_decimal(low)}–{short_decimal(high)}'
                for a, b, low, high in zip(cells.model_a, cells.model_b, cells.low, cells.high)}
    assert {t.get_text() for t in fig.axes[0].texts} == expected
    plain = similarity_matrix_plot(matrix)
    assert {t.get_text() for t in plain.axes[0].texts} == {short_decimal(matrix.loc[a, b]) for a, b in zip(cells.model_a, cells.model_b)}
