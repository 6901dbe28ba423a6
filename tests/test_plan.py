"`hivemind plan`: counts and prices offline, fails on missing keys, min_p where it is rejected and retired models, and passes against a loopback stand-in for `/v1/models`"
import argparse
import json
import re
import socket
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import httpx
import pytest
from hivemind.config import load_settings, parse_settings
from hivemind.plan import (CLASSIFIER_MAX_TOKENS, JUDGE_MAX_TOKENS, JUDGE_RUBRICS, RELEASED_RATED_ANSWERS, add_plan_arguments,
                           data_rows, make_plan, offline_checks, plan_command, plan_refusal)
from hivemind.sampling import sampling_requests

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT/'settings.ini'
KEY_VARIABLES = sorted({s.api_key_env for s in [*load_settings(SETTINGS).models.values(), *load_settings(SETTINGS).embedders.values()]
                        if s.api_key_env})


def run_plan(argv:list[str], capsys) -> tuple[int, str]:
    "The exit status and output of `hivemind plan ARGV`"
    code = plan_command(add_plan_arguments(argparse.ArgumentParser()).parse_args(argv))
    return code, capsys.readouterr().out


@pytest.fixture
def no_keys(monkeypatch):
    for name in KEY_VARIABLES: monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stand_in_keys(monkeypatch):
    "Every key variable set to a recognisable stand-in value"
    values = {name: f'stand-in-{name.lower()}-0123456789' for name in KEY_VARIABLES}
    for name, value in values.items(): monkeypatch.setenv(name, value)
    return values


