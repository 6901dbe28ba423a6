"`hivemind corpus` on corpora whose answer is known: groups built to be homogeneous or not"
import numpy as np
import pandas as pd
import pytest
from hivemind.cli import main
from hivemind.corpus import CorpusError, known_corpus, measure_vectors, read_corpus, resampled_summaries


def test_the_cli_finds_the_homogeneous_groups(tmp_path, capsys):
    known_corpus(groups=3, size=10, seed=4).rename(columns={'text': 'abstract', 'group': 'venue'}).to_json(
        tmp_path/'papers.jsonl', orient='records', lines=True)
    assert main(['corpus', str(tmp_path/'papers.jsonl'), '--text', 'abstract', '--group', 'venue',
                 '--embedder', 'tfidf-words', '--resamples', '300']) == 0
    report = capsys.readouterr().out
    assert '60 texts in 6 groups, embedder tfidf-words' in report
    assert 'texts of a group are more alike than texts of different groups' in report
    groups = pd.read_csv(tmp_path/'corpus-papers'/'corpus_groups.csv').set_index('group')
    echo, varied = groups[groups.index.str.startswith('echo')], groups[groups.index.str.startswith('varied')]
    assert echo.low.min() > varied.high.max()  # every echo group's interval lies above every varied group's
    assert (tmp_path/'corpus-papers'/'corpus_within_groups.png').exists()


def test_no_difference_when_groups_are_random(tmp_path):
    "Groups assigned at random: the gap's interval holds 0 in most draws (here: one seeded draw)"
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(400, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    corpus = pd.DataFrame({'text': [f't{i}' for i in range(400)], 'group': rng.integers(0, 8, 400).astype(str)})
    gap = measure_vectors(corpus, vectors, resamples=500).summary.set_index('statistic').loc['gap']
    assert gap.low < 0 < gap.high


def test_the_bootstrap_equals_a_loop_over_resamples():
    "Resample r's statistics equal those of its drawn texts, computed pair by pair without self-copies"
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(7, 4))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    codes = np.array([0, 0, 0, 1, 1, 2, 2])
    boot = resampled_summaries(vectors, codes, 3, resamples=4, seed=9)
    generator = np.random.default_rng(9)  # the same draws, in the same order
    per_group = [generator.multinomial(n, np.full(n, 1 / n), size=4) for n in (3, 2, 2)]
    for r in range(4):
        picked = [np.repeat(np.flatnonzero(codes == g), per_group[g][r]) for g in range(3)]
        within = []
        for members in picked:
            pairs = [(a, b) for i, a in enumerate(members) for j, b in enumerate(members) if i != j and a != b]
            within.append(np.mean([vectors[a] @ vectors[b] for a, b in pairs]) if pairs else np.nan)
        assert np.allclose(boot.loc[r, ['group 0', 'group 1', 'group 2']].to_numpy(dtype=float), within, equal_nan=True)
        cross = [vectors[a] @ vectors[b] for g in range(3) for h in range(3) if g != h for a in picked[g] for b in picked[h]]
        assert np.isclose(boot.loc[r, 'between'], np.mean(cross))


def test_bad_corpora_are_named(tmp_path):
    pd.DataFrame({'text': ['a', 'b'], 'group': ['x', None]}).to_csv(tmp_path/'c.csv', index=False)
    with pytest.raises(CorpusError, match=r"c\.csv:3: no 'group'"): read_corpus(tmp_path/'c.csv')
    one = pd.DataFrame({'text': ['a', 'b'], 'group': ['x', 'x']})
    with pytest.raises(CorpusError, match='at least two groups'): measure_vectors(one, np.eye(2))
