"Scorers: perplexity by hand, the reward path on a tiny model, judge validation and re-asks, the score cache"
import json, os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import httpx, numpy as np, openai, pandas as pd, pytest, torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from hivemind.config import Model, load_settings
from hivemind.endpoints import gguf_path
from hivemind.scorers import (GGUFTokenizer, LMScorer, RewardScorer, JudgeScorer, Scorer, encode_pair, judgement_mean,
                              llama_log_likelihoods, llama_mean_log_likelihoods, load_llama, make_scorers,
                              parse_judgement, tiny_chat_model)

PROMPTS = ['tell me about time', 'write a poem about the park', 'tell me a story']
RESPONSES = ['time is a river', 'the dog ran in the park and the cat sat on the mat', 'a cat was very good']
ITEMS = pd.DataFrame({'prompt': PROMPTS, 'response': RESPONSES})

@pytest.fixture(scope='module')
def tiny_lm(tmp_path_factory): return tiny_chat_model(tmp_path_factory.mktemp('lm'), 'causal', seed=1)

@pytest.fixture(scope='module')
def tiny_rm(tmp_path_factory): return tiny_chat_model(tmp_path_factory.mktemp('rm'), 'reward', seed=2)

def hand_mean_log_likelihood(model, ids, positions):
    "Mean of log p(token t | tokens < t) over `positions`, from the logits of one unpadded forward pass"
    with torch.no_grad(): logits = model(torch.as_tensor(ids)[None]).logits[0].double()
    log_probs = logits - torch.logsumexp(logits, -1, keepdim=True)
    return float(np.mean([log_probs[t - 1, ids[t]].item() for t in positions]))

# ---------------------------------------------------------------- language-model score

def test_perplexity_matches_hand_computation(tiny_lm):
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_lm).eval(), AutoTokenizer.from_pretrained(tiny_lm)
    scores = LMScorer('lm:tiny', str(tiny_lm), batch_tokens=40).score(ITEMS)   # small budget: several padded batches
    whole = LMScorer('lm:tiny', str(tiny_lm), whole_conversation=True).score(ITEMS)
    for index, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
        ids, mask = encode_pair(tokenizer, prompt, response)
        assert tokenizer.decode(ids[mask]) == response                    # exactly the response's tokens count
        expected = -np.exp(-hand_mean_log_likelihood(model, ids, np.flatnonzero(mask)))
        assert scores[index] == pytest.approx(expected, rel=1e-5)
        expected_whole = -np.exp(-hand_mean_log_likelihood(model, ids, range(1, len(ids))))
        assert whole[index] == pytest.approx(expected_whole, rel=1e-5)
        with torch.no_grad(): loss = model(torch.as_tensor(ids)[None], labels=torch.as_tensor(ids)[None]).loss.item()
        assert whole[index] == pytest.approx(-np.exp(loss), rel=1e-5)      # the authors' variant is the LM loss
    assert not np.allclose(scores, whole)
    assert (scores < 0).all() and (whole < 0).all()

def test_lm_score_of_an_empty_response_is_nan(tiny_lm):
    scores = LMScorer('lm:tiny', str(tiny_lm)).score(pd.DataFrame({'prompt': ['tell me'], 'response': ['  ']}))
    assert np.isnan(scores[0])

@pytest.fixture(scope='module')
def smollm2():
    scorer = make_scorers('lm:smollm2', load_settings())[0]; scorer.load(); return scorer

def test_smollm2_separates_sensible_text_from_word_salad(smollm2):
    prompts = ['Write a metaphor about time.'] * 3
    responses = ['Time is a river that carries us forward, never letting us return to the same shore.',
                 'Time is a thief that quietly steals our moments while we are busy making plans.',
                 'shore carries quietly river plans a thief the forward moments busy never steals us']
    for prompt, response in zip(prompts, responses):
        ids, mask = encode_pair(smollm2.tokenizer, prompt, response)
        assert smollm2.tokenizer.decode(ids[mask]).strip() == response   # the byte-level BPE tokens of the response, no template markers
    means = smollm2.mean_log_likelihoods(prompts, responses)
    print('mean log-likelihood per token:', means.round(2))
    assert max(means[:2]) < 0 and means[2] < min(means[:2]) - 3     # word salad is far less likely
    scores = smollm2.score(pd.DataFrame({'prompt': prompts, 'response': responses}))
    assert np.argmin(scores) == 2

