"""The sampler at scale (issue 12, item 4), as mechanisms: a bounded number of tasks however many requests, one HTTP
client per `POOL_WORKERS` workers, every record written through the writer thread in few writes, and `until_done`
cancelling its worker thread's coroutine before a Ctrl-C goes on. The speeds themselves are measured by
`benchmarks/sampling_benchmark.py`, not here."""
import asyncio, math, signal, threading, time
import httpx, openai, pytest
from fault_server import FaultServer, completion
from hivemind.config import Model
from hivemind.endpoints import Endpoint
from hivemind.runs import ResponseStore
from hivemind.sampling import POOL_WORKERS, Request, Requester, ask_requests, until_done


def requests(count:int, model:str='fake') -> list[Request]:
    return [Request(f'{model}/top_p/p{i}/0', model, [{'role': 'user', 'content': f'Say {i}.'}],
                    {'max_tokens': 4, 'seed': i}, {'prompt_id': f'p{i}'}) for i in range(count)]


def endpoints(url:str='http://fake/v1', concurrency:int=4) -> dict:
    model = Model('fake', concurrency=concurrency, supports_n='false', max_retries=2)
    return {'fake': Endpoint(model, url, 'fake')}


def fake_client(handler):
    transport = httpx.MockTransport(handler)
    return openai.AsyncOpenAI(base_url='http://fake/v1', api_key='x', max_retries=0,
                              http_client=httpx.AsyncClient(transport=transport))


def test_the_tasks_stay_bounded_however_many_requests(tmp_path):
    tasks = []
    async def answer(request):
        tasks.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0.002)
        return httpx.Response(200, json=completion(['ok']))
    store = ResponseStore(tmp_path/'responses.jsonl')
    summary = ask_requests(requests(1000), store, endpoints(concurrency=4), progress=False,
                           clients={'fake': fake_client(answer)})
    assert (summary['ok'], summary['failed']) == (1000, 0)
    assert max(tasks) <= 2 * 4 + 2   # the workers, the gather's caller and the main task; not one task per request


def test_each_pool_of_workers_has_its_own_client(tmp_path):
    with FaultServer(faults=(), delay=0.05) as server:
        requester = Requester(endpoints(server.url, concurrency=40), ResponseStore(tmp_path/'responses.jsonl'),
                               progress=False)
        assert until_done(requester.ask_all(requests(300))) == 300
    clients = requester.pools['fake']
    assert len(clients) == math.ceil(2 * 40 / POOL_WORKERS)
    assert {c._client._transport._pool._max_keepalive_connections for c in clients.values()} == {POOL_WORKERS}
    assert server.max_in_flight <= 40


def test_records_are_written_in_few_writes_and_none_is_lost(tmp_path, monkeypatch):
    writes, add = [], ResponseStore.add
    def slow_add(self, records):
        writes.append(len(records))
        time.sleep(0.02)   # a slow disk: the sampler must not wait for it
        add(self, records)
    monkeypatch.setattr(ResponseStore, 'add', slow_add)
    store = ResponseStore(tmp_path/'responses.jsonl')
    summary = ask_requests(requests(400), store, endpoints(concurrency=50), progress=False,
                           clients={'fake': fake_client(lambda request: httpx.Response(200, json=completion(['ok'])))})
    assert (summary['ok'], sum(writes)) == (400, 400)
    assert len(writes) < 200 and max(writes) > 1
    assert len(store.done_ids()) == 400


def test_until_done_cancels_its_threads_coroutine_before_an_interrupt_goes_on():
    "In a notebook (a running loop) until_done runs on a worker thread; Ctrl-C must stop it before the servers stop"
    state = {}
    async def forever():
        try: await asyncio.sleep(60)
        except asyncio.CancelledError:
            state['cancelled'] = True
            raise
    async def cell():
        threading.Timer(0.3, signal.pthread_kill, [threading.main_thread().ident, signal.SIGINT]).start()
        until_done(forever())
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)   # whatever the test run inherited
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(KeyboardInterrupt): loop.run_until_complete(cell())
    finally:
        signal.signal(signal.SIGINT, previous)
        loop.close()
    assert state == {'cancelled': True}
