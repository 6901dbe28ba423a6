"""A small OpenAI-compatible chat server (127.0.0.1 only) for tests that injects faults: 429s, 500s, timeouts,
garbage bodies, and `401-echo`: a 401 whose body echoes the Authorization header received (as careless servers do)."""
import json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ('429', '500', 'timeout', 'garbage', 'no-choices')


def completion(texts, prompt_tokens=7):
    "A chat.completion body with one choice per text"
    choices = [{'index': i, 'message': {'role': 'assistant', 'content': t}, 'finish_reason': 'stop'} for i, t in enumerate(texts)]
    return {'id': 'chatcmpl-test', 'object': 'chat.completion', 'created': 0, 'model': 'fake', 'choices': choices,
            'usage': {'prompt_tokens': prompt_tokens, 'completion_tokens': 4 * len(texts), 'total_tokens': prompt_tokens + 4 * len(texts)}}


class FaultServer:
    """Answers POST /v1/chat/completions. Every `fault_every`-th request (1-based) gets the next fault of `faults`;
    `always_fail` makes every request fail with 500. Each request is logged as a dict (seed, n, outcome, authorization)."""

    def __init__(self, faults=FAULTS, fault_every=2, delay=0.0, honour_n=False, timeout_sleep=1.5, always_fail=False):
        self.faults, self.fault_every, self.delay, self.honour_n = faults, fault_every, delay, honour_n
        self.timeout_sleep, self.always_fail, self.log, self.lock = timeout_sleep, always_fail, [], threading.Lock()
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), self._handler())
        self.server.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}/v1'

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start(); return self

    def __exit__(self, *exc): self.server.shutdown(); self.server.server_close()

    def next_outcome(self):
        "The outcome of the next request"
        with self.lock:
            count = len(self.log) + 1
            if self.always_fail: return count, '500'
            if self.faults and count % self.fault_every == 0: return count, self.faults[(count // self.fault_every - 1) % len(self.faults)]
            return count, 'ok'

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args): pass

            def send(self, status, body, content_type='application/json'):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status); self.send_header('content-type', content_type)
                self.send_header('content-length', str(len(data))); self.end_headers(); self.wfile.write(data)

            def do_GET(self):
                self.send(200, {'object': 'list', 'data': [{'id': 'fake', 'object': 'model'}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers['content-length'])))
                count, outcome = owner.next_outcome()
                with owner.lock:
                    owner.log.append(dict(seed=body.get('seed'), n=body.get('n', 1), outcome=outcome,
                                          authorization=self.headers.get('authorization'), body=body))
                if owner.delay: time.sleep(owner.delay)
                if outcome == '429': return self.send(429, {'error': {'message': 'rate limited'}})
                if outcome == '500': return self.send(500, {'error': {'message': 'boom'}})
                if outcome == '401-echo':
                    said = (self.headers.get('authorization') or '')[:200]
                    return self.send(401, {'error': {'message': f'invalid credentials: {said}'}})
                if outcome == 'timeout': time.sleep(owner.timeout_sleep); return self.send(200, completion(['late']))
                if outcome == 'garbage': return self.send(200, b'{"choices": [{"mess', 'application/json')
                if outcome == 'no-choices': return self.send(200, {'id': 'x', 'object': 'chat.completion', 'created': 0, 'model': 'fake', 'choices': []})
                n = body.get('n', 1) if owner.honour_n else 1
                prompt = body['messages'][-1]['content']
                self.send(200, completion([f"answer to {prompt!r} with seed {body.get('seed')} choice {i}" for i in range(n)]))
        return Handler
