"""A small OpenAI-compatible chat server (127.0.0.1 only) for tests that injects faults: 429s (with or without
Retry-After), 500s, timeouts, garbage bodies, `401-echo` (a 401 whose body echoes the Authorization header received,
as careless servers do), `hang` (accepts and never answers, until the server stops), and a 400 "context exceeded"
for prompts longer than `context_chars`. It also answers llama-cpp-python's `/extras/tokenize/count` (4 characters a
token), and `/v1/completions` (text completions, as a base model is asked) with the same faults. `refusing_url`
gives a loopback URL where nothing listens (connections are refused)."""
import contextlib, json, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ('429', '500', 'timeout', 'garbage', 'no-choices')
CONTEXT_MESSAGE = ("This model's maximum context length is 2048 tokens. However, you requested 30000 tokens "
                   "(29992 in the messages, 8 in the completion). Please reduce the length of the messages or "
                   "completion.")


def completion(texts, prompt_tokens=7):
    "A chat.completion body with one choice per text"
    choices = [{'index': i, 'message': {'role': 'assistant', 'content': t}, 'finish_reason': 'stop'} for i, t in enumerate(texts)]
    return {'id': 'chatcmpl-test', 'object': 'chat.completion', 'created': 0, 'model': 'fake', 'choices': choices,
            'usage': {'prompt_tokens': prompt_tokens, 'completion_tokens': 4 * len(texts), 'total_tokens': prompt_tokens + 4 * len(texts)}}


def text_completion(texts, prompt_tokens=7):
    "A text_completion body (`/v1/completions`) with one choice per text, each after a space as a base model writes it"
    choices = [{'index': i, 'text': f' {t}\n', 'finish_reason': 'stop', 'logprobs': None} for i, t in enumerate(texts)]
    written = 4 * len(texts)
    usage = {'prompt_tokens': prompt_tokens, 'completion_tokens': written, 'total_tokens': prompt_tokens + written}
    return {'id': 'cmpl-test', 'object': 'text_completion', 'created': 0, 'model': 'fake', 'choices': choices,
            'usage': usage}


@contextlib.contextmanager
def refusing_url():
    "A base URL on 127.0.0.1 whose port is bound but not listening, so that every connection is refused"
    with socket.socket() as bound:
        bound.bind(('127.0.0.1', 0))
        yield f'http://127.0.0.1:{bound.getsockname()[1]}/v1'


class FaultServer:
    """Answers POST /v1/chat/completions and /v1/completions. Every `fault_every`-th request (1-based) gets the next
    fault of `faults`; `always` gives every request that outcome (`always_fail`: '500'). Each request is logged as a
    dict (seed, n, outcome, authorization, body, time received, path); `max_in_flight` is the most requests handled
    at once."""

    def __init__(self, faults=FAULTS, fault_every=2, delay=0.0, honour_n=False, timeout_sleep=1.5, always_fail=False,
                 always=None, retry_after='1', context_chars=None, hang_limit=30.0):
        self.faults, self.fault_every, self.delay, self.honour_n = faults, fault_every, delay, honour_n
        self.timeout_sleep, self.always = timeout_sleep, always or ('500' if always_fail else None)
        self.retry_after, self.context_chars, self.hang_limit = retry_after, context_chars, hang_limit
        self.log, self.tokenized, self.lock, self.stopping = [], [], threading.Lock(), threading.Event()
        self.in_flight, self.max_in_flight = 0, 0
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), self._handler())
        self.server.daemon_threads = True
        self.server.handle_error = self.handle_error
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}/v1'

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start(); return self

    def __exit__(self, *exc):
        self.stopping.set(); self.server.shutdown(); self.server.server_close()

    def handle_error(self, request, address):
        "Stay quiet about clients that gave up on an answer (timeouts); report anything else"
        if not issubclass(sys.exc_info()[0], (BrokenPipeError, ConnectionResetError)):
            ThreadingHTTPServer.handle_error(self.server, request, address)

    def next_outcome(self, prompt):
        "The outcome of the next request"
        with self.lock:
            count = len(self.log) + 1
            if self.context_chars is not None and len(prompt) > self.context_chars: return count, '400-context'
            if self.always: return count, self.always
            if self.faults and count % self.fault_every == 0: return count, self.faults[(count // self.fault_every - 1) % len(self.faults)]
            return count, 'ok'

    def counting(self, change):
        with self.lock:
            self.in_flight += change; self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args): pass

            def send(self, status, body, content_type='application/json', headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status); self.send_header('content-type', content_type)
                for name, value in headers: self.send_header(name, value)
                self.send_header('content-length', str(len(data))); self.end_headers(); self.wfile.write(data)

            def do_GET(self):
                self.send(200, {'object': 'list', 'data': [{'id': 'fake', 'object': 'model'}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers['content-length'])))
                if self.path.endswith('/extras/tokenize/count'):
                    with owner.lock: owner.tokenized.append(body['input'])
                    return self.send(200, {'count': len(body['input']) // 4})
                owner.counting(+1)
                try: self.answer(body)
                finally: owner.counting(-1)

            def answer(self, body):
                text_only = self.path.endswith('/v1/completions')  # not /v1/chat/completions
                prompt = body['prompt'] if text_only else body['messages'][-1]['content']
                reply = text_completion if text_only else completion
                count, outcome = owner.next_outcome(prompt)
                received = time.monotonic()
                with owner.lock:
                    owner.log.append(dict(seed=body.get('seed'), n=body.get('n', 1), outcome=outcome, time=received,
                                          authorization=self.headers.get('authorization'), body=body, path=self.path))
                if owner.delay: time.sleep(owner.delay)
                if outcome == 'hang': owner.stopping.wait(owner.hang_limit); return
                if outcome == '400-context':
                    said = {'object': 'error', 'message': CONTEXT_MESSAGE, 'type': 'BadRequestError', 'code': 400}
                    return self.send(400, said)
                if outcome == '429': return self.send(429, {'error': {'message': 'rate limited'}})
                if outcome == '429-retry-after':
                    wait = [('retry-after', owner.retry_after)]
                    return self.send(429, {'error': {'message': 'rate limited'}}, headers=wait)
                if outcome == '500': return self.send(500, {'error': {'message': 'boom'}})
                if outcome == '401-echo':
                    said = (self.headers.get('authorization') or '')[:200]
                    return self.send(401, {'error': {'message': f'invalid credentials: {said}'}})
                if outcome == 'timeout': time.sleep(owner.timeout_sleep); return self.send(200, reply(['late']))
                if outcome == 'garbage': return self.send(200, b'{"choices": [{"mess', 'application/json')
                if outcome == 'no-choices': return self.send(200, {'id': 'x', 'object': 'chat.completion', 'created': 0, 'model': 'fake', 'choices': []})
                n = body.get('n', 1) if owner.honour_n else 1
                texts = [f"answer to {prompt!r} with seed {body.get('seed')} choice {i}" for i in range(n)]
                self.send(200, reply(texts))
        return Handler
