"Decoding measures against independent computations: hand-labelled words, Counter-based rep-n, explicit cosine loops, a loop bootstrap, log-probabilities read off a tiny model's logits"
import codecs
import collections
import glob
import os
import string
import sysconfig
import this
import numpy as np
import pandas as pd
import pytest
from hivemind.config import Decoding, Settings
from hivemind.uncertainty import bootstrap_indices
from hivemind.decoding import (word_tokens, is_word, non_word_share, repeated_ngram_rate, is_empty, degeneration,
                               other_models, log_likelihood_of, cross_log_likelihoods, cell_table, decoding_grid,
                               setting_table, difference_table, verdicts, verdict_sentence, curve_figure)

rng = np.random.default_rng(14)


# ---- non-words
def test_english_prose_is_nearly_all_words():
    zen = codecs.decode(this.s, 'rot13')
    assert all(is_word(t) for t in word_tokens(zen))
    files = [f for f in glob.glob(os.path.join(sysconfig.get_paths()['purelib'], '*.dist-info', 'LICENSE*')) if os.path.isfile(f)]
    tokens = [t for f in files for t in word_tokens(open(f, errors='ignore').read())]
    if len(tokens) < 1000: pytest.skip('too few licence texts installed')
    assert np.mean([not is_word(t) for t in tokens]) < 0.03   # what is rejected: URLs, file names, version tags


def test_random_strings_are_mostly_non_words():
    mixed = [''.join(rng.choice(list(string.ascii_letters + string.digits), rng.integers(4, 11))) for _ in range(500)]
    lower = [''.join(rng.choice(list(string.ascii_lowercase), rng.integers(4, 11))) for _ in range(500)]
    assert np.mean([not is_word(t) for t in mixed]) > 0.8
    assert np.mean([not is_word(t) for t in lower]) > 0.4   # a shape test lets pronounceable random strings through


def test_non_word_share_by_hand():
    text = "Time flows qzxv, 42 times; thEquity is \u65f6\u95f4 and caf\u00e9!"
    # judged tokens: Time flows qzxv times thEquity is 时间 and café -> non-words qzxv, thEquity, 时间
    assert word_tokens(text) == ['Time', 'flows', 'qzxv', 'times', 'thEquity', 'is', '\u65f6\u95f4', 'and', 'caf\u00e9']
    assert non_word_share(text) == pytest.approx(3 / 9)
    assert np.isnan(non_word_share('123 ... !!'))


def counter_rep(words, n):
    grams = collections.Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    total = sum(grams.values())
    return sum(c - 1 for c in grams.values()) / total if total else float('nan')


def test_repeated_ngram_rate_against_a_counter():
    vocab = ['time', 'is', 'a', 'river', 'the']
    for _ in range(50):
        words = list(rng.choice(vocab, rng.integers(0, 15)))
        text = ' '.join(words)
        expected = counter_rep(words, 3)
        if np.isnan(expected): assert np.isnan(repeated_ngram_rate(text))
        else: assert repeated_ngram_rate(text) == pytest.approx(expected)


def test_degeneration_flags_each_cause():
    table = degeneration(['A calm answer about time.', '  ', 'qzxv time', 'a b c a b c a b c', None])
    assert table['empty'].tolist() == [False, True, False, False, True]
    assert table.degenerate.tolist() == [False, True, True, True, True]
    assert is_empty('') and not is_empty('7')


