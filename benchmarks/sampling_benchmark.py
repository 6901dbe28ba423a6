"""The sampler at the paper's scale: requests per second, client CPU per request, memory as the store grows, reload.

It runs the real sampler (`hivemind.sampling.ask_requests`: the `Requester` that the pipeline uses, with the real
`ResponseStore`) against a loopback OpenAI-compatible server in another process (a bare asyncio HTTP/1.1 server that
answers every chat completion after `--latency` seconds, and with a 500 at `--fault-rate`; its own CPU time is
measured and printed apart, so that the server is seen not to be the bottleneck). The model section has
`concurrency = --concurrency` and `supports_n = false` (one request per response, the heaviest case). It prints
requests per second, client CPU milliseconds per request, the client's resident memory as the store grows, the store's
size, and, in a fresh process, the time and peak memory to reload a store of `--reload-records` records and compute
the pending set (`still_to_ask`) of as many requests. Targets (issue 12): >= 150 requests/s at 1 s latency and
concurrency 256, <= 3 ms client CPU per request, memory flat as the store grows (<= 300 MB at 250,000 records),
reload <= 3 s.

    nice .venv/bin/python benchmarks/sampling_benchmark.py                    # 50,000 requests, reload 250,000
    .venv/bin/python benchmarks/sampling_benchmark.py --requests 5000 --reload-records 50000   # a quick look
"""
from __future__ import annotations
import argparse, asyncio, json, os, random, subprocess, sys, tempfile, threading, time
from pathlib import Path

TARGETS = dict(requests_per_second=150, cpu_ms_per_request=3.0, reload_seconds=3.0, reload_mb=300)


def answer_text(chars:int) -> str:
    "An answer of about `chars` characters of ordinary prose"
    sentence = 'Time is a river that carries every moment forward and never lets us step into the same water twice. '
    return (sentence * (chars // len(sentence) + 1))[:chars]


def chat_body(text:str) -> bytes:
    "A chat.completion body with one choice"
    return json.dumps({'id': 'chatcmpl-bench', 'object': 'chat.completion', 'created': 0, 'model': 'bench',
                       'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': text},
                                    'finish_reason': 'stop'}],
                       'usage': {'prompt_tokens': 20, 'completion_tokens': 200, 'total_tokens': 220}}).encode()


def http_response(status:int, body:bytes) -> bytes:
    "A keep-alive HTTP/1.1 response"
    reason = {200: 'OK', 500: 'Internal Server Error'}[status]
    head = f'HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n'
    return head.encode() + body


class Serving(asyncio.Protocol):
    "One connection of the loopback server: each request answered after the latency, a 500 at the fault rate"
    def __init__(self, options, answers):
        self.options, self.answers, self.buffer = options, answers, b''

    def connection_made(self, transport): self.transport = transport

    def data_received(self, data:bytes):
        self.buffer += data
        while (end := self.buffer.find(b'\r\n\r\n')) >= 0:
            head = self.buffer[:end].decode('latin-1').lower()
            lengths = [int(line.split(':')[1]) for line in head.split('\r\n') if line.startswith('content-length:')]
            length = lengths[0] if lengths else 0
            if len(self.buffer) < end + 4 + length: return
            self.buffer = self.buffer[end + 4 + length:]
            self.reply(head.split(' ')[1])

    def reply(self, path:str):
        "Answer `path`: the models list and the server's CPU seconds at once, a chat completion after the latency"
        if path.endswith('/models'): return self.transport.write(http_response(200, b'{"object": "list", "data": []}'))
        if path.endswith('/stats'):
            return self.transport.write(http_response(200, json.dumps({'cpu': time.process_time()}).encode()))
        failed = random.random() < self.options.fault_rate
        answer = http_response(500, b'{"error": {"message": "boom"}}') if failed else self.answers
        asyncio.get_running_loop().call_later(self.options.latency, self.send, answer)

    def send(self, answer:bytes):
        if not self.transport.is_closing(): self.transport.write(answer)


def serve(options):
    "Run the loopback server until killed; print its port first"
    async def main():
        answers = http_response(200, chat_body(answer_text(options.answer_chars)))
        server = await asyncio.get_running_loop().create_server(lambda: Serving(options, answers), '127.0.0.1', 0,
                                                                 backlog=4096)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()
    asyncio.run(main())


