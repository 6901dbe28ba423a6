"TF-IDF backends, the null adjustment, rank agreement and re-embedding a run with a second embedder"
import shutil
import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity
import hivemind.embeddings as embeddings
from hivemind.config import Embedder
from hivemind.embeddings import EmbeddingCache, embed_and_count, embed_responses, embeddings_file
from hivemind.embedder_comparison import (aligned_vectors, embed_each, embedder_similarities, null_adjusted,
                                          rank_agreement, rank_correlations)
from hivemind.runs import append_jsonl, load_embeddings, open_run, project_root

TEXTS = ['Time is a river that flows to the sea.', 'Time is a thief of moments.', 'Time flows like a river.',
         'Why did the electric car blush? It saw the charging station.', 'Life means love and joy.',
         'Time is a river that flows to the sea.', '']


@pytest.mark.parametrize('backend, settings', [('tfidf-words', dict(analyzer='word')),
                                               ('tfidf-chars', dict(analyzer='char_wb', ngram_range=(3, 5)))])
def test_tfidf_cosines_equal_scikit_learn_on_the_distinct_texts(backend, settings):
    vectors, counts = embed_and_count(TEXTS, Embedder('lexical', backend=backend))
    distinct = list(dict.fromkeys(TEXTS))
    expected = cosine_similarity(TfidfVectorizer(**settings).fit_transform(distinct))
    row = [distinct.index(t) for t in TEXTS]
    assert counts == dict(texts=7, distinct=6, cached=0, embedded=6)
    assert vectors.shape[1] <= len(distinct)  # stored in the span of the rows, not over the vocabulary
    np.testing.assert_allclose(vectors @ vectors.T, expected[np.ix_(row, row)], atol=1e-6)
    assert not vectors[-1].any()  # the empty text has no term: a zero row


def test_tfidf_is_fitted_on_the_corpus_and_never_cached(tmp_path):
    lexical = Embedder('lexical', backend='tfidf-words')
    with EmbeddingCache(tmp_path/'c.sqlite') as cache:
        alone = embed_and_count(TEXTS[:2], lexical, cache)[0]
        together, counts = embed_and_count(TEXTS[:4], lexical, cache)
        assert len(cache) == 0 and counts['cached'] == 0
    assert not np.isclose(alone[0] @ alone[1], together[0] @ together[1])  # idf depends on the other texts


def test_tfidf_above_the_exact_limit_is_approximated_with_a_warning(monkeypatch):
    monkeypatch.setattr(embeddings, 'TFIDF_EXACT_LIMIT', 4)
    monkeypatch.setattr(embeddings, 'TFIDF_COMPONENTS', 3)
    with pytest.warns(UserWarning, match='approximated by truncated SVD to 3 dimensions'):
        vectors = embed_and_count(TEXTS[:5], Embedder('lexical', backend='tfidf-chars'))[0]
    assert vectors.shape == (5, 3)


def test_null_adjustment_properties():
    null_mean = 0.3
    raw = np.linspace(-0.2, 1, 13)
    adjusted = null_adjusted(raw, null_mean)
    assert null_adjusted(null_mean, null_mean) == 0 and null_adjusted(1.0, null_mean) == 1
    assert (np.diff(adjusted) > 0).all()  # monotone: rankings unchanged
    np.testing.assert_allclose(adjusted * (1 - null_mean) + null_mean, raw, atol=1e-12)
    with pytest.raises(ValueError, match='must be below 1'): null_adjusted(0.5, 1.0)


