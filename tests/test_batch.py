"""Batch mode against a loopback fake of `/v1/files` and `/v1/batches`: the lines are the live requests, answers land
in the store as live ones do, single failures, partial results, expired and failed batches, a restart or Ctrl-C
between submit and completion (polling resumes, nothing is sent twice), a lost reply to create, a split across files,
cancellation, keys."""
import json, textwrap
from pathlib import Path
import pytest
from batch_server import FakeBatchServer
from conftest import DECODINGS, write_profile
from fault_server import FaultServer
import hivemind.batch
from hivemind.batch import BatchBook, batch_line, cancel_batches, sample_with_batches, unfinished
from hivemind.config import SettingsError
from hivemind.runs import RESPONSE_FIELDS, open_run
from hivemind.sampling import profile_prompts, sample_run, sampling_requests

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(wait=10, poll=0.01)


def write_settings(folder, batch_url, live_url=None, samples=2, prompts=2, key_env='', extra=''):
    """A profile `fake` with the model `bat` (batch = true, at `batch_url`; `extra`: more of its options, as lines)
    and, given `live_url`, the model `live` there; two decodings (top-p, and min-p in extra_body)"""
    more = dict(line.split(' = ', 1) for line in extra.splitlines() if line.strip())
    models = dict(bat=dict(name='served-bat', base_url=batch_url, api_key_env=key_env, timeout=5, batch='true', **more))
    if live_url: models['live'] = dict(base_url=live_url, timeout=2, max_retries=2, supports_n='false')
    return write_profile(folder, 'fake', models, prompts, DECODINGS, samples=samples, max_tokens=8)


def fake_run(tmp_path, batch_url, **kwargs):
    return open_run('fake', tmp_path/'run', settings_path=write_settings(tmp_path, batch_url, **kwargs))


def requests_of(run):
    return sampling_requests(profile_prompts(run), run.profile, run.settings.decodings, run.settings.models)


def ids_of(run): return [r.id for r in requests_of(run)]


def created_ids(server, number):
    "The custom_ids of the `number`-th batch the fake created (0-based)"
    return [l['custom_id'] for l in server.input_lines(server.batches[list(server.batches)[number]])]


@pytest.mark.parametrize('mode', ['chat', 'completion'])
def test_batch_lines_match_the_live_bodies_request_by_request(tmp_path, mode):
    with FaultServer(faults=()) as live:
        settings = write_settings(tmp_path, live.url, extra=f'supports_n = false\nmode = {mode}\n')
        run = open_run('fake', tmp_path/'run', settings_path=settings)
        sample_run(run, progress=False)
    lines = {r.seed: batch_line(r, 'served-bat') for r in requests_of(run)}
    assert len(live.log) == len(lines) == 8
    assert all(entry['body'] == lines[entry['seed']]['body'] for entry in live.log)
    assert all(entry['path'] == lines[entry['seed']]['url'] for entry in live.log)
    assert any(entry['body'].get('min_p') == 0.1 for entry in live.log)


def test_a_batch_run_fills_the_store_with_the_live_record_fields(tmp_path):
    with FakeBatchServer() as server, FaultServer(faults=()) as live:
        run = fake_run(tmp_path, server.url)
        summary = sample_with_batches(run, batch=True, **FAST)
        live_settings = write_settings(tmp_path/'l', live.url, extra='supports_n = false\n')
        live_run = open_run('fake', tmp_path/'live', settings_path=live_settings)
        sample_run(live_run, progress=False)
    assert (summary['ok'], summary['failed'], summary['missing'], summary['in_batches']) == (8, 0, 0, 0)
    assert unfinished(summary) == ''
    records = run.store.latest()
    assert sorted(records) == sorted(ids_of(run))
    assert {tuple(r) for r in records.values()} == {tuple(r) for r in live_run.store.latest().values()}
    assert set(RESPONSE_FIELDS) <= set(next(iter(records.values())))
    record = records['bat/min_p/p1/1']
    assert record['text'] == f"batch answer to 'Write a metaphor about thing 1.' seed {record['seed']}"
    assert (record['min_p'], record['temperature'], record['completion_tokens']) == (0.1, 2.0, 4)
    assert (record['attempts'], record['seconds']) == (1, 0.0)
    assert len(server.creates) == 1
    create = server.creates[0]
    assert (create['endpoint'], create['completion_window']) == ('/v1/chat/completions', '24h')
    assert server.files[create['input_file_id']]['purpose'] == 'batch'
    assert all(l['body']['model'] == 'served-bat' for l in server.input_lines(next(iter(server.batches.values()))))


