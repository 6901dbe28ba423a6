"""The sampler against a fault-injecting OpenAI-compatible server: retries, failure summaries, n detection, SIGKILL
resume, no key leaks, dead and hanging endpoints given up fast, Retry-After, prompts too long for the context."""
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
from conftest import write_profile
from fault_server import FaultServer, refusing_url
from hivemind.config import Model, SettingsError
from hivemind.endpoints import Endpoint
from hivemind.runs import open_run, ResponseStore
from hivemind.sampling import (COMPLETION_TEMPLATES, Request, in_mode, prompt_overflow, ask_requests, sample_run,
                               profile_prompts)

ROOT = Path(__file__).resolve().parents[1]


def write_settings(folder, url, samples=4, prompts=3, timeout=0.5, max_retries=8, concurrency=4, supports_n='auto',
                   key_env='', also=None, long_prompt=None):
    """A settings file with one profile `fake` whose model `fake` lives at `url` (and the models of `also`, name -> url,
    with the same options), and its prompts file (with a prompt `long` of `long_prompt` characters, if given)"""
    options = dict(timeout=timeout, max_retries=max_retries, concurrency=concurrency)
    models = dict(fake=dict(base_url=url, api_key_env=key_env, supports_n=supports_n, **options))
    models |= {name: dict(base_url=other, **options) for name, other in (also or {}).items()}
    settings = write_profile(folder, 'fake', models, prompts, samples=samples, max_tokens=8)
    if long_prompt:
        with open(folder/'prompts.csv', 'a') as file: file.write(f'long,{"word " * (long_prompt // 5)}\n')
    return settings


def fake_run(tmp_path, server, **kwargs):
    settings = write_settings(tmp_path, server.url, **kwargs)
    return open_run('fake', tmp_path/'run', settings_path=settings)


def test_faults_are_retried_until_the_store_is_complete(tmp_path):
    with FaultServer(fault_every=2) as server:
        run = fake_run(tmp_path, server)
        summary = sample_run(run, backoff_base=0.01, progress=False)
    assert summary['ok'] == 12 and summary['failed'] == 0 and summary['missing'] == 0
    outcomes = {entry['outcome'] for entry in server.log}
    assert {'429', '500', 'timeout', 'garbage', 'no-choices'} <= outcomes
    records = ResponseStore(run.dir/'responses.jsonl').latest()
    assert len(records) == 12 and all(r['status'] == 'ok' for r in records.values())
    assert max(r['attempts'] for r in records.values()) >= 2
    assert len({r['seed'] for r in records.values()}) == 12


def test_a_dead_endpoint_gives_a_failure_summary_and_a_rerun_retries(tmp_path):
    with FaultServer(always_fail=True) as server:
        run = fake_run(tmp_path, server, max_retries=2)
        summary = sample_run(run, backoff_base=0.01, progress=False)
    assert (summary['ok'], summary['failed'], summary['missing']) == (0, 12, 0)
    assert list(summary['errors']) == ['InternalServerError']
    failed = run.store.frame(status='failed')
    assert len(failed) == 12 and (failed.attempts == 3).all()
    with FaultServer(faults=()) as healthy:
        run = fake_run(tmp_path, healthy, max_retries=2)
        summary = sample_run(run, backoff_base=0.01, progress=False)
    assert (summary['ok'], summary['failed']) == (12, 0)
    assert len([entry for entry in healthy.log if entry['body']['max_tokens'] == 8]) == 12  # and one probe for `n`


def test_n_is_used_where_honoured_and_detected_where_not(tmp_path):
    with FaultServer(faults=(), honour_n=True) as server:
        sample_run(fake_run(tmp_path/'a', server, samples=4), progress=False)
    assert [(entry['n'], entry['body']['max_tokens']) for entry in server.log] == [(2, 1), (4, 8), (4, 8), (4, 8)]
    with FaultServer(faults=(), honour_n=False) as server:
        run = fake_run(tmp_path/'b', server, samples=4)
        sample_run(run, progress=False)
    assert len(run.store.done_ids()) == 12
    assert (server.log[0]['n'], server.log[0]['body']['max_tokens']) == (2, 1)
    assert len(server.log) == 13 and all(entry['n'] == 1 for entry in server.log[1:])


