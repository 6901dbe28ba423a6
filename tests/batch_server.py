"""A loopback fake of the OpenAI batch API (127.0.0.1 only) for tests: `/v1/files` (upload, content) and
`/v1/batches` (create, retrieve, list, cancel). A batch moves one state further at each retrieve (validating,
in_progress, then its outcome); its outcome comes from `outcomes` in the order batches are created (then
`completed`): `completed` answers every line, `expired` answers the first `answer_limit` lines and gives the
others a `batch_expired` error line (or no line, with `expired_lines='absent'`), `failed` answers nothing (batch
errors). `fail` maps a custom_id to the HTTP statuses of its next tries (an error line each), e.g. {'a': [500]}:
its first try fails, its next succeeds. `lose_create_replies` creates a batch but answers 500, that many times;
`refuse_creates` answers every create with a 400. `dialect='together'` speaks Together's variant (as its API
reference documents it): uploads with purpose `batch-api` (`batch` for OpenAI; any other purpose is refused), a
created batch wrapped in `job`, states in capitals, a failure's reason in an `error` string, and a list as a bare
JSON array.
Answers are chat (or text) completions naming the prompt and seed, so a test can tell which request they answer."""
import contextlib, itertools, json, re, sys, threading
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from fault_server import completion, text_completion

CLOSED = ('completed', 'failed', 'expired', 'cancelled')
PURPOSES = dict(openai='batch', together='batch-api')


def answer(line):
    "The response body that answers one batch input line"
    body = line['body']
    if line['url'] == '/v1/completions': return text_completion([f"batch answer to {body['prompt'][-20:]!r}"])
    return completion([f"batch answer to {body['messages'][-1]['content']!r} seed {body.get('seed')}"])