def test_single_failures_are_asked_again_in_a_new_batch_and_bad_requests_are_not(tmp_path):
    fail = {'bat/top_p/p0/0': [500], 'bat/top_p/p0/1': [429], 'bat/min_p/p1/0': [400] * 5}
    with FakeBatchServer(fail=fail) as server:
        run = fake_run(tmp_path, server.url)
        summary = sample_with_batches(run, batch=True, **FAST)
    assert (summary['ok'], summary['failed'], summary['missing']) == (7, 1, 0)
    assert len(server.creates) == 2
    assert created_ids(server, 1) == ['bat/top_p/p0/0', 'bat/top_p/p0/1']  # the 400 is not asked again
    bad = run.store.latest()['bat/min_p/p1/0']
    assert (bad['status'], bad['error']) == ('failed', 'HTTP 400:  fake error 400')
    assert '1 of 8 failed' in unfinished(summary)


@pytest.mark.parametrize('expired_lines', ['error', 'absent'])
def test_an_expired_batch_keeps_its_partial_results_and_asks_the_rest_again(tmp_path, expired_lines):
    with FakeBatchServer(outcomes=['expired'], answer_limit=3, expired_lines=expired_lines) as server:
        run = fake_run(tmp_path, server.url)
        summary = sample_with_batches(run, batch=True, **FAST)
    assert (summary['ok'], summary['failed'], summary['missing']) == (8, 0, 0)
    assert created_ids(server, 1) == created_ids(server, 0)[3:]
    said = ' '.join(summary['notes'])
    assert 'expired: 3 answers, 5 failed (5 worth asking again)' in said


def test_a_failed_batch_is_asked_again_at_most_rounds_times(tmp_path):
    with FakeBatchServer(outcomes=['failed'] * 5) as server:
        run = fake_run(tmp_path, server.url)
        summary = sample_with_batches(run, batch=True, rounds=3, **FAST)
    assert len(server.creates) == 3
    assert (summary['ok'], summary['failed'], summary['in_batches']) == (0, 8, 0)
    error = run.store.latest()['bat/top_p/p0/0']['error']
    assert error.startswith('NotAnswered: batch ') and 'ended failed' in error and 'Enqueued token limit' in error


def test_a_restart_between_submit_and_completion_resumes_polling_without_a_second_submit(tmp_path):
    with FakeBatchServer(polls_to_close=3) as server:
        run = fake_run(tmp_path, server.url)
        first = sample_with_batches(run, batch=True, wait=0, poll=0.01)
        assert (first['in_batches'], first['missing'], len(server.creates)) == (8, 8, 1)
        assert 'still in batches batch-' in unfinished(first)
        (entry,) = BatchBook(run.dir/'batches').open()
        assert entry['state'] == 'submitted' and entry['batch'] in server.batches
        again = open_run('fake', run.dir, settings_path=tmp_path/'settings.ini')
        second = sample_with_batches(again, batch=False, **FAST)  # without --batch too: the open batch is polled
    assert (second['ok'], second['in_batches'], len(server.creates)) == (8, 0, 1)
    assert BatchBook(run.dir/'batches').open() == []