class FakeModels(BaseHTTPRequestHandler):
    "A loopback OpenAI-compatible stand-in: `/v1/models` lists `served`; chat requests answer one token"
    served:set = set()
    seen:list = []
    timeout = 5  # seconds a connection may stay idle

    def log_message(self, *args): pass

    def reply(self, body:dict, status:int=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        type(self).seen.append((self.path, self.headers.get('Authorization', '')))
        if self.path != '/v1/models': return self.reply({'error': 'not found'}, 404)
        self.reply({'object': 'list', 'data': [{'id': name, 'object': 'model'} for name in sorted(self.served)]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        choices = [{'index': i, 'message': {'role': 'assistant', 'content': 'hi'}, 'finish_reason': 'length'} for i in range(body.get('n', 1))]
        self.reply({'choices': choices})


@pytest.fixture
def fake_endpoint():
    "The stand-in on 127.0.0.1, stopped after the test"
    FakeModels.served, FakeModels.seen = set(), []
    server = ThreadingHTTPServer(('127.0.0.1', 0), FakeModels)
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    try: yield f'http://127.0.0.1:{server.server_port}/v1'
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def pointed_at(url:str, tmp_path:Path) -> tuple[Path, set]:
    "A copy of settings.ini whose endpoints are all `url`, and the model names it serves"
    text = re.sub(r'(?m)^base_url = https?://\S+', f'base_url = {url}', SETTINGS.read_text())
    path = tmp_path/'settings.ini'
    path.write_text(text)
    settings = load_settings(path)
    names = {s.name for s in [*settings.models.values(), *settings.embedders.values()] if s.base_url}
    return path, names


def test_paper_plan_offline_without_keys_fails_every_key_check(no_keys, capsys, monkeypatch):
    monkeypatch.setattr(httpx, 'get', lambda *a, **k: pytest.fail('the offline plan asked the network'))
    code, out = run_plan(['--profile', 'paper'], capsys)
    assert code == 1
    settings = load_settings(SETTINGS)
    needed = {settings.models[m].api_key_env for m in settings.profile('paper').models} | {'OPENAI_API_KEY'}
    assert len(needed) == 8  # Together, vLLM, Mistral, Cohere, OpenAI, Anthropic, Gemini, DashScope
    for name in needed: assert f'key: {name} is not set: export {name}=...' in out
    assert 'total: ' in out and 'cost: at most USD ' in out and 'PLAN FAILS' in out
    rows = [line for line in out.splitlines() if line.startswith('sample ')]
    assert len(rows) == sum(len(settings.models[m].decodings or ['top_p', 'min_p']) for m in settings.profile('paper').models)


def test_key_values_never_appear(stand_in_keys, capsys):
    code, out = run_plan(['--profile', 'paper'], capsys)
    assert 'key: OPENAI_API_KEY is set' in out
    assert not [value for value in stand_in_keys.values() if value in out]
    assert code == 1  # the retired models still fail the plan
    failed = {line.split()[2] for line in out.splitlines() if line.startswith('FAIL')}
    assert failed == {'retired:'}


def test_stand_in_keys_and_a_loopback_models_list_pass(stand_in_keys, fake_endpoint, tmp_path, capsys):
    settings_file, names = pointed_at(fake_endpoint, tmp_path)
    FakeModels.served = names
    code, out = run_plan(['--profile', 'paper', '--settings', str(settings_file), '--probe', '--timeout', '2'], capsys)
    assert code == 0, out
    assert 'PLAN OK' in out and out.count('  listed: ') == 26  # 25 models and the embedder
    assert len(FakeModels.seen) == 26 and all(header.startswith('Bearer stand-in-') for _, header in FakeModels.seen)
    assert not [value for value in stand_in_keys.values() if value in out]


def test_a_model_the_endpoint_does_not_list_fails(stand_in_keys, fake_endpoint, tmp_path, capsys):
    settings_file, names = pointed_at(fake_endpoint, tmp_path)
    FakeModels.served = names - {'phi-4', 'microsoft/phi-4'}
    code, out = run_plan(['--profile', 'paper', '--settings', str(settings_file), '--probe', '--timeout', '2'], capsys)
    assert code == 1
    assert 'FAIL  model:phi-4  listed: microsoft/phi-4 is not listed by' in out


def test_an_endpoint_that_does_not_answer_is_a_warning_not_a_hang(stand_in_keys, tmp_path, capsys):
    with socket.socket() as closed: closed.bind(('127.0.0.1', 0)); port = closed.getsockname()[1]
    settings_file, _ = pointed_at(f'http://127.0.0.1:{port}/v1', tmp_path)
    started = time.monotonic()
    code, out = run_plan(['--profile', 'paper', '--settings', str(settings_file), '--probe', '--timeout', '1'], capsys)
    assert time.monotonic() - started < 60
    assert code == 0 and 'WARN  model:phi-4  listed: could not list the models' in out


MIN_P = """
[mine]
prompts = builtin
prompt_limit = 2
models = hosted, local
decodings = top_p, min_p
samples = 3
max_tokens = 10
embedder = e
[embedder:e]
backend = tfidf-words
[decoding:top_p]
top_p = 0.9
[decoding:min_p]
temperature = 2.0
min_p = 0.1
[model:local]
engine = llama-cpp
gguf = package:smollm2
[model:hosted]
name = gpt-4o-mini-2024-07-18
base_url = https://api.openai.com/v1
api_key_env = OPENAI_API_KEY
"""


def test_min_p_is_refused_for_an_endpoint_that_rejects_it_until_the_model_says_top_p():
    settings = parse_settings(MIN_P)
    plan = make_plan(settings, settings.profile('mine'), environ={'OPENAI_API_KEY': 'x'})
    assert [(c.subject, c.check) for c in plan.failures] == [('model:hosted', 'min_p')]
    assert 'add `decodings = top_p` to [model:hosted]' in plan.failures[0].detail
    narrowed = parse_settings(MIN_P + 'decodings = top_p\n')
    plan = make_plan(narrowed, narrowed.profile('mine'), environ={'OPENAI_API_KEY': 'x'})
    assert plan.ok
    assert [(r['section'], r['decoding'], r['requests']) for r in plan.rows] == [
        ('hosted', 'top_p', 6), ('local', 'top_p', 6), ('local', 'min_p', 6)]
    requests = sampling_requests(load_prompts_of(narrowed), narrowed.profile('mine'), narrowed.decodings, narrowed.models)
    assert sorted({(r.model, r.meta['decoding']) for r in requests}) == [('hosted', 'top_p'), ('local', 'min_p'), ('local', 'top_p')]


def load_prompts_of(settings):
    from hivemind.prompts import load_prompts
    return load_prompts('builtin', 2)


def test_prices_come_from_the_table_or_the_model_section():
    settings = parse_settings(MIN_P + 'decodings = top_p\n')
    row = make_plan(settings, settings.profile('mine'), environ={}).rows[0]
    assert row['usd'] == pytest.approx((row['prompt_tokens'] * 0.15 + 60 * 0.60) / 1e6)
    assert row['usd_batch'] == pytest.approx(row['usd'] / 2)
    priced = parse_settings(MIN_P + 'decodings = top_p\nprice_input = 1\nprice_output = 1000\n')
    assert make_plan(priced, priced.profile('mine'), environ={}).rows[0]['usd'] == pytest.approx((row['prompt_tokens'] + 60_000) / 1e6)
    unknown = parse_settings(MIN_P.replace('gpt-4o-mini-2024-07-18', 'a-new-model') + 'decodings = top_p\n')
    plan = make_plan(unknown, unknown.profile('mine'), environ={})
    assert plan.rows[0]['usd'] is None and [c.check for c in plan.checks if c.status == 'warn'] == ['price']


def test_retired_models_fail_from_their_date_on():
    settings = load_settings(SETTINGS)
    paper = settings.profile('paper')
    def retired(day): return sorted(c.subject for c in offline_checks(settings, paper, {}, day) if c.check == 'retired' and c.status == 'fail')
    assert retired(date(2026, 12, 2)) == ['model:claude-3-5-sonnet-20241022', 'model:claude-3-opus-20240229', 'model:claude-3-sonnet-20240229',
                                          'model:gemini-1.5-pro', 'model:gemini-2.0-flash']
    assert retired(date(2025, 7, 1)) == []


def test_the_run_check_is_offline_and_fast(no_keys, monkeypatch):
    def no_network(*args, **kwargs): raise AssertionError('the run check touched the network')
    monkeypatch.setattr(socket, 'create_connection', no_network)
    monkeypatch.setattr(httpx, 'get', no_network)
    for profile in ('demo', 'smoke'):
        started = time.perf_counter()
        assert plan_refusal(profile, str(SETTINGS)) == ''
        assert time.perf_counter() - started < 0.5
    refusal = plan_refusal('paper', str(SETTINGS))
    assert refusal.startswith('hivemind: the plan of profile paper fails; nothing was run:')
    assert 'OPENAI_API_KEY is not set' in refusal and '--skip-plan' in refusal


def test_the_plan_constants_match_the_stages_they_stand_for():
    from hivemind.classify import CLASSIFIER_PARAMS
    from hivemind.human_data import HUMAN_SPECS
    from hivemind.scorers import JUDGE_PARAMS, RUBRICS
    assert (JUDGE_RUBRICS, JUDGE_MAX_TOKENS, CLASSIFIER_MAX_TOKENS) == (len(RUBRICS), JUDGE_PARAMS['max_tokens'], CLASSIFIER_PARAMS['max_tokens'])
    assert RELEASED_RATED_ANSWERS == HUMAN_SPECS['absolute'].rows + 2 * HUMAN_SPECS['pairwise'].rows


@pytest.mark.parametrize('name', ['providers.tsv', 'prices.tsv', 'retirements.tsv', 'paper_models.tsv'])
def test_every_data_row_says_when_and_where_it_was_checked(name):
    rows = data_rows(name)
    assert rows
    for row in rows:
        assert date.fromisoformat(row['checked']) and row['verified'].split(':')[0] in ('yes', 'no'), row
        assert all(url.startswith('https://') for url in row['source'].split('; ')), row
    if name == 'prices.tsv': assert all(float(r['input_usd_per_mtok']) >= 0 and float(r['output_usd_per_mtok']) >= 0 for r in rows)
    if name == 'retirements.tsv': assert all(date.fromisoformat(r['date']) for r in rows)


def test_the_paper_map_covers_the_paper_profile_as_configured():
    settings = load_settings(SETTINGS)
    rows = {row['model']: row for row in data_rows('paper_models.tsv')}
    assert list(rows) == settings.profile('paper').models
    for name, row in rows.items():
        assert (row['served_id'], row['base_url']) == (settings.models[name].name, settings.models[name].base_url)
    retired = {r['model'] for r in data_rows('retirements.tsv') if r['status'] == 'retired'}
    assert {n for n, r in rows.items() if r['status'] == 'retired'} == {settings.models[n].name for n in rows} & retired


def test_package_data_ships_the_tables():
    import fnmatch, tomllib
    patterns = tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['setuptools']['package-data']['hivemind']
    for name in ('providers.tsv', 'prices.tsv', 'retirements.tsv', 'paper_models.tsv'):
        assert any(fnmatch.fnmatch(f'data/{name}', pattern) for pattern in patterns), name
