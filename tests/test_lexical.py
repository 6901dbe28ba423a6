"Lexical measures and Vendi against independent computations: by hand, sacrebleu, gzip, rouge_score, the `diversity` code, vendi_score"
import gzip
import importlib.util
import itertools
import os
import sys
import tempfile
import types
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from vendi_score import vendi
from hivemind.lexical import (words, distinct_n, self_bleu, compression_ratio, lcs_length, homogenization, vendi_score,
                              longest_passage, lexical_table, pooled_table, model_summary)
from hivemind.similarity import SimilarityError, shared_passage

rng = np.random.default_rng(11)
VOCAB = ['time', 'is', 'a', 'river', 'the', 'clock', 'eats', 'minutes', 'of', 'stars', 'and', 'light']


def random_text(length):
    text = ' '.join(rng.choice(VOCAB, length))
    return text[0].upper() + text[1:] + rng.choice(['.', '!', ', then.', ''])


TEXTS = [random_text(int(rng.integers(3, 25))) for _ in range(12)]


# ---- the `diversity` package's code (Shaib et al., diversity 0.3.1, Apache-2.0), copied verbatim but for the
# progress bar and the branches we do not use: the package itself cannot be imported here (its __init__ imports
# spacy, and it pins transformers<5), so its two functions are kept as they are written there.
def diversity_compression_ratio(data, algorithm='gzip', verbose=False, path=None):
    temp_dir = None
    if not path:
        temp_dir = tempfile.TemporaryDirectory()
        path = Path(temp_dir.name)
    else:
        path = Path(path)
    with (path / 'original.txt').open('w+') as f:
        f.write(' '.join(data))
    original_size = os.path.getsize(os.path.join(path, "original.txt"))
    with gzip.GzipFile(str(path / 'compressed.gz'), 'w+') as f:
        f.write(gzip.compress(' '.join(data).encode('utf-8')))
    compressed_size = os.path.getsize(os.path.join(path, "compressed.gz"))
    if temp_dir:
        temp_dir.cleanup()
    return round(original_size / compressed_size, 3)


def diversity_homogenization_rougel(data, use_stemmer=False):
    scorer = rouge_scorer.RougeScorer(['rougeL'], use_stemmer=use_stemmer)
    corpus_score = 0
    for i, ref in enumerate(data):
        preds = [x for j, x in enumerate(data) if j != i]
        doc_score = sum([scorer.score(pred, ref)['rougeL'].fmeasure for pred in preds])
        corpus_score += doc_score / (len(data) - 1)
    if corpus_score == 0:
        corpus_score += len(data)
    return round(corpus_score / len(data), 3)


def installed_diversity(module):
    "A module of the installed `diversity` package, loaded from its file without the package's __init__ (None if absent)"
    spec = importlib.util.find_spec('diversity')
    if spec is None or not spec.submodule_search_locations: return None
    path = Path(list(spec.submodule_search_locations)[0]) / f'{module}.py'
    if 'evaluate' not in sys.modules and importlib.util.find_spec('evaluate') is None:
        sys.modules['evaluate'] = types.SimpleNamespace(load=None)  # only its bleu/bertscore branches use it
    loaded = importlib.util.module_from_spec(importlib.util.spec_from_file_location(f'_diversity_{module}', path))
    loaded.__spec__.loader.exec_module(loaded)
    return loaded


# ---- distinct-n
def test_distinct_n_by_hand():
    texts = ['The cat sat on the mat.', 'the cat, the CAT!']
    # words: the cat sat on the mat | the cat the cat
    assert words(texts[1]) == ['the', 'cat', 'the', 'cat']
    assert distinct_n(texts, 1) == pytest.approx(5 / 10)  # the cat sat on mat
    # bigrams: (the cat)(cat sat)(sat on)(on the)(the mat) | (the cat)(cat the)(the cat): 6 distinct of 8
    assert distinct_n(texts, 2) == pytest.approx(6 / 8)
    # trigrams: 4 | (the cat the)(cat the cat): 6 distinct of 6; none crosses the two answers
    assert distinct_n(texts, 3) == pytest.approx(1.0)
    assert distinct_n(['a b', 'c d'], 2) == 1.0  # "b c" would only exist across the answer boundary