def test_ctrl_c_while_polling_keeps_the_batch_ids_and_the_next_run_resumes(tmp_path, monkeypatch):
    def interrupt(seconds): raise KeyboardInterrupt
    with FakeBatchServer(polls_to_close=3) as server:
        run = fake_run(tmp_path, server.url)
        monkeypatch.setattr(hivemind.batch.time, 'sleep', interrupt)
        with pytest.raises(KeyboardInterrupt): sample_with_batches(run, batch=True, **FAST)
        monkeypatch.undo()
        assert [e['batch'] for e in BatchBook(run.dir/'batches').open()] == list(server.batches)
        summary = sample_with_batches(run, batch=True, **FAST)
    assert (summary['ok'], len(server.creates)) == (8, 1)


def test_a_lost_reply_to_create_does_not_make_a_second_batch(tmp_path):
    with FakeBatchServer(lose_create_replies=1) as server:
        run = fake_run(tmp_path, server.url)
        summary = sample_with_batches(run, batch=True, **FAST)
    assert (summary['ok'], len(server.creates)) == (8, 1)
    assert any('not created yet (InternalServerError' in line for line in summary['notes'])


@pytest.mark.parametrize('limits, sizes', [(dict(max_lines=3), [3, 3, 2]), (dict(max_bytes=1200), None)])
def test_requests_are_split_across_files_at_the_limits(tmp_path, limits, sizes):
    with FakeBatchServer() as server:
        run = fake_run(tmp_path, server.url)
        summary = sample_with_batches(run, batch=True, **limits, **FAST)
        files = [server.files[c['input_file_id']]['content'] for c in server.creates]
    assert summary['ok'] == 8
    assert len(files) > 1 and sum(f.count(b'\n') for f in files) == 8
    if sizes: assert [f.count(b'\n') for f in files] == sizes
    else: assert all(len(f) <= 1200 for f in files)
    ids = [i for n in range(len(files)) for i in created_ids(server, n)]
    assert ids == ids_of(run)


def test_a_batch_model_beside_a_live_one(tmp_path):
    with FakeBatchServer() as server, FaultServer(faults=()) as live:
        run = fake_run(tmp_path, server.url, live_url=live.url)
        summary = sample_with_batches(run, batch=True, progress=False, **FAST)
    assert (summary['ok'], summary['requested']) == (16, 16)
    assert {i.split('/')[0] for i in created_ids(server, 0)} == {'bat'}
    assert len(live.log) == 8 and {e['body']['model'] for e in live.log} == {'live'}


def test_without_batch_and_nothing_open_it_is_the_live_sampler(tmp_path):
    with FaultServer(faults=()) as live:
        run = fake_run(tmp_path, live.url)
        summary = sample_with_batches(run, batch=False, progress=False)
    assert summary['ok'] == 8 and 'in_batches' not in summary and not (run.dir/'batches').exists()


def test_cancelled_batches_are_collected_and_not_asked_again(tmp_path):
    with FakeBatchServer(polls_to_close=5, answer_limit=2) as server:
        run = fake_run(tmp_path, server.url)
        sample_with_batches(run, batch=True, wait=0, poll=0.01)
        assert cancel_batches(run) == list(server.batches) == server.cancels
        summary = sample_with_batches(run, batch=True, **FAST)
    assert (summary['ok'], summary['failed'], len(server.creates)) == (2, 6, 1)
    assert run.store.latest()['bat/min_p/p1/1']['error'].startswith('batch_cancelled: ')


def test_the_key_goes_only_in_the_header_and_a_missing_key_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv('BATCH_TEST_KEY', 'sk-batch-secret-123')
    with FakeBatchServer(fail={'bat/top_p/p0/0': [400]}) as server:
        run = fake_run(tmp_path, server.url, key_env='BATCH_TEST_KEY')
        sample_with_batches(run, batch=True, **FAST)
    assert server.authorizations == {'Bearer sk-batch-secret-123'}
    assert not [p for p in run.dir.rglob('*') if p.is_file() and b'sk-batch-secret' in p.read_bytes()]
    monkeypatch.delenv('BATCH_TEST_KEY')
    with pytest.raises(RuntimeError, match='needs the environment variable BATCH_TEST_KEY'):
        sample_with_batches(fake_run(tmp_path/'other', server.url, key_env='BATCH_TEST_KEY'), batch=True, **FAST)