def test_a_failing_probe_settles_n_once_and_the_groups_run_concurrently(tmp_path):
    "Before: every group probed `n` in turn, one at a time, because a failed probe settled nothing"
    with FaultServer(always_fail=True, delay=0.1) as server:
        run = fake_run(tmp_path, server, samples=4, prompts=3, concurrency=4, max_retries=1)
        summary = sample_run(run, backoff_base=0.01, progress=False)
    assert (summary['failed'], list(summary['errors'])) == (12, ['InternalServerError'])
    assert [(entry['n'], entry['body']['max_tokens']) for entry in server.log if entry['n'] > 1] == [(2, 1), (2, 1)]
    assert len(server.log) == 2 + 12 * 2
    assert server.max_in_flight >= 3


def test_decoding_knobs_travel_in_the_body(tmp_path):
    with FaultServer(faults=()) as server:
        run = fake_run(tmp_path, server, samples=1, prompts=1, supports_n='false')
        sample_run(run, progress=False)
    body = server.log[0]['body']
    assert (body['temperature'], body['top_p'], body['max_tokens']) == (1.0, 0.9, 8)


SAMPLER = """
import sys
from hivemind.runs import open_run
from hivemind.sampling import sample_run
run = open_run('fake', sys.argv[1], settings_path=sys.argv[2])
sample_run(run, progress=False)
"""


def test_sigkill_mid_run_loses_nothing_and_repeats_nothing(tmp_path):
    with FaultServer(faults=(), delay=0.05) as server:
        settings = write_settings(tmp_path, server.url, samples=10, prompts=4, concurrency=2, supports_n='false')
        script = tmp_path/'sampler.py'; script.write_text(SAMPLER)
        store = ResponseStore(tmp_path/'run'/'responses.jsonl')
        process = subprocess.Popen([sys.executable, str(script), str(tmp_path/'run'), str(settings)], cwd=ROOT)
        deadline = time.time() + 60
        while time.time() < deadline and len(store.done_ids()) < 12: time.sleep(0.02)
        process.send_signal(signal.SIGKILL); process.wait()
        stored_before = store.latest()
        assert 12 <= len(stored_before) < 40, 'the kill must land mid-run'
        requested_before = len(server.log)
        subprocess.run([sys.executable, str(script), str(tmp_path/'run'), str(settings)], cwd=ROOT, check=True)
    after = store.latest()
    assert len(store.done_ids()) == 40
    assert all(after[i] == r for i, r in stored_before.items()), 'a stored response changed or vanished'
    seeds_before = {r['seed'] for r in stored_before.values()}
    rerun_seeds = [entry['seed'] for entry in server.log[requested_before:]]
    assert not seeds_before & set(rerun_seeds), 'a stored response was requested again'
    assert len(rerun_seeds) == len(set(rerun_seeds)) == 40 - len(stored_before)