def test_distinct_n_against_counts():
    for n in (1, 2, 3):
        grams = [tuple(w[i:i + n]) for w in map(words, TEXTS) for i in range(len(w) - n + 1)]
        assert distinct_n(TEXTS, n) == pytest.approx(len(set(grams)) / len(grams))


# ---- self-BLEU
def test_self_bleu_is_sacrebleu_sentence_bleu_against_the_others():
    direct = [sacrebleu.sentence_bleu(t, [r for j, r in enumerate(TEXTS) if j != i]).score for i, t in enumerate(TEXTS)]
    assert self_bleu(TEXTS) == pytest.approx(np.mean(direct) / 100)
    assert self_bleu(['same words here', 'same words here', 'same words here']) == pytest.approx(1.0)
    with pytest.raises(SimilarityError, match='self_bleu: 1 text'): self_bleu(['one'])


# ---- compression ratio
def test_compression_ratio_is_gzip_ratio():
    data = ' '.join(TEXTS).encode('utf-8')
    assert compression_ratio(TEXTS) == pytest.approx(len(data) / len(gzip.compress(data)))
    assert compression_ratio(['é' * 50, 'ü']) == pytest.approx(len(' '.join(['é' * 50, 'ü']).encode()) /
                                                              len(gzip.compress(' '.join(['é' * 50, 'ü']).encode())))


def test_compression_ratio_as_package_matches_diversity_code():
    for texts in (TEXTS, TEXTS[:2], ['time is a river'] * 20):
        assert round(compression_ratio(texts, as_package=True), 3) == diversity_compression_ratio(texts)


# ---- homogenization (ROUGE-L)
def test_lcs_against_dynamic_programming():
    for _ in range(200):
        a, b = (list(rng.choice(VOCAB[:5], int(rng.integers(0, 15)))) for _ in range(2))
        table = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
        for i, j in itertools.product(range(len(a)), range(len(b))):
            table[i + 1, j + 1] = table[i, j] + 1 if a[i] == b[j] else max(table[i, j + 1], table[i + 1, j])
        assert lcs_length(a, b) == table[-1, -1]


def test_homogenization_matches_diversity_rougel():
    for texts in (TEXTS, TEXTS[:3], ['The cat sat on the mat.', 'the cat is on a mat', 'A mat, a cat']):
        assert round(homogenization(texts), 3) == diversity_homogenization_rougel(texts)
    # all pairs 0: the package returns 1 (a guard for identical strings); here 0
    assert diversity_homogenization_rougel(['alpha beta', 'gamma delta']) == 1.0
    assert homogenization(['alpha beta', 'gamma delta']) == 0.0


def test_copied_code_equals_installed_diversity_package():
    compression, homogenize = installed_diversity('compression'), installed_diversity('homogenization')
    if compression is None: pytest.skip('the diversity package is not installed (it cannot be a dependency here)')
    assert compression.compression_ratio(TEXTS) == diversity_compression_ratio(TEXTS)
    assert homogenize.homogenization_score(TEXTS, 'rougel', verbose=False) == diversity_homogenization_rougel(TEXTS)
    assert round(homogenization(TEXTS), 3) == homogenize.homogenization_score(TEXTS, 'rougel', verbose=False)


# ---- Vendi
def test_vendi_against_vendi_score_package():
    for n, dims in ((3, 8), (10, 4), (30, 384)):
        units = rng.normal(size=(n, dims))
        units /= np.linalg.norm(units, axis=1, keepdims=True)
        assert vendi_score(units) == pytest.approx(vendi.score_K(units @ units.T), rel=1e-9)