def test_a_local_model_with_batch_is_a_settings_error_naming_its_section(tmp_path):
    settings = write_settings(tmp_path, 'http://127.0.0.1:9/v1', extra='engine = llama-cpp\ngguf = package:smollm2\n')
    with pytest.raises(SettingsError, match=r'\[model:bat\] batches need engine = openai'):
        sample_with_batches(open_run('fake', tmp_path/'run', settings_path=settings), batch=True, **FAST)


def test_a_refused_batch_stops_the_run_naming_model_and_file_and_the_file_stays_uploaded(tmp_path):
    with FakeBatchServer(refuse_creates=True) as server:
        run = fake_run(tmp_path, server.url)
        refused = r'bat: the batch of .*batches/bat-\S+\.jsonl was refused: BadRequestError'
        with pytest.raises(RuntimeError, match=refused):
            sample_with_batches(run, batch=True, **FAST)
    assert [e['state'] for e in BatchBook(run.dir/'batches').open()] == ['uploaded']


@pytest.mark.parametrize('wait', [0, 10])
def test_step_01_with_batch_true_submits_and_collects_or_says_what_is_left(tmp_path, monkeypatch, wait):
    import papermill
    with FakeBatchServer() as server:
        monkeypatch.setenv('HIVEMIND_SETTINGS', str(write_settings(tmp_path, server.url)))
        parameters = dict(profile='fake', run_dir=str(tmp_path/'run'), batch=True, batch_wait=wait)
        papermill.execute_notebook(ROOT/'nbs/pipeline/01_sample.ipynb', tmp_path/'out.ipynb', parameters=parameters,
                                   kernel_name='python3', language='python', progress_bar=False, cwd=ROOT)
    cells = json.loads((tmp_path/'out.ipynb').read_text())['cells']
    said = ''.join(''.join(o.get('text', '')) for c in cells for o in c.get('outputs', []))
    assert len(server.creates) == 1
    assert ('incomplete: 8 still in batches batch-' in said) == (wait == 0)
    assert len(open_run('fake', tmp_path/'run', settings_path=tmp_path/'settings.ini').responses()) == 8 * (wait > 0)


TOGETHER = 'provider = together\n'  # a loopback fake standing in for api.together.xyz


def test_together_batches_use_its_purpose_its_job_wrapper_and_its_capital_states(tmp_path):
    with FakeBatchServer(dialect='together', fail={'bat/top_p/p0/0': [500]}) as server:
        run = fake_run(tmp_path, server.url, extra=TOGETHER)
        summary = sample_with_batches(run, batch=True, **FAST)
    assert (summary['ok'], summary['failed'], summary['missing'], len(server.creates)) == (8, 0, 0, 2)
    purposes = {f['purpose'] for f in server.files.values() if f['filename'].endswith('.jsonl')}
    assert purposes <= {'batch-api', 'batch_output'} and 'batch-api' in purposes
    assert all('metadata' not in create for create in server.creates)  # not in Together's batch reference
    assert any(f"batch {list(server.batches)[0]} completed: 7 answers, 1 failed" in line for line in summary['notes'])


def test_a_failed_together_batch_names_its_reason_and_a_lost_create_reply_is_found_in_the_bare_list(tmp_path):
    with FakeBatchServer(dialect='together', outcomes=['failed'], lose_create_replies=1) as server:
        run = fake_run(tmp_path, server.url, extra=TOGETHER)
        summary = sample_with_batches(run, batch=True, rounds=1, **FAST)
    assert (summary['ok'], summary['failed'], len(server.creates)) == (0, 8, 1)
    assert 'Enqueued token limit' in run.store.latest()['bat/top_p/p0/0']['error']