class FakeBatchServer:
    def __init__(self, outcomes=(), answer_limit=1, expired_lines='error', fail=None, polls_to_close=2,
                 lose_create_replies=0, refuse_creates=False, dialect='openai'):
        self.dialect = dialect
        self.outcomes, self.answer_limit, self.expired_lines = list(outcomes), answer_limit, expired_lines
        self.fail = {k: list(v) for k, v in (fail or {}).items()}
        self.polls_to_close, self.lose_create_replies = polls_to_close, lose_create_replies
        self.refuse_creates = refuse_creates
        self.files, self.batches, self.creates, self.retrieves, self.cancels = {}, {}, [], 0, []
        self.authorizations, self.lock, self.counter = set(), threading.Lock(), itertools.count(1)
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), self._handler())
        self.server.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}/v1'

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def new_id(self, prefix): return f'{prefix}-{next(self.counter)}'

    def add_file(self, content, purpose, name='out.jsonl'):
        file_id = self.new_id('file')
        self.files[file_id] = dict(content=content, purpose=purpose, filename=name)
        return dict(id=file_id, object='file', bytes=len(content), created_at=0, filename=name, purpose=purpose,
                    status='processed')

    def input_lines(self, batch):
        content = self.files[batch['input_file_id']]['content']
        return [json.loads(line) for line in content.splitlines() if line.strip()]

    def result_line(self, batch, line, expired):
        "(which file, the line) for one input line of a closing batch"
        custom_id = line['custom_id']
        if expired:
            if self.expired_lines == 'absent': return None, None
            code = 'batch_cancelled' if batch['status'] == 'cancelled' else 'batch_expired'
            error = dict(code=code, message=f'This request was not executed: {code}.')
            return 'error', dict(id=self.new_id('req'), custom_id=custom_id, response=None, error=error)
        if self.fail.get(custom_id):
            status = self.fail[custom_id].pop(0)
            said = dict(error=dict(message=f'fake error {status}', type='server_error', code=None))
            response = dict(status_code=status, body=said)
            return 'error', dict(id=self.new_id('req'), custom_id=custom_id, response=response, error=None)
        response = dict(status_code=200, body=answer(line))
        return 'output', dict(id=self.new_id('req'), custom_id=custom_id, response=response, error=None)

    def close(self, batch, outcome):
        "Finish a batch with `outcome`: write its output and error files"
        batch['status'] = outcome
        if outcome == 'failed':
            said = dict(code='token_limit_exceeded', message='Enqueued token limit reached.', line=None)
            batch['errors'] = dict(object='list', data=[said])
            return
        lines = self.input_lines(batch)
        limit = len(lines) if outcome == 'completed' else self.answer_limit
        files = dict(output=[], error=[])
        for index, line in enumerate(lines):
            kind, result = self.result_line(batch, line, outcome in ('expired', 'cancelled') and index >= limit)
            if kind: files[kind].append(json.dumps(result))
        for kind, found in files.items():
            content = ''.join(f + '\n' for f in found).encode()
            if found: batch[f'{kind}_file_id'] = self.add_file(content, 'batch_output')['id']
        batch['request_counts'] = dict(total=len(lines), completed=len(files['output']), failed=len(files['error']))

    def advance(self, batch):
        "One state further, as the batch is retrieved"
        if batch['status'] in CLOSED: return
        batch['polls'] += 1
        if batch['status'] == 'cancelling': return self.close(batch, 'cancelled')
        if batch['polls'] < self.polls_to_close: batch['status'] = 'in_progress'
        else: self.close(batch, batch['outcome'])

    def public(self, batch):
        "A batch as the API shows it"
        shown = {k: v for k, v in batch.items() if k not in ('polls', 'outcome')}
        if self.dialect == 'openai': return shown
        reasons = '; '.join(e['message'] for e in (batch['errors'] or {}).get('data', []))
        hidden = ('object', 'errors', 'metadata', 'completion_window')
        return {k: v for k, v in shown.items() if k not in hidden} | dict(status=batch['status'].upper(),
                                                                         error=reasons or None)

    def listing(self):
        "The newest 100 batches, as the API lists them"
        newest = [self.public(b) for b in reversed(self.batches.values())][:100]
        return newest if self.dialect == 'together' else dict(object='list', data=newest, has_more=False)

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args): pass

            def send(self, status, body, content_type='application/json'):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header('content-type', content_type)
                self.send_header('content-length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def body(self): return self.rfile.read(int(self.headers.get('content-length') or 0))

            def do_GET(self):
                with owner.lock: self.answer_get()

            def do_POST(self):
                data = self.body()
                with owner.lock:
                    owner.authorizations.add(self.headers.get('authorization'))
                    self.answer_post(data)

            def answer_get(self):
                if match := re.fullmatch(r'/v1/files/([\w-]+)/content', self.path):
                    if match.group(1) not in owner.files: return self.send(404, {'error': {'message': 'no such file'}})
                    return self.send(200, owner.files[match.group(1)]['content'], 'application/octet-stream')
                if match := re.fullmatch(r'/v1/batches/([\w-]+)', self.path):
                    if match.group(1) not in owner.batches:
                        return self.send(404, {'error': {'message': 'no such batch'}})
                    owner.retrieves += 1
                    owner.advance(owner.batches[match.group(1)])
                    return self.send(200, owner.public(owner.batches[match.group(1)]))
                if self.path.split('?')[0] == '/v1/batches': return self.send(200, owner.listing())
                self.send(404, {'error': {'message': f'no route {self.path}'}})

            def answer_post(self, data):
                if self.path == '/v1/files':
                    form = BytesParser(policy=default_policy).parsebytes(
                        f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode() + data)
                    parts = {p.get_param('name', header='content-disposition'): p for p in form.iter_parts()}
                    content = parts['file'].get_payload(decode=True)
                    purpose = parts['purpose'].get_payload(decode=True).decode()
                    if purpose != PURPOSES[owner.dialect]:
                        return self.send(400, {'error': {'message': f'invalid purpose {purpose!r}'}})
                    return self.send(200, owner.add_file(content, purpose, parts['file'].get_filename()))
                if self.path == '/v1/batches': return self.create(json.loads(data))
                if match := re.fullmatch(r'/v1/batches/([\w-]+)/cancel', self.path):
                    batch = owner.batches[match.group(1)]
                    owner.cancels.append(batch['id'])
                    if batch['status'] not in CLOSED: batch['status'] = 'cancelling'
                    return self.send(200, owner.public(batch))
                self.send(404, {'error': {'message': f'no route {self.path}'}})

            def create(self, request):
                if owner.refuse_creates or request.get('input_file_id') not in owner.files:
                    return self.send(400, {'error': {'message': 'this model has no batch API'}})
                batch_id = owner.new_id('batch')
                outcome = owner.outcomes.pop(0) if owner.outcomes else 'completed'
                owner.batches[batch_id] = dict(id=batch_id, object='batch', endpoint=request['endpoint'], errors=None,
                                               input_file_id=request['input_file_id'], status='validating',
                                               completion_window=request['completion_window'], created_at=0,
                                               metadata=request.get('metadata'), output_file_id=None,
                                               error_file_id=None, polls=0, outcome=outcome)
                owner.creates.append(request)
                if owner.lose_create_replies:
                    owner.lose_create_replies -= 1
                    return self.send(500, {'error': {'message': 'lost reply'}})
                shown = owner.public(owner.batches[batch_id])
                self.send(200, dict(job=shown, warning='') if owner.dialect == 'together' else shown)
        return Handler