# ---- log-likelihood under the other model
def direct_mean_log_likelihood(folder, prompt, response):
    "Mean log p of the response's words after the chat prefix, read off the logits (word-level tiny tokenizer)"
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder).eval()
    prefix = f"<user> {prompt} </s> <assistant> "
    ids = tokenizer(prefix + f"{response} </s> ", add_special_tokens=False)['input_ids']
    start = len(tokenizer(prefix, add_special_tokens=False)['input_ids'])
    with torch.no_grad(): logits = model(torch.tensor([ids])).logits[0].float()
    picked = torch.log_softmax(logits[:-1], -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    return picked[start - 1:start - 1 + len(response.split())].mean().item()


def test_each_answer_is_scored_by_the_other_model(tmp_path):
    pytest.importorskip('torch')
    from hivemind.scorers import tiny_chat_model
    first, second = str(tiny_chat_model(tmp_path / 'first', seed=0)), str(tiny_chat_model(tmp_path / 'second', seed=1))
    responses = pd.DataFrame({'model': [first, second, first], 'prompt': ['tell me about time'] * 3,
                              'text': ['the cat sat on the mat', 'time is a river', '']})
    found = cross_log_likelihoods(responses, [first, second], Settings(), tmp_path / 'cache')
    assert found.scorer.tolist() == [second, first, second]
    assert found.log_likelihood[0] == pytest.approx(direct_mean_log_likelihood(second, 'tell me about time', 'the cat sat on the mat'), abs=1e-4)
    assert found.log_likelihood[1] == pytest.approx(direct_mean_log_likelihood(first, 'tell me about time', 'time is a river'), abs=1e-4)
    assert np.isnan(found.log_likelihood[2])   # an empty answer has no token to score
    again = cross_log_likelihoods(responses, [first, second], Settings(), tmp_path / 'cache')   # from the cache
    np.testing.assert_allclose(again.log_likelihood, found.log_likelihood)


def test_other_models_and_score_inversion():
    assert other_models(['a', 'b', 'a']) == {'a': 'b', 'b': 'a'}
    with pytest.raises(ValueError, match='no other model'): other_models(['a'])
    np.testing.assert_allclose(log_likelihood_of(-np.exp([3.0, 0.25])), [-3.0, -0.25])


# ---- per set, per setting
def random_run(models=('m1', 'm2'), decodings=('cold', 'hot'), prompts=('p1', 'p2', 'p3', 'p4'), samples=3):
    rows = [dict(model=m, decoding=d, prompt_id=p, sample_index=s, text=' '.join(rng.choice(['time', 'is', 'a', 'river', 'qzxv'], 6)))
            for m in models for d in decodings for p in prompts for s in range(samples)]
    frame = pd.DataFrame(rows)
    vectors = rng.normal(size=(len(frame), 5))
    return frame, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_cell_table_against_loops():
    responses, vectors = random_run()
    likelihoods = pd.Series(rng.normal(-3, 1, len(responses)))
    cells = cell_table(responses, vectors, likelihoods).set_index(['model', 'decoding', 'prompt_id'])
    for key, rows in responses.groupby(['model', 'decoding', 'prompt_id']).indices.items():
        pairs = [vectors[i] @ vectors[j] for i in rows for j in rows if i < j]
        assert cells.loc[key, 'embedding_diversity'] == pytest.approx(1 - np.mean(pairs))
        assert cells.loc[key, 'log_likelihood'] == pytest.approx(likelihoods[rows].mean())
        shares = [non_word_share(t) for t in responses.text[rows]]
        assert cells.loc[key, 'non_word'] == pytest.approx(np.mean(shares))
        assert cells.loc[key, 'degenerate'] == pytest.approx(np.mean([s >= 0.2 or repeated_ngram_rate(t) >= 0.2 for s, t in zip(shares, responses.text[rows])]))


def loop_interval(values, draws):
    "Percentile interval of the NaN-skipping mean over drawn prompts, by a plain loop"
    means = [np.nanmean(values[d]) if np.isfinite(values[d]).any() else np.nan for d in draws]
    return np.nanquantile(means, [0.025, 0.975])


def test_setting_intervals_and_differences_against_a_loop_bootstrap():
    responses, vectors = random_run()
    cells = cell_table(responses, vectors, pd.Series(rng.normal(-3, 1, len(responses))))
    cells.loc[0, 'log_likelihood'] = np.nan   # one undefined set
    grid = decoding_grid({'cold': Decoding('cold', 0.5, 0.9), 'hot': Decoding('hot', 2.0, 0.9)}, ['cold', 'hot'])
    table = setting_table(cells, grid, ['embedding_diversity', 'log_likelihood'], resamples=300, seed=3).set_index(['model', 'decoding'])
    draws = bootstrap_indices(4, 300, 3)
    for (model, decoding), mine in cells.groupby(['model', 'decoding']):
        for measure in ['embedding_diversity', 'log_likelihood']:
            values = mine.sort_values('prompt_id')[measure].to_numpy()
            assert table.loc[(model, decoding), measure] == pytest.approx(np.nanmean(values))
            low, high = loop_interval(values, draws)
            assert table.loc[(model, decoding), f'{measure}_low'] == pytest.approx(low)
            assert table.loc[(model, decoding), f'{measure}_high'] == pytest.approx(high)
    changes = difference_table(cells, 'cold', ['embedding_diversity'], resamples=300, seed=3).set_index('model')
    for model, mine in cells.groupby('model'):
        wide = mine.pivot(index='prompt_id', columns='decoding', values='embedding_diversity').sort_index()
        change = (wide.hot - wide.cold).to_numpy()
        assert changes.loc[model, 'estimate'] == pytest.approx(change.mean())
        assert [changes.loc[model, 'low'], changes.loc[model, 'high']] == pytest.approx(list(loop_interval(change, draws)))


def test_verdicts_and_sentences():
    rows = []
    for decoding, (div, ll, deg) in {'hot': ((0.1, 0.3), (-2, -1), (0.0, 0.1)), 'warm': ((0.05, 0.2), (-0.3, 0.4), (-0.1, 0.0)),
                                     'cool': ((-0.1, 0.1), (0.1, 0.5), (-0.2, -0.1))}.items():
        for measure, (low, high) in zip(['embedding_diversity', 'log_likelihood', 'degenerate'], [div, ll, deg]):
            rows.append(dict(model='m', decoding=decoding, measure=measure, low=low, high=high))
    judged = verdicts(pd.DataFrame(rows)).set_index('decoding')
    assert judged.loc['hot'].tolist() == ['m', 'more', 'worse']
    assert judged.loc['warm'].tolist() == ['m', 'more', 'no different']
    assert judged.loc['cool'].tolist() == ['m', 'no different', 'better']
    labelled = judged.reset_index().assign(label=lambda t: t.decoding.map({'hot': 'H', 'warm': 'W', 'cool': 'C'}))
    sentence = verdict_sentence('m', labelled, 'B')
    assert sentence == "m, against B: not only noise: W is more diverse with no loss in quality; more diverse but worse: H; not more diverse: C."


def test_curve_figure_draws_one_panel_per_model():
    responses, vectors = random_run()
    cells = cell_table(responses, vectors, pd.Series(rng.normal(-3, 1, len(responses))))
    grid = decoding_grid({'cold': Decoding('cold', 0.5, 0.9), 'hot': Decoding('hot', 2.0, 1.0, 0.1)}, ['cold', 'hot'])
    figure = curve_figure(setting_table(cells, grid, resamples=50))
    assert [ax.get_title() for ax in figure.axes] == ['m1', 'm2']
    assert {t.get_text() for t in figure.axes[0].texts} == {'T=0.5', 'T=2'}