def test_the_api_key_reaches_the_server_and_no_file(tmp_path, monkeypatch):
    secret = 'sk-test-' + 'Q7w9Z' * 6
    monkeypatch.setenv('HIVEMIND_TEST_KEY', secret)
    with FaultServer(faults=('429', 'garbage'), fault_every=3) as server:
        run = fake_run(tmp_path, server, key_env='HIVEMIND_TEST_KEY')
        sample_run(run, backoff_base=0.01, progress=False)
    assert all(entry['authorization'] == f'Bearer {secret}' for entry in server.log)
    leaks = [p for p in tmp_path.rglob('*') if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []



def test_a_key_echoed_in_an_error_body_is_scrubbed_from_every_file(tmp_path, monkeypatch):
    secret = 'sk-echo-' + 'R4t8Y' * 6
    monkeypatch.setenv('HIVEMIND_TEST_KEY', secret)
    with FaultServer(faults=('401-echo',), fault_every=2) as server:
        run = fake_run(tmp_path, server, key_env='HIVEMIND_TEST_KEY', supports_n='false')
        summary = sample_run(run, backoff_base=0.01, progress=False)
    assert summary['failed'] > 0 and list(summary['errors']) == ['AuthenticationError']
    failed = run.store.frame(status='failed')
    assert failed.error.str.contains('[key of $HIVEMIND_TEST_KEY]', regex=False).all()
    leaks = [p for p in (tmp_path/'run').rglob('*') if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []

def test_a_missing_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv('HIVEMIND_ABSENT_KEY', raising=False)
    with FaultServer(faults=()) as server:
        run = fake_run(tmp_path, server, key_env='HIVEMIND_ABSENT_KEY')
        with pytest.raises(RuntimeError, match='HIVEMIND_ABSENT_KEY'): sample_run(run, progress=False)


@pytest.mark.parametrize('key, bad, least', [('samples', -2, 1), ('max_tokens', 0, 1), ('prompt_limit', -1, 0)])
def test_counts_below_their_least_are_settings_errors_naming_file_section_and_key(tmp_path, key, bad, least):
    settings = write_settings(tmp_path, 'http://127.0.0.1:9/v1')
    lines = [l for l in settings.read_text().splitlines() if not l.strip().startswith(f'{key} =')]
    lines.insert(lines.index('[fake]') + 1, f'{key} = {bad}')
    settings.write_text('\n'.join(lines) + '\n')
    with pytest.raises(SettingsError, match=rf"settings\.ini: \[fake\] {key} = '{bad}': .*must be >= {least}"):
        open_run('fake', tmp_path/'run', settings_path=settings)


def unreachable_lines(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if 'unreachable' in line]


def test_a_refused_endpoint_fails_fast_with_one_summary_line(tmp_path, capsys):
    "With the default timeout, retries and backoff; before: 142 s for these 30 requests, serially, group by group"
    with refusing_url() as url:
        run = open_run('fake', tmp_path/'run', settings_path=write_settings(tmp_path, url, samples=10, prompts=3,
                                                                             timeout=120, max_retries=6))
        started = time.monotonic()
        summary = sample_run(run, progress=False)
        seconds = time.monotonic() - started
    assert seconds < 10
    assert (summary['ok'], summary['failed'], summary['missing']) == (0, 30, 0)
    assert summary['errors'] == {'EndpointUnreachable': 30}
    line = (f"fake: endpoint {url} unreachable after 3 consecutive connection errors or timeouts; "
            "its 30 remaining requests are recorded as failed (a rerun asks again)")
    assert unreachable_lines(capsys) == [line] and summary['notes'] == [line]
    failed = run.store.frame(status='failed')
    assert (failed.attempts == 0).all() and failed.error.str.contains('(last: APIConnectionError', regex=False).all()


@pytest.mark.parametrize('supports_n, most_seconds', [('auto', 4.0), ('false', 3.0)])
def test_a_hanging_endpoint_is_given_up_in_a_bounded_time(tmp_path, capsys, supports_n, most_seconds):
    "auto: the probe's three attempts time out one after another; false: the first four requests time out together"
    with FaultServer(always='hang') as server:
        run = fake_run(tmp_path, server, samples=4, prompts=3, timeout=0.5, max_retries=6, concurrency=4,
                       supports_n=supports_n)
        started = time.monotonic()
        summary = sample_run(run, backoff_base=0.01, progress=False)
        seconds = time.monotonic() - started
    assert seconds < most_seconds
    assert (summary['failed'], list(summary['errors'])) == (12, ['EndpointUnreachable'])
    assert len(server.log) <= 4 + 3
    assert len(unreachable_lines(capsys)) == 1
    assert run.store.frame(status='failed').error.str.contains('APITimeoutError', regex=False).all()


def test_a_dead_endpoint_beside_a_working_one_leaves_the_working_one_whole(tmp_path, capsys):
    with refusing_url() as dead, FaultServer(faults=(), delay=0.05) as server:
        run = open_run('fake', tmp_path/'run', settings_path=write_settings(tmp_path, server.url, also={'dead': dead}))
        summary = sample_run(run, backoff_base=0.01, progress=False)
    records = run.store.frame(None)
    assert (summary['ok'], summary['failed'], summary['missing']) == (12, 12, 0)
    assert records[records.model.eq('fake')].status.eq('ok').sum() == 12
    assert records[records.model.eq('dead')].error.str.startswith('EndpointUnreachable').sum() == 12
    assert [line.split(':')[0] for line in unreachable_lines(capsys)] == ['dead']


def test_retry_after_is_waited_for_by_every_request_to_the_endpoint(tmp_path):
    "Before: only the request told to wait waited; the other prompt's requests went on every 0.1 s"
    with FaultServer(faults=('429-retry-after', *['ok'] * 5), fault_every=3, retry_after='1', delay=0.1) as server:
        run = fake_run(tmp_path, server, samples=6, prompts=2, concurrency=2, supports_n='false')
        summary = sample_run(run, backoff_base=0.01, progress=False)
    assert (summary['ok'], summary['failed']) == (12, 0)
    told = next(entry['time'] for entry in server.log if entry['outcome'] == '429-retry-after')
    after = [entry['time'] - told for entry in server.log if entry['time'] > told + 0.35]  # sent once the 429 was read
    assert after and min(after) >= 1.0


def test_a_prompt_too_long_for_a_hosted_model_fails_once_per_prompt(tmp_path, capsys):
    with FaultServer(faults=(), context_chars=1000) as server:
        run = fake_run(tmp_path, server, samples=4, prompts=2, supports_n='false', long_prompt=100_000)
        summary = sample_run(run, backoff_base=0.01, progress=False)
    assert (summary['ok'], summary['failed'], summary['missing']) == (8, 4, 0)
    assert summary['errors'] == {'PromptTooLong': 4}
    assert len([entry for entry in server.log if entry['outcome'] == '400-context']) == 1
    failed = run.store.frame(status='failed')
    assert set(failed.prompt_id) == {'long'} and failed.attempts.sum() == 1
    said = "prompt long does not fit the context of fake: with max_tokens 8 the endpoint said BadRequestError"
    assert failed.error.str.contains(said, regex=False).all()
    said = [line for line in capsys.readouterr().out.splitlines() if 'does not fit' in line]
    assert len(said) == 1 and said[0].startswith('fake: prompt long does not fit the context')


def test_a_prompt_too_long_for_a_local_model_is_named_before_anything_is_sent(tmp_path, capsys):
    "The fault server counts tokens like llama-cpp-python's /extras/tokenize/count (4 characters a token)"
    texts = {'short': 'Say hi.', 'medium': 'word ' * 200, 'long': 'word ' * 20_000}
    requests = [Request(f'local/top_p/{name}/{i}', 'local', [{'role': 'user', 'content': text}],
                        {'max_tokens': 64, 'seed': i}, {'prompt_id': name})
                for name, text in texts.items() for i in range(3)]
    with FaultServer(faults=()) as server:
        endpoints = {'local': Endpoint(Model('local', engine='llama-cpp', n_ctx=512, timeout=5), server.url, 'local')}
        summary = ask_requests(requests, ResponseStore(tmp_path/'responses.jsonl'), endpoints, progress=False)
    assert (summary['ok'], summary['failed'], summary['errors']) == (6, 3, {'PromptTooLong': 3})
    assert server.tokenized == [texts['medium'], texts['long']]  # a prompt whose bytes fit is not counted
    assert {entry['body']['messages'][0]['content'] for entry in server.log} == {texts['short'], texts['medium']}
    assert all(entry['n'] == 1 for entry in server.log)  # llama.cpp never honours n: no probe
    assert summary['notes'] == ['local: prompt long does not fit the context; its requests are recorded as failed: '
                                'about 25040 prompt tokens + max_tokens 64 > n_ctx 512; not sent (shorten the prompt, '
                                'lower max_tokens or raise n_ctx)']


def base_run(tmp_path, server, template='qa', **kwargs):
    "A fake run whose model `fake` is a base model: `mode = completion` with `template`"
    settings = write_settings(tmp_path, server.url, **kwargs)
    settings.write_text(settings.read_text() + f"mode = completion\ntemplate = {template}\n")
    return open_run('fake', tmp_path/'run', settings_path=settings)


def test_a_base_model_is_asked_through_completions_with_the_few_shot_text_and_its_faults_retried(tmp_path):
    with FaultServer(fault_every=2) as server:
        run = base_run(tmp_path, server)
        summary = sample_run(run, backoff_base=0.01, progress=False)
    assert (summary['ok'], summary['failed'], summary['missing']) == (12, 0, 0)
    assert {'429', '500', 'timeout', 'garbage', 'no-choices'} <= {entry['outcome'] for entry in server.log}
    assert {entry['path'] for entry in server.log} == {'/v1/completions'}
    sent = [entry['body'] for entry in server.log if entry['body']['max_tokens'] == 8]
    assert all(b['prompt'].startswith(COMPLETION_TEMPLATES['qa']['text'][:40]) for b in sent)
    questions = {b['prompt'].rsplit('Question: ', 1)[1] for b in sent}
    assert questions == {f'Write a metaphor about thing {i}.\nAnswer:' for i in range(3)}
    assert all(b['stop'] == ['\nQuestion:', '\n\n'] and 'messages' not in b for b in sent)
    records = run.store.frame()
    assert set(records.template) == {'qa'} and set(records.finish_reason) == {'stop'}
    assert records.text.str.startswith('answer to ').all() and records.completion_tokens.eq(4).all()  # stripped
    assert set(records.prompt) == {f'Write a metaphor about thing {i}.' for i in range(3)}  # the question, as for chat


def test_a_model_switched_to_completion_mode_is_asked_again_and_then_resumes(tmp_path):
    with FaultServer(faults=()) as server:
        sample_run(fake_run(tmp_path, server, supports_n='false'), progress=False)
        assert len(server.log) == 12
        run = base_run(tmp_path, server, supports_n='false')
        assert sample_run(run, progress=False)['ok'] == 12
        assert [entry['path'] for entry in server.log[12:]] == ['/v1/completions'] * 12
        sample_run(base_run(tmp_path, server, supports_n='false'), progress=False)
        assert len(server.log) == 24, 'a stored completion was asked again'
    assert set(run.store.frame().template) == {'qa'}


def test_an_unknown_template_is_a_settings_error_before_anything_is_sent(tmp_path):
    with FaultServer(faults=()) as server:
        run = base_run(tmp_path, server, template='chatml')
        with pytest.raises(SettingsError, match=r"\[model:fake\] template = 'chatml': no such few-shot template"):
            sample_run(run, progress=False)
    assert server.log == []


def test_a_text_prompt_too_long_for_a_local_base_model_is_counted_whole(tmp_path):
    "The few-shot text is what must fit: it is counted, not the question alone"
    question = 'word ' * 12
    chat = Request('local/top_p/q/0', 'local', [{'role': 'user', 'content': question}], {'max_tokens': 64, 'seed': 1},
                   {'prompt_id': 'q'})
    base = in_mode(chat, Model('local', engine='llama-cpp', mode='completion'))
    with FaultServer(faults=()) as server:
        endpoint = Endpoint(Model('local', engine='llama-cpp', n_ctx=200, mode='completion'), server.url, 'local')
        assert prompt_overflow(endpoint, chat) == ''  # the question alone fits
        said = prompt_overflow(endpoint, base)
    assert server.tokenized == [base.prompt]
    assert said == f"about {len(base.prompt) // 4 + 8} prompt tokens + max_tokens 64 > n_ctx 200; not sent " \
                   "(shorten the prompt, lower max_tokens or raise n_ctx)"


def test_lowering_samples_or_prompts_in_place_keeps_the_answers_but_the_chapters_read_only_the_profiles(tmp_path):
    with FaultServer(faults=()) as server:
        run = fake_run(tmp_path, server, samples=4, prompts=3)
        assert sample_run(run, progress=False)['ok'] == 12
        asked = len(server.log)
        lowered = fake_run(tmp_path, server, samples=2, prompts=2)
        summary = sample_run(lowered, progress=False)
        asked_again = len(server.log) - asked
    assert (summary['requested'], summary['ok'], asked_again) == (4, 4, 0)  # nothing asked again
    assert len(lowered.store.frame()) == 12  # every answer kept, for when the profile is raised again
    responses = lowered.responses()
    assert sorted(responses.id) == sorted(f'fake/top_p/p{p}/{s}' for p in range(2) for s in range(2))
    assert lowered.records(None).id.tolist() == responses.id.tolist()