def test_same_vectors_under_two_names_agree_perfectly_and_an_affine_floor_is_removed():
    rng = np.random.default_rng(1)
    responses = pd.DataFrame({'model': np.repeat(['a', 'b', 'c'], 12),
                              'prompt_id': np.tile(np.repeat(['p', 'q', 'r', 's'], 3), 3)})
    centres = rng.normal(size=(12, 8))
    vectors = centres[np.repeat(np.arange(12), 3)] + rng.normal(size=(36, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cases, nulls = embedder_similarities(responses, {'one': vectors, 'same': vectors.copy()}, groups=40)
    agreement = rank_agreement(cases, draws=100).set_index('level')
    assert agreement.loc['case', 'spearman'] == pytest.approx(1) and agreement.loc['case', 'spearman_low'] == pytest.approx(1)
    assert agreement.loc['model', 'items'] == 3 and agreement.loc['prompt', 'items'] == 4
    one, same = (cases[cases.embedder == name].adjusted.to_numpy() for name in ('one', 'same'))
    np.testing.assert_allclose(one, same)
    assert nulls.groupby('embedder', observed=True).adjusted.mean().abs().max() < 1e-12


def test_rank_correlations_against_scipy_and_reversal():
    first, second = np.array([0.1, 0.5, 0.3, 0.9, 0.7]), np.array([0.2, 0.4, 0.6, 0.8, 0.9])
    rho, tau = rank_correlations(first, second)
    assert rho == pytest.approx(0.8) and tau == pytest.approx(0.6)
    assert rank_correlations(first, -first) == pytest.approx((-1, -1))
    assert np.isnan(rank_correlations(first, np.ones(5))).all()


@pytest.fixture
def smoke_run(tmp_path):
    "A copy of the committed smoke fixture"
    folder = tmp_path/'runs'/'smoke'
    shutil.copytree(project_root()/'nbs'/'fixtures'/'smoke', folder)
    return open_run('smoke', folder)


def test_re_embedding_writes_a_second_file_and_leaves_responses_untouched(smoke_run):
    responses_before = smoke_run.store.path.read_bytes()
    minilm_before = embeddings_file(smoke_run).read_bytes()
    path = embed_responses(smoke_run, embedder='tfidf-chars')
    assert path == smoke_run.dir/'embeddings'/'tfidf-chars.npz'
    assert smoke_run.store.path.read_bytes() == responses_before
    assert embeddings_file(smoke_run, 'minilm').read_bytes() == minilm_before
    ids, vectors = load_embeddings(path)
    assert ids == list(smoke_run.responses().id)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, rtol=1e-5)


def test_embed_each_reuses_a_file_that_covers_the_run(smoke_run, monkeypatch):
    calls = []
    monkeypatch.setattr('hivemind.embedder_comparison.embed_responses', lambda run, cache, embedder: calls.append(embedder))
    assert embed_each(smoke_run, ['minilm', 'tfidf-words']) == {}
    assert calls == ['tfidf-words']  # minilm's file covers the run's responses: not embedded again


def test_embed_each_skips_an_embedder_that_cannot_be_used_and_names_why(smoke_run, monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    skipped = embed_each(smoke_run, ['tfidf-words', 'text-embedding-3-small'])
    assert list(skipped) == ['text-embedding-3-small'] and 'OPENAI_API_KEY' in skipped['text-embedding-3-small']
    assert embeddings_file(smoke_run, 'tfidf-words').exists()


def test_aligned_vectors_drop_responses_that_some_embedder_maps_to_zero(smoke_run):
    first = smoke_run.responses().iloc[0]
    append_jsonl(smoke_run.store.path, [dict(first.to_dict(), text='!!')])  # no word of two letters
    for name in ('tfidf-words', 'tfidf-chars'): embed_responses(smoke_run, embedder=name)
    responses, by_name = aligned_vectors(smoke_run, ['tfidf-words', 'tfidf-chars'])
    assert responses.attrs['dropped'] == [first.id]
    assert len(responses) == len(smoke_run.responses()) - 1 and all(len(v) == len(responses) for v in by_name.values())


def test_aligned_vectors_name_a_file_that_misses_responses(smoke_run):
    first = smoke_run.responses().iloc[0]
    append_jsonl(smoke_run.store.path, [dict(first.to_dict(), id='smollm2/top_p/time-metaphor/9', sample_index=9)])
    smoke_run.record_requested([*smoke_run.requested(), 'smollm2/top_p/time-metaphor/9'])  # the profile asks for it
    with pytest.raises(ValueError, match=r'minilm\.npz: 1 responses have no vector'): aligned_vectors(smoke_run, ['minilm'])
    with pytest.raises(FileNotFoundError, match=r'tfidf-chars\.npz: no embeddings'): aligned_vectors(smoke_run, ['tfidf-chars'])