def test_vendi_published_example_identity_and_ones():
    example = np.array([[1, .9, 0], [.9, 1, 0], [0, 0, 1]])
    assert vendi.score_K(example) == pytest.approx(2.1573, abs=1e-4)
    assert vendi_score(np.linalg.cholesky(example)) == pytest.approx(2.1573, abs=1e-4)
    for n in (1, 2, 7):
        assert vendi_score(np.eye(n)) == pytest.approx(n)
        assert vendi_score(np.ones((n, 5)) / np.sqrt(5)) == pytest.approx(1)
        assert vendi.score_K(np.ones((n, n))) == pytest.approx(1)


# ---- the run tables
def run_frame():
    rows = [{'model': m, 'prompt_id': p, 'prompt': f'Write about {p}.', 'text': random_text(int(rng.integers(4, 20)))}
            for m in ('m1', 'm2') for p in ('time', 'life') for _ in range(4)]
    frame = pd.DataFrame(rows).sample(frac=1, random_state=0).reset_index(drop=True)  # groups interleaved
    return frame, rng.normal(size=(len(frame), 16))


def test_lexical_table_equals_the_measures_of_each_set():
    frame, vectors = run_frame()
    table = lexical_table(frame, vectors)
    units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert len(table) == 4 and table.responses.eq(4).all()
    for row in table.itertuples():
        rows = np.flatnonzero((frame.model == row.model) & (frame.prompt_id == row.prompt_id))
        texts = frame.text[rows].tolist()
        assert row.distinct_2 == pytest.approx(distinct_n(texts, 2))
        assert row.self_bleu == pytest.approx(self_bleu(texts))
        assert row.homogenization == pytest.approx(homogenization(texts))
        assert row.compression_ratio == pytest.approx(compression_ratio(texts))
        assert row.vendi == pytest.approx(vendi.score_K(units[rows] @ units[rows].T))
        gram = units[rows] @ units[rows].T
        assert row.mean_similarity == pytest.approx((gram.sum() - 4) / 12)
        found = [shared_passage(a, b, frame.prompt[rows[0]]) for a, b in itertools.combinations(texts, 2)]
        assert row.shared_run == max(f['longest'] for f in found)
        assert row.passage_new_words == max(f['new_words'] for f in found)
    pooled = pooled_table(frame, vectors, table)
    for row in pooled.itertuples():
        rows = np.flatnonzero(frame.prompt_id == row.prompt_id)
        assert row.distinct_1 == pytest.approx(distinct_n(frame.text[rows].tolist(), 1))
        assert row.vendi == pytest.approx(vendi.score_K(units[rows] @ units[rows].T))
        assert row.vendi_gain == pytest.approx(row.vendi / table[table.prompt_id == row.prompt_id].vendi.mean())
    assert model_summary(table).prompts.tolist() == [2, 2]


def test_lexical_table_errors_name_the_problem():
    frame, vectors = run_frame()
    with pytest.raises(SimilarityError, match='4 responses but|16 responses but'): lexical_table(frame, vectors[:4])
    with pytest.raises(SimilarityError, match="no column"): lexical_table(frame.drop(columns='text'), vectors)
    bad = frame.copy()
    bad.loc[3, 'text'] = None
    with pytest.raises(SimilarityError, match='text is missing'): lexical_table(bad, vectors)
    single = frame.drop(index=frame.index[(frame.model == 'm1') & (frame.prompt_id == 'time')][1:])
    with pytest.raises(SimilarityError, match='single response'): lexical_table(single, vectors[single.index])
    assert len(lexical_table(single, vectors[single.index], drop_single=True)) == 3


def test_empty_answers_do_not_break_the_measures():
    texts = ['', 'time is a river', '']
    assert self_bleu(texts) >= 0
    assert homogenization(texts) == 0.0
    assert longest_passage(texts)['passage'] == ''
