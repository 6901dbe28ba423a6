"""`engine = vllm` models (issue 12, items 5 and 6), against a stand-in `vllm` executable first on PATH that serves an
OpenAI-compatible endpoint on loopback (`vllm_standin.py`): the command line it gets, the answers stored, and that
its process is gone after success, error, a failed start, Ctrl-C (with nothing recorded as failed because of the
interrupt) and the death of its parent."""
import json, os, shlex, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
from child_signals import default_signals
from conftest import write_profile
from hivemind.config import Model
from hivemind.endpoints import open_endpoints
from hivemind.runs import ResponseStore, open_run
from hivemind.sampling import sample_run

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OLMO = 'allenai/OLMo-2-1124-13B-Instruct'


@pytest.fixture
def standin(tmp_path, monkeypatch):
    "A `vllm` launcher of the stand-in first on PATH; the path of the log of what it received"
    folder = tmp_path/'bin'
    folder.mkdir()
    launcher = folder/'vllm'
    standin_script = shlex.quote(str(HERE/'vllm_standin.py'))
    launcher.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {standin_script} "$@"\n')
    launcher.chmod(0o755)
    monkeypatch.setenv('PATH', f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv('VLLM_STANDIN_LOG', str(tmp_path/'vllm-received.jsonl'))
    return tmp_path/'vllm-received.jsonl'


def received(log:Path) -> tuple[list, list]:
    "The stand-in's starts (command line, pid) and the requests it received"
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [e for e in entries if 'argv' in e], [e['request'] for e in entries if 'request' in e]


def gone(pid:int, within:float=20) -> bool:
    "Whether process `pid` has ended (a zombie counts as ended) within `within` seconds"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try: state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
        except OSError: return True
        if state == 'Z': return True
        time.sleep(0.1)
    return False


def write_settings(folder:Path, prompts:int=2, samples:int=3, supports_n:str='auto') -> Path:
    "A profile `vllm` whose one model is served by `vllm serve` with tensor and pipeline parallelism"
    olmo = dict(engine='vllm', name=OLMO, tensor_parallel_size=2, pipeline_parallel_size=3,
                vllm_args='--max-model-len 4096 --gpu-memory-utilization 0.5', concurrency=2, supports_n=supports_n,
                start_timeout=60)
    decodings = dict(min_p=dict(temperature=1.0, min_p=0.1))
    return write_profile(folder, 'vllm', dict(olmo=olmo), prompts, decodings, samples=samples, max_tokens=8)


def olmo_model(**changes) -> Model:
    return Model('olmo', name=OLMO, engine='vllm', start_timeout=60, **changes)


def test_sampling_starts_vllm_with_the_parallel_settings_stores_its_answers_and_stops_it(tmp_path, standin):
    run = open_run('vllm', tmp_path/'run', settings_path=write_settings(tmp_path))
    summary = sample_run(run, progress=False)
    assert (summary['ok'], summary['failed'], summary['missing']) == (6, 0, 0)
    (start,), requests = received(standin)
    port = start['argv'][start['argv'].index('--port') + 1]
    assert start['argv'] == ['serve', OLMO, '--host', '127.0.0.1', '--port', port, '--served-model-name', 'olmo',
                             '--tensor-parallel-size', '2', '--pipeline-parallel-size', '3',
                             '--max-model-len', '4096', '--gpu-memory-utilization', '0.5']
    assert {r['model'] for r in requests} == {'olmo'} and {r['min_p'] for r in requests} == {0.1}
    assert sorted(r['n'] for r in requests) == [3, 3]   # vLLM honours n: one request per prompt, no probe
    texts = run.store.frame().set_index('id').text
    assert texts['olmo/min_p/p1/2'].startswith("vllm answer to 'Write a metaphor about thing 1.' with seed")
    assert (run.dir/'logs'/'vllm-olmo.log').exists()
    assert gone(start['pid'])


def test_the_server_is_stopped_when_the_block_raises(standin):
    with pytest.raises(ZeroDivisionError):
        with open_endpoints([olmo_model()]):
            1 / 0
    (start,), _ = received(standin)
    assert gone(start['pid'])


def test_a_server_that_cannot_start_is_named_with_its_log_and_stopped(standin, monkeypatch):
    monkeypatch.setenv('VLLM_STANDIN_FAIL', '1')
    said = r'vLLM server at http://127.0.0.1:\d+/v1 did not start \(exit code 3\)'
    with pytest.raises(RuntimeError, match=said) as error:
        with open_endpoints([olmo_model()]): pass
    assert 'CUDA out of memory' in str(error.value)
    (start,), _ = received(standin)
    assert gone(start['pid'])


def test_a_running_vllm_server_needs_only_its_base_url(standin):
    with open_endpoints([olmo_model(base_url='http://gpu-node-1:8000/v1/')]) as endpoints:
        endpoint = endpoints['olmo']
    assert (endpoint.base_url, endpoint.served_name) == ('http://gpu-node-1:8000/v1', OLMO)
    assert received(standin) == ([], [])   # nothing started


SAMPLER = """
import asyncio, sys
from hivemind.runs import open_run
from hivemind.sampling import sample_run
run = open_run('vllm', sys.argv[1], settings_path=sys.argv[2])
if sys.argv[3] == 'kernel':   # as a notebook cell runs: inside a running event loop (until_done's worker thread)
    async def cell(): sample_run(run, progress=False)
    asyncio.new_event_loop().run_until_complete(cell())
else: sample_run(run, progress=False)
"""


@pytest.mark.parametrize('where', ['kernel', 'script'])
def test_ctrl_c_records_nothing_as_failed_and_stops_the_server(tmp_path, standin, monkeypatch, where):
    "Issue 12, item 6: the interrupt used to stop the server under a sampler that went on and failed every request"
    monkeypatch.setenv('VLLM_STANDIN_DELAY', '0.3')
    settings = write_settings(tmp_path, prompts=4, samples=10, supports_n='false')
    (tmp_path/'sampler.py').write_text(SAMPLER)
    command = [sys.executable, str(tmp_path/'sampler.py'), str(tmp_path/'run'), str(settings), where]
    child = subprocess.Popen(command, cwd=ROOT, preexec_fn=default_signals, stderr=subprocess.PIPE, text=True)
    store, deadline = ResponseStore(tmp_path/'run'/'responses.jsonl'), time.monotonic() + 120
    while time.monotonic() < deadline and len(store.done_ids()) < 4 and child.poll() is None: time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, said = child.communicate(timeout=60)
    assert child.returncode != 0 and 'KeyboardInterrupt' in said
    records = store.latest()
    assert [r['error'] for r in records.values() if r['status'] != 'ok'] == []
    assert 4 <= len(records) < 40, 'the interrupt must land mid-run'
    (start,), _ = received(standin)
    assert gone(start['pid'])
    summary = sample_run(open_run('vllm', tmp_path/'run', settings_path=settings), progress=False)   # a rerun finishes
    assert (summary['ok'], summary['failed']) == (40, 0)


HOLDER = """
import time
from hivemind.config import Model
from hivemind.endpoints import open_endpoints
olmo = Model('olmo', name='allenai/OLMo-2-1124-13B-Instruct', engine='vllm', start_timeout=60)
with open_endpoints([olmo]) as endpoints:
    print(endpoints['olmo'].base_url, flush=True)
    time.sleep(120)
"""


def test_the_server_dies_with_a_killed_parent(standin):
    child = subprocess.Popen([sys.executable, '-c', HOLDER], stdout=subprocess.PIPE, text=True,
                             preexec_fn=default_signals)
    assert child.stdout.readline().startswith('http://127.0.0.1:')
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    (start,), _ = received(standin)
    assert gone(start['pid'])