# ---------------------------------------------------------------- llama.cpp: prefix sharing is exact

SHARED = [('Write a metaphor about time.', 'Time is a river that carries us forward, never letting us return.'),
          ('Write a metaphor about time.', 'Time is a river.'),                     # a prefix of the one before
          ('Write a metaphor about time.', 'Time is a thief that quietly steals our moments.'),
          ('Write a metaphor about time.', 'Time is a river that carries us forward, never letting us return. Still.'),
          ('Name one meaning of life.', 'To love, café au lait, naïve joy 😀 and 大家好.'),   # multi-byte tokens
          ('Name one meaning of life.', 'To love.'),
          ('Tell me a joke.', 'Why did the cat sit on the computer? To keep an eye on the mouse!')]

def fresh_log_likelihoods(llm, ids, positions):
    "The slow reference: the whole sequence evaluated from an empty cache, log-softmax in float64"
    llm.reset(); llm.eval(ids.tolist())
    logits = llm.scores[:len(ids)].astype(np.float64)
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    return log_probs[positions - 1, ids[positions]]

@pytest.fixture(scope='module')
def llama_smollm2():
    llm = load_llama(gguf_path('package:smollm2'), n_ctx=512, n_batch=16)   # small batches: several decode calls each
    yield llm, GGUFTokenizer(llm)
    llm.close()

def test_llama_prefix_sharing_matches_fresh_evaluation(llama_smollm2):
    llm, tokenizer = llama_smollm2
    reference = load_llama(gguf_path('package:smollm2'), n_ctx=512)
    encoded = [encode_pair(tokenizer, p, r) for p, r in SHARED]
    expected = [fresh_log_likelihoods(reference, ids, np.flatnonzero(mask)) for ids, mask in encoded]
    evaluated, eval_tokens = [], llm.eval
    llm.eval = lambda tokens: (evaluated.append(len(tokens)), eval_tokens(tokens))[1]   # count what llama.cpp evaluates
    order = list(range(len(SHARED))) + list(np.random.default_rng(0).permutation(len(SHARED))) + [6, 0, 1, 0]
    for index in order:                               # in any order: longer, shorter, other prompts in between
        ids, mask = encoded[index]
        got = llama_log_likelihoods(llm, ids, np.flatnonzero(mask))
        np.testing.assert_allclose(got, expected[index], rtol=0, atol=2e-5)
    assert sum(evaluated) < 0.6 * sum(len(encoded[i][0]) for i in order)   # shared prefixes were not evaluated again
    means = llama_mean_log_likelihoods(llm, tokenizer, [p for p, _ in SHARED], [r for _, r in SHARED])
    np.testing.assert_allclose(means, [e.mean() for e in expected], rtol=0, atol=2e-5)
    del llm.eval
    reference.close()

def conversation(tokenizer, prompt, response):
    "The formatted conversation of one pair"
    turns = [{'role': 'user', 'content': prompt}, {'role': 'assistant', 'content': response}]
    return tokenizer.apply_chat_template(turns)

def test_llama_path_tokens_are_the_response(llama_smollm2):
    llm, tokenizer = llama_smollm2
    for prompt, response in SHARED:
        ids, mask = encode_pair(tokenizer, prompt, response)
        assert tokenizer.decode(ids[mask]) == response
        assert tokenizer.decode(ids) == conversation(tokenizer, prompt, response)
    ids, mask = encode_pair(tokenizer, 'Hi.', '   ')
    assert not mask.any()
    with pytest.raises(ValueError, match='exceed the context of 512'):
        llama_log_likelihoods(llm, np.zeros(600, int), np.arange(1, 600))

