"A killed and resumed run stores the texts of an uninterrupted run: a llama.cpp answer depends on its request only."
import signal, subprocess, sys, textwrap, time
from pathlib import Path
from conftest import write_profile
from hivemind.runs import ResponseStore, open_run
from hivemind.sampling import sample_run

ROOT = Path(__file__).resolve().parents[1]
SAMPLER = """
import sys
from hivemind.runs import open_run
from hivemind.sampling import sample_run
sample_run(open_run('resume', sys.argv[1], settings_path=sys.argv[2]), progress=False)
"""


def write_settings(folder):
    "A profile `resume`: SmolLM2, min-p (temperature 2: small differences in the logits show), 2 prompts, 3 samples"
    smollm2 = dict(engine='llama-cpp', gguf='package:smollm2', concurrency=1)
    decodings = dict(min_p=dict(temperature=2.0, top_p=1.0, min_p=0.1))
    return write_profile(folder, 'resume', dict(smollm2=smollm2), None, decodings, prompt_limit=2, samples=3,
                         max_tokens=16, seed=1234)


def texts(store): return {i: r['text'] for i, r in store.latest().items() if r['status'] == 'ok'}


def test_a_killed_and_resumed_run_stores_the_texts_of_an_uninterrupted_run(tmp_path):
    settings = write_settings(tmp_path)
    uninterrupted = open_run('resume', tmp_path/'uninterrupted', settings_path=settings)
    assert sample_run(uninterrupted, progress=False)['ok'] == 6
    (tmp_path/'sampler.py').write_text(SAMPLER)
    command = [sys.executable, str(tmp_path/'sampler.py'), str(tmp_path/'resumed'), str(settings)]
    store = ResponseStore(tmp_path/'resumed'/'responses.jsonl')
    process = subprocess.Popen(command, cwd=ROOT)
    deadline = time.time() + 300
    while time.time() < deadline and len(store.done_ids()) < 2 and process.poll() is None: time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 2 <= len(store.done_ids()) < 6, 'the kill must land mid-run'
    subprocess.run(command, cwd=ROOT, check=True, timeout=300)
    assert texts(store) == texts(uninterrupted.store)
