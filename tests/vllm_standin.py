"""A stand-in for the `vllm` executable, for tests without a GPU (they put a launcher named `vllm` that runs this file
first on PATH). `vllm serve MODEL --host 127.0.0.1 --port P ...` serves an OpenAI-compatible endpoint on that
loopback port, as vLLM does: `GET /v1/models`, `POST /v1/chat/completions` and `/v1/completions`, honouring `n` and
`seed`, answering to `--served-model-name`. It appends one JSON line to $VLLM_STANDIN_LOG for its start (its command
line and pid) and one per request received; waits $VLLM_STANDIN_DELAY seconds before each answer; exits at once with
status 3 and a CUDA-like message when $VLLM_STANDIN_FAIL is set (a server that cannot start); refuses any host but
127.0.0.1; and exits by itself after $VLLM_STANDIN_LIFETIME seconds (default 300), so that nothing outlives a broken
test."""
import argparse, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def parse(argv:list) -> tuple:
    "The `serve` arguments vLLM's own parser would read, and the rest"
    parser = argparse.ArgumentParser(prog='vllm')
    commands = parser.add_subparsers(dest='command', required=True)
    serve = commands.add_parser('serve')
    serve.add_argument('model')
    serve.add_argument('--host', default='0.0.0.0')
    serve.add_argument('--port', type=int, default=8000)
    serve.add_argument('--served-model-name', nargs='+')
    serve.add_argument('--tensor-parallel-size', type=int, default=1)
    serve.add_argument('--pipeline-parallel-size', type=int, default=1)
    return parser.parse_known_args(argv)


def note(entry:dict):
    "Append one line to the log the test reads"
    if path := os.environ.get('VLLM_STANDIN_LOG'):
        with LOCK, open(path, 'a') as log: log.write(json.dumps(entry) + '\n')


def answers(body:dict, chat:bool) -> dict:
    "A chat or text completion with `n` choices, each naming the prompt and seed"
    prompt = body['messages'][-1]['content'] if chat else body['prompt']
    texts = [f"vllm answer to {prompt!r} with seed {body.get('seed')} choice {i}" for i in range(body.get('n') or 1)]
    if chat: choices = [{'index': i, 'message': {'role': 'assistant', 'content': t}, 'finish_reason': 'stop'}
                        for i, t in enumerate(texts)]
    else: choices = [{'index': i, 'text': t, 'finish_reason': 'stop'} for i, t in enumerate(texts)]
    usage = {'prompt_tokens': 9, 'completion_tokens': 5 * len(texts), 'total_tokens': 9 + 5 * len(texts)}
    return {'id': 'cmpl-standin', 'object': 'chat.completion' if chat else 'text_completion', 'created': 0,
            'model': body.get('model'), 'choices': choices, 'usage': usage}


def handler(names:list, delay:float):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args): pass

        def send(self, status:int, body:dict):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header('content-type', 'application/json')
            self.send_header('content-length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != '/v1/models': return self.send(404, {'error': {'message': 'not found'}})
            self.send(200, {'object': 'list', 'data': [{'id': name, 'object': 'model'} for name in names]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers['content-length'])))
            note({'request': {'path': self.path, 'model': body.get('model'), 'n': body.get('n'),
                              'seed': body.get('seed'), 'min_p': body.get('min_p')}})
            if body.get('model') not in names:
                return self.send(404, {'error': {'message': f"The model `{body.get('model')}` does not exist."}})
            time.sleep(delay)
            self.send(200, answers(body, chat=self.path.endswith('/chat/completions')))
    return Handler


def main(argv:list):
    options, rest = parse(argv)
    note({'argv': argv, 'pid': os.getpid()})
    if os.environ.get('VLLM_STANDIN_FAIL'):
        print('torch.OutOfMemoryError: CUDA out of memory (the stand-in was asked to fail)', flush=True)
        sys.exit(3)
    if options.host != '127.0.0.1': sys.exit(f'the stand-in serves on 127.0.0.1 only, not {options.host}')
    lifetime = threading.Timer(float(os.environ.get('VLLM_STANDIN_LIFETIME', 300)), os._exit, [0])
    lifetime.daemon = True
    lifetime.start()
    names = options.served_model_name or [options.model]
    delay = float(os.environ.get('VLLM_STANDIN_DELAY', 0))
    server = ThreadingHTTPServer(('127.0.0.1', options.port), handler(names, delay))
    server.daemon_threads = True
    print(f'INFO: the stand-in serves {names} on http://127.0.0.1:{options.port}', flush=True)
    server.serve_forever()


if __name__ == '__main__': main(sys.argv[1:])