def resident_mb() -> float:
    "This process's resident memory now, in MB"
    with open('/proc/self/statm') as file: return int(file.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_mb() -> float:
    """This process's peak resident memory, in MB: VmHWM, which starts afresh with each program (`ru_maxrss` would carry
    the peak of the parent that started it across fork and exec)"""
    with open('/proc/self/status') as file:
        return next(int(line.split()[1]) for line in file if line.startswith('VmHWM:')) / 1024


def bench_requests(count:int, prompt_chars:int=200) -> list:
    "`count` requests made by the sampler's own `sampling_requests`: 50 samples per prompt, distinct seeds"
    import pandas as pd
    from hivemind.config import Decoding, Profile
    from hivemind.sampling import sampling_requests
    prompt_count = -(-count // 50)
    texts = [(f'Write a metaphor about thing {i}. ' * 40)[:prompt_chars] for i in range(prompt_count)]
    prompts = pd.DataFrame(dict(prompt_id=[f'p{i:05d}' for i in range(prompt_count)], prompt=texts))
    profile = Profile('bench', models=['bench'], decodings=['top_p'], samples=50, max_tokens=2048)
    decodings = dict(top_p=Decoding('top_p', temperature=1.0, top_p=0.9))
    return sampling_requests(prompts, profile, decodings)[:count]


def server_cpu(base_url:str) -> float:
    import httpx
    return httpx.get(f'{base_url}/stats', timeout=10).json()['cpu']


def watch_memory(store_path:Path, samples:list, stop:threading.Event):
    "Every half second: (records stored, resident MB) of this process"
    while not stop.wait(0.5):
        stored = store_path.stat().st_size if store_path.exists() else 0
        samples.append((stored, resident_mb()))


def sample(options, base_url:str, store_path:Path) -> dict:
    "Run the requests through the real sampler; the figures of that run"
    from hivemind.config import Model
    from hivemind.endpoints import Endpoint
    from hivemind.runs import ResponseStore
    from hivemind.sampling import ask_requests
    model = Model('bench', base_url=base_url, concurrency=options.concurrency, supports_n='false',
                  timeout=options.latency + 60, max_retries=20)
    requests = bench_requests(options.requests)
    endpoints = {'bench': Endpoint(model, base_url, 'bench')}
    before_mb, memory, stop = resident_mb(), [], threading.Event()
    watcher = threading.Thread(target=watch_memory, args=(store_path, memory, stop), daemon=True)
    server_before, cpu_before, started = server_cpu(base_url), time.process_time(), time.monotonic()
    watcher.start()
    summary = ask_requests(requests, ResponseStore(store_path), endpoints, progress=False, backoff_base=0.05)
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_before
    stop.set()
    server = server_cpu(base_url) - server_before
    return dict(summary=summary, seconds=seconds, cpu=cpu, server_cpu=server, before_mb=before_mb, memory=memory,
                peak_mb=peak_mb())


def grow_store(store_path:Path, records:int) -> Path:
    "A copy of the sampled store grown to `records` records (new ids, the same shape), for the reload"
    lines = [json.loads(line) for line in store_path.read_text().splitlines() if line.strip()]
    grown = store_path.with_name('grown.jsonl')
    with open(grown, 'w') as out:
        for index in range(records):
            record = dict(lines[index % len(lines)])
            record['id'] = f"bench/top_p/p{index // 50:05d}/{index % 50}"
            out.write(json.dumps(record, ensure_ascii=False) + '\n')
    return grown


def reload(path:str, records:int):
    "In a fresh process: the seconds and peak memory to reload a store and compute the pending set of its requests"
    from hivemind.runs import ResponseStore
    from hivemind.sampling import still_to_ask
    bench_requests(1)  # every module the requests need, imported
    imports_mb = peak_mb()
    requests = bench_requests(records)
    requests_mb, started, cpu = peak_mb() - imports_mb, time.monotonic(), time.process_time()
    pending = still_to_ask(requests, ResponseStore(path))
    print(json.dumps(dict(seconds=time.monotonic() - started, cpu=time.process_time() - cpu, pending=len(pending),
                          peak_mb=peak_mb(), requests_mb=requests_mb, imports_mb=imports_mb)))


def report(run:dict, options, reload_figures:dict, store_path:Path, grown:Path):
    "Print the figures and their ratios to the targets"
    summary, requests = run['summary'], options.requests
    rate, cpu_ms = requests / run['seconds'], 1000 * run['cpu'] / requests
    print(f"sampled {requests:,} requests at {options.latency:g} s latency, concurrency {options.concurrency}, "
          f"fault rate {options.fault_rate:g}: ok {summary['ok']:,}, failed {summary['failed']:,}, "
          f"missing {summary['missing']:,} in {run['seconds']:.1f} s")
    ceiling = options.concurrency / options.latency
    print(f"  requests/s          {rate:8.1f}   target >= {TARGETS['requests_per_second']}: "
          f"{rate / TARGETS['requests_per_second']:.2f}x   (the ceiling concurrency/latency is {ceiling:.0f}/s)")
    print(f"  client CPU ms/req   {cpu_ms:8.2f}   target <= {TARGETS['cpu_ms_per_request']}: "
          f"{TARGETS['cpu_ms_per_request'] / cpu_ms:.2f}x headroom (the client used {run['cpu'] / run['seconds']:.0%} "
          f"of a core)")
    print(f"  server CPU ms/req   {1000 * run['server_cpu'] / requests:8.2f}   (another process: not the client's)")
    memory = run['memory'] or [(0, resident_mb())]
    quarters = [memory[min(len(memory) - 1, int(q * (len(memory) - 1)))] for q in (0.25, 0.5, 0.75, 1.0)]
    print(f"  client memory MB    before {run['before_mb']:.0f}; as the store grew: "
          + ', '.join(f"{mb:.0f} at {size / 2**20:.0f} MB" for size, mb in quarters) + f"; peak {run['peak_mb']:.0f}")
    print(f"  store size          {store_path.stat().st_size / 2**20:8.1f} MB "
          f"({store_path.stat().st_size / max(1, summary['ok'] + summary['failed']):.0f} bytes a record)")
    seconds, mb = reload_figures['seconds'], reload_figures['peak_mb']
    print(f"reloaded a store of {options.reload_records:,} records ({grown.stat().st_size / 2**20:.0f} MB) and found "
          f"{reload_figures['pending']:,} pending:")
    print(f"  seconds             {seconds:8.2f}   target <= {TARGETS['reload_seconds']}: "
          f"{TARGETS['reload_seconds'] / seconds:.2f}x headroom (CPU seconds {reload_figures['cpu']:.2f}: "
          f"on a shared machine, the wall time a quiet one would take)")
    print(f"  peak memory MB      {mb:8.0f}   target <= {TARGETS['reload_mb']}: "
          f"{TARGETS['reload_mb'] / mb:.2f}x headroom "
          f"(the interpreter and its imports {reload_figures['imports_mb']:.0f}, the {options.reload_records:,} "
          f"requests {reload_figures['requests_mb']:.0f}, the pending set the rest)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--requests', type=int, default=50_000, help='requests to sample')
    parser.add_argument('--latency', type=float, default=1.0, help="the server's seconds per answer")
    parser.add_argument('--concurrency', type=int, default=256, help="the model section's concurrency")
    parser.add_argument('--fault-rate', type=float, default=0.02, help='share of requests answered with a 500')
    parser.add_argument('--answer-chars', type=int, default=1000, help='characters of each answer')
    parser.add_argument('--reload-records', type=int, default=250_000, help='records of the store to reload')
    parser.add_argument('--serve', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--reload', help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve: return serve(options)
    if options.reload: return reload(options.reload, options.reload_records)
    here = Path(__file__).resolve()
    server = subprocess.Popen([sys.executable, str(here), '--serve', '--latency', str(options.latency), '--fault-rate',
                               str(options.fault_rate), '--answer-chars', str(options.answer_chars)],
                              stdout=subprocess.PIPE, text=True)
    try:
        base_url = f'http://127.0.0.1:{server.stdout.readline().strip()}/v1'
        with tempfile.TemporaryDirectory(prefix='hivemind-sampling-bench-') as folder:
            store_path = Path(folder)/'responses.jsonl'
            run = sample(options, base_url, store_path)
            grown = grow_store(store_path, options.reload_records)
            child = subprocess.run([sys.executable, str(here), '--reload', str(grown), '--reload-records',
                                    str(options.reload_records)], capture_output=True, text=True, check=True)
            report(run, options, json.loads(child.stdout.splitlines()[-1]), store_path, grown)
    finally:
        server.kill()
        server.wait()


if __name__ == '__main__': main()