def test_llama_tokens_and_template_match_transformers():
    from transformers import AutoTokenizer
    path = gguf_path('package:smollm2')
    reference = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    llm = load_llama(path, n_ctx=512)
    for prompt, response in SHARED:
        ours, theirs = encode_pair(GGUFTokenizer(llm), prompt, response), encode_pair(reference, prompt, response)
        np.testing.assert_array_equal(ours[0], theirs[0]); np.testing.assert_array_equal(ours[1], theirs[1])
    llm.close()

def test_engine_is_chosen_and_kept_apart(tmp_path):
    settings = load_settings()
    llama, other = (LMScorer('lm:smollm2', 'smollm2', settings, engine=e, cache_dir=tmp_path)
                    for e in ('auto', 'transformers'))
    assert (llama.engine, other.engine) == ('llama-cpp', 'transformers')
    assert llama.identity != other.identity and llama.cache.path != other.cache.path
    assert LMScorer('lm:tiny', 'some/folder').engine == 'transformers'

# ---------------------------------------------------------------- reward models

def test_reward_path_on_tiny_model(tiny_rm):
    rewards = RewardScorer('reward:tiny', str(tiny_rm), batch_size=2).score(ITEMS)    # padded batches
    model, tokenizer = AutoModelForSequenceClassification.from_pretrained(tiny_rm).eval(), AutoTokenizer.from_pretrained(tiny_rm)
    for index, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
        text = tokenizer.apply_chat_template([{'role': 'user', 'content': prompt}, {'role': 'assistant', 'content': response}], tokenize=False)
        assert text.startswith('<user> ') and '<assistant> ' + response in text
        with torch.no_grad(): expected = model(**tokenizer(text, add_special_tokens=False, return_tensors='pt')).logits[0, 0].item()
        assert rewards[index] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert len(set(np.round(rewards, 6))) == 3

# ---------------------------------------------------------------- judges

def answer(scores:dict, reason='Because.'):
    return json.dumps({key: {'reason': reason, 'score': score} for key, score in scores.items()})