def test_the_openai_purpose_is_refused_by_together_and_a_provider_of_another_format_is_a_settings_error(tmp_path):
    with FakeBatchServer(dialect='together') as server:
        run = fake_run(tmp_path, server.url)  # no provider row: a loopback server is self-hosted, OpenAI's format
        with pytest.raises(Exception, match="invalid purpose 'batch'"): sample_with_batches(run, batch=True, **FAST)
        other = fake_run(tmp_path/'other', server.url, extra='provider = anthropic\n')
        with pytest.raises(SettingsError, match=r"\[model:bat\] its provider takes batches in the 'anthropic' format"):
            sample_with_batches(other, batch=True, **FAST)


def test_hivemind_batches_lists_a_runs_batches_and_cancels_the_running_ones(tmp_path, capsys):
    from hivemind.cli import main
    with FakeBatchServer(polls_to_close=5, answer_limit=2) as server:
        settings = write_settings(tmp_path, server.url)
        run = open_run('fake', tmp_path/'runs'/'fake', settings_path=settings)
        sample_with_batches(run, batch=True, wait=0, poll=0.01)
        capsys.readouterr()
        options = ['--profile', 'fake', '--runs', str(tmp_path/'runs'), '--settings', str(settings)]
        assert main(['batches', *options]) == 0
        listed = capsys.readouterr().out
        assert main(['batches', '--cancel', *options]) == 0
        cancelled = capsys.readouterr().out
        summary = sample_with_batches(run, batch=True, **FAST)
        capsys.readouterr()
        assert main(['batches', *options]) == 0
        collected = capsys.readouterr().out
    (batch,) = server.batches
    assert listed.split('\n')[1].split()[1:] == ['bat', '8', 'submitted', batch, 'in_progress']
    assert server.cancels == [batch]
    assert cancelled.startswith('cancelled 1 batches; the next hivemind run collects them')
    assert collected.split('\n')[1].split()[1:] == ['bat', '8', 'collected', batch, 'cancelled']
    assert (summary['ok'], summary['failed']) == (2, 6)
    assert main(['batches', '--profile', 'fake', '--runs', str(tmp_path/'none'), '--settings', str(settings)]) == 2


def test_the_output_of_vllm_run_batch_on_hiveminds_input_files_is_collected_into_the_store(tmp_path, capsys):
    "A GPU machine answers the input files offline (`vllm run-batch -i IN -o OUT`); `hivemind batches --collect OUT`"
    from batch_server import answer
    from hivemind.cli import main
    settings = write_settings(tmp_path, 'http://127.0.0.1:9/v1')
    run = open_run('fake', tmp_path/'runs'/'fake', settings_path=settings)
    inputs = [batch_line(r, 'served-bat') for r in requests_of(run)]
    def output(line, status=200):  # one line as vLLM's batch runner writes it
        body = answer(line) if status == 200 else dict(error=dict(message='out of memory', code=None))
        return dict(id=f"vllm-{line['custom_id']}", custom_id=line['custom_id'],
                    response=dict(status_code=status, request_id='r', body=body), error=None)
    lines = [output(l) for l in inputs[1:]] + [output(inputs[0], 500), output(dict(inputs[0], custom_id='other/x/y/0'))]
    out = tmp_path/'out.jsonl'
    out.write_text(''.join(json.dumps(l) + '\n' for l in lines))
    options = ['--profile', 'fake', '--runs', str(tmp_path/'runs'), '--settings', str(settings)]
    assert main(['batches', '--collect', str(out), *options]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"{out}: 7 answers stored, 1 failed, 1 lines answer no request of profile fake")
    records = run.store.latest()
    assert sorted(records) == sorted(ids_of(run)) and run.store.done_ids() == set(ids_of(run)[1:])
    record = records['bat/min_p/p1/1']
    assert record['text'] == f"batch answer to 'Write a metaphor about thing 1.' seed {record['seed']}"
    assert records[ids_of(run)[0]]['error'] == 'HTTP 500:  out of memory'
