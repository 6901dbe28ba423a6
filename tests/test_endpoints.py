"The llama.cpp server that hivemind starts for packaged models: it serves, and it stops on success, error and Ctrl-C."
import signal, subprocess, sys, time
import httpx, pytest
from child_signals import default_signals
from hivemind.config import load_settings
from hivemind.endpoints import open_endpoints, gguf_path


def serving(base_url):
    try: return httpx.get(f'{base_url}/models', timeout=2).status_code == 200
    except httpx.HTTPError: return False


@pytest.fixture(scope='module')
def smollm2():
    return load_settings().models['smollm2']


def test_serves_the_packaged_model_and_stops_after(smollm2):
    with open_endpoints([smollm2]) as endpoints:
        endpoint = endpoints['smollm2']
        reply = endpoint.client(asynchronous=False).chat.completions.create(
            model=endpoint.served_name, max_tokens=4, seed=3, messages=[{'role': 'user', 'content': 'Say hi.'}])
        assert reply.choices[0].message.content
        assert serving(endpoint.base_url)
    assert not serving(endpoint.base_url)


def test_stops_when_the_block_raises(smollm2):
    with pytest.raises(ZeroDivisionError):
        with open_endpoints([smollm2]) as endpoints:
            base_url = endpoints['smollm2'].base_url
            1 / 0
    assert not serving(base_url)


CHILD = """
import time
from hivemind.config import load_settings
from hivemind.endpoints import open_endpoints
with open_endpoints([load_settings().models['smollm2']]) as endpoints:
    print(endpoints['smollm2'].base_url, flush=True)
    time.sleep(120)
"""


def test_stops_on_ctrl_c(smollm2):
    child = subprocess.Popen([sys.executable, '-c', CHILD], stdout=subprocess.PIPE, text=True, preexec_fn=default_signals)
    base_url = child.stdout.readline().strip()
    assert serving(base_url)
    child.send_signal(signal.SIGINT); child.wait(30)
    assert child.returncode != 0
    deadline = time.time() + 15
    while serving(base_url) and time.time() < deadline: time.sleep(0.2)
    assert not serving(base_url)


def test_a_missing_gguf_is_named():
    with pytest.raises(FileNotFoundError, match='nowhere.gguf'): gguf_path('/nowhere.gguf')


def test_the_server_dies_with_a_killed_parent(smollm2):
    child = subprocess.Popen([sys.executable, '-c', CHILD], stdout=subprocess.PIPE, text=True, preexec_fn=default_signals)
    base_url = child.stdout.readline().strip()
    assert serving(base_url)
    child.send_signal(signal.SIGKILL); child.wait(30)
    deadline = time.time() + 15
    while serving(base_url) and time.time() < deadline: time.sleep(0.2)
    assert not serving(base_url)


BUSY_CHILD = """
import threading, time
from hivemind.config import load_settings
from hivemind.endpoints import open_endpoints
with open_endpoints([load_settings().models['smollm2']]) as endpoints:
    endpoint = endpoints['smollm2']
    ask = lambda: endpoint.client(asynchronous=False).chat.completions.create(
        model=endpoint.served_name, max_tokens=4000, messages=[{'role': 'user', 'content': 'Write a very long story.'}])
    threading.Thread(target=ask, daemon=True).start()
    time.sleep(2)
    print(endpoint.base_url, flush=True)
    time.sleep(120)
"""


def test_the_server_dies_with_a_killed_parent_even_mid_generation(smollm2):
    "A server busy generating when its parent dies must not wait for the orphaned request (uvicorn's SIGTERM would)"
    child = subprocess.Popen([sys.executable, '-c', BUSY_CHILD], stdout=subprocess.PIPE, text=True, preexec_fn=default_signals)
    base_url = child.stdout.readline().strip()
    assert base_url.startswith('http://127.0.0.1:')
    child.send_signal(signal.SIGKILL); child.wait(30)
    deadline = time.time() + 15
    while serving(base_url) and time.time() < deadline: time.sleep(0.2)
    assert not serving(base_url)


def test_a_prompt_too_long_for_the_context_is_failed_before_it_is_sent(smollm2, tmp_path, capsys):
    "The 100 KB prompt of issue 9: counted by the server's own tokenizer, named in one line, never sent"
    from hivemind.endpoints import count_tokens
    from hivemind.runs import ResponseStore
    from hivemind.sampling import Request, ask_requests
    texts = {'short': 'Say hi.', 'huge': 'word ' * 20_000}
    requests = [Request(f'smollm2/top_p/{name}/{i}', 'smollm2', [{'role': 'user', 'content': text}],
                        {'max_tokens': 4, 'seed': i}, {'prompt_id': name})
                for name, text in texts.items() for i in range(2)]
    with open_endpoints([smollm2]) as endpoints:
        assert count_tokens(endpoints['smollm2'], 'Hello there') == 2
        summary = ask_requests(requests, ResponseStore(tmp_path/'responses.jsonl'), endpoints, progress=False)
    assert (summary['ok'], summary['failed'], summary['errors']) == (2, 2, {'PromptTooLong': 2})
    records = ResponseStore(tmp_path/'responses.jsonl').frame(status='failed')
    assert set(records.prompt_id) == {'huge'} and (records.attempts == 0).all()
    assert records.error.str.contains(f'> n_ctx {smollm2.n_ctx}; not sent', regex=False).all()
    assert len([line for line in capsys.readouterr().out.splitlines() if 'prompt huge does not fit' in line]) == 1