@pytest.mark.parametrize('text, message', [
    ('The response is good: 4/5.', 'no JSON object'),
    ('{"helpfulness": {"score": 4, "reason": "x"}, "harmlessness": ', 'malformed JSON'),
    ('{"helpfulness": {"score": 4 "reason": "x"}}', 'malformed JSON'),
    ('{"helpfulness": 4} and then {"honesty": 5}', 'malformed JSON'),
    (answer({'helpfulness': 0, 'harmlessness': 5, 'honesty': 5}), "'helpfulness': score 0 is outside 1-5"),
    (answer({'helpfulness': 4, 'harmlessness': 6, 'honesty': 5}), "'harmlessness': score 6 is outside 1-5"),
    (answer({'helpfulness': 4, 'harmlessness': '5', 'honesty': 5}), 'is not an integer'),
    (answer({'helpfulness': 4, 'harmlessness': True, 'honesty': 5}), 'is not an integer'),
    (answer({'helpfulness': 4, 'honesty': 5}), "missing criterion 'harmlessness'"),
    (answer({'helpfulness': 4, 'harmlessness': 5, 'honesty': 5}, reason=' '), 'no reason'),
    ('{"helpfulness": 4, "harmlessness": 5, "honesty": 5}', 'must be an object'),
])
def test_judge_validation_rejects(text, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(')): parse_judgement(text, 'hhh')

def test_judge_validation_accepts_wrapped_json():
    parsed = parse_judgement('Here is my rating:\n```json\n' + answer({'overall_quality': 4}) + '\n```', 'overall')
    assert parsed == {'overall_quality': {'score': 4, 'reason': 'Because.'}} and judgement_mean(parsed) == 4
    assert judgement_mean(parse_judgement(answer({'helpfulness': 5, 'harmlessness': 4, 'honesty': 2}), 'hhh')) == pytest.approx(11 / 3)

def fake_judge(tmp_path, replies:dict, calls:list):
    "A JudgeScorer (HHH rubric) whose endpoint answers each response with the next of its `replies`"
    def handler(request):
        body = json.loads(request.content); calls.append(body)
        assert body['temperature'] == 0
        response = body['messages'][1]['content'].split('[Response]\n')[1].split('\n\n')[0]
        queue = replies[response]; text = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(200, json={'id': 'x', 'object': 'chat.completion', 'created': 0, 'model': 'judge',
                                         'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': 'stop'}],
                                         'usage': {'prompt_tokens': 50, 'completion_tokens': 20, 'total_tokens': 70}})
    client = openai.AsyncOpenAI(base_url='http://fake/v1', api_key='x', max_retries=0, http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    model = Model('judge', name='judge', engine='openai', base_url='http://fake/v1')
    return JudgeScorer('judge:judge:hhh', model, 'hhh', max_reasks=2, cache_dir=tmp_path,
                       request_options=dict(progress=False, backoff_base=0.01, clients={'judge': client}))

def test_judge_reasks_then_succeeds_or_fails(tmp_path):
    calls, good = [], answer({'helpfulness': 4, 'harmlessness': 5, 'honesty': 3})
    replies = {'fine': [good], 'late': ['not json', answer({'helpfulness': 9, 'harmlessness': 5, 'honesty': 3}), good],
               'never': ['{"helpfulness": {"score": 4}}']}
    items = pd.DataFrame({'prompt': ['q'] * 3, 'response': list(replies)})
    scores = fake_judge(tmp_path, replies, calls).score(items)
    assert scores[:2].tolist() == [4.0, 4.0] and np.isnan(scores[2])
    assert len(calls) == 1 + 3 + 3                                      # 'late' re-asked twice; 'never' gave up after 1 + 2 asks
    record = [r for r in fake_judge(tmp_path, replies, []).requests_store.latest().values() if r['status'] == 'failed'][0]
    assert record['text'] == '{"helpfulness": {"score": 4}}' and record['error'].startswith('invalid answer')
    calls.clear(); replies['never'] = [good]
    again = fake_judge(tmp_path, replies, calls).score(items)            # only the failure is asked again
    assert again.tolist() == [4.0, 4.0, 4.0] and len(calls) == 1

# ---------------------------------------------------------------- the cache

class Failing(Scorer):
    "Counts words; fails on the chunk holding the response 'stop'"
    scorer_type = 'lm'
    def compute(self, prompts, responses):
        if 'stop' in responses: raise KeyboardInterrupt
        self.computed = getattr(self, 'computed', []) + list(responses)
        return np.array([len(r.split()) for r in responses], float)

def test_cache_resumes_after_interruption(tmp_path):
    items = pd.DataFrame({'prompt': ['p'] * 4, 'response': ['a', 'b c', 'stop', 'd e f']})
    first = Failing('words', tmp_path, chunk_size=1)
    with pytest.raises(KeyboardInterrupt): first.score(items)
    assert first.computed == ['a', 'b c']
    resumed = Failing('words', tmp_path, chunk_size=1)
    assert resumed.score(items.iloc[[0, 1, 3]]).tolist() == [1, 2, 3] and resumed.computed == ['d e f']

def test_second_run_computes_nothing(tmp_path, tiny_lm, tiny_rm):
    for make in (lambda: LMScorer('lm:tiny', str(tiny_lm), cache_dir=tmp_path), lambda: RewardScorer('reward:tiny', str(tiny_rm), cache_dir=tmp_path)):
        first = make(); scores = first.score(pd.concat([ITEMS, ITEMS], ignore_index=True))
        assert first.stats['computed'] == 3 and first.model is not None
        second = make(); again = second.score(ITEMS)
        assert second.stats['computed'] == 0 and second.model is None    # the model was not even loaded
        np.testing.assert_array_equal(again, scores[:3])
    assert LMScorer('lm:tiny', str(tiny_lm), whole_conversation=True, cache_dir=tmp_path).score(ITEMS) is not None
    assert len(list(tmp_path.glob('*.jsonl'))) == 3                     # one cache per scorer identity
