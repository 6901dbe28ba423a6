"Tests of the papermill runner and the `hivemind` command line on the tiny pipeline of tests/data/pipeline"
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
from child_signals import default_signals, ignored_sigint
import hivemind
from hivemind import pipeline as pipeline_module
from hivemind.cli import main
from hivemind.pipeline import StepFailed, discover_steps, find_step, open_pipeline, select_steps

DATA = Path(__file__).parent/'data'/'pipeline'
SETTINGS = """
[tiny]
description = a test profile
cell_timeout = 60

[other]
description = another test profile
cell_timeout = 60

[decoding:top_p]

[embedder:minilm]
"""


MODULES = sorted(pipeline_module.module_digests())  # the modules of the package (and its data), by dotted name


def fake_library(monkeypatch, **edited):
    "Module digests that do not change while the tests run, except the `edited` ones (`hivemind_pipeline='v2'`)"
    digests = dict.fromkeys(MODULES, 'v1') | {name.replace('_', '.'): value for name, value in edited.items()}
    monkeypatch.setattr(pipeline_module, 'module_digests', lambda package=None: digests)


@pytest.fixture(autouse=True)
def fixed_library(monkeypatch):
    "Fixed module digests: other edits of the package while the tests run must not make steps stale"
    fake_library(monkeypatch)


@pytest.fixture
def project(tmp_path):
    "A temporary pipeline folder (01_write, 02_combine), settings file, runs and figures roots"
    (tmp_path/'pipeline').mkdir()
    for name in ['01_write.ipynb', '02_combine.ipynb']: shutil.copy(DATA/name, tmp_path/'pipeline'/name)
    (tmp_path/'settings.ini').write_text(SETTINGS)
    return tmp_path


def pipeline_of(project, profile='tiny', **parameters):
    return open_pipeline(profile, project/'pipeline', project/'runs', project/'figures', project/'settings.ini', parameters)


def options(project, profile='tiny'):
    return ['--profile', profile, '--pipeline', str(project/'pipeline'), '--runs', str(project/'runs'),
            '--figures', str(project/'figures'), '--settings', str(project/'settings.ini')]


def actions(results): return [(r.step.stem, r.action) for r in results]


def add_step(project, source, target):
    "Copy a test notebook into the pipeline under a numbered name"
    shutil.copy(DATA/source, project/'pipeline'/target)


def edit_cell(path, old, new):
    "Replace `old` by `new` in the source of the cells of a notebook"
    notebook = json.loads(Path(path).read_text())
    for cell in notebook['cells']:
        source = ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']
        cell['source'] = source.replace(old, new)
    Path(path).write_text(json.dumps(notebook, indent=1))


# ---------------------------------------------------------------- discovery and selection

def test_steps_are_discovered_in_numeric_order(project):
    add_step(project, '02_combine.ipynb', '10_late.ipynb')
    add_step(project, 'fail.ipynb', 'fail.ipynb')  # not numbered: not a step
    steps = discover_steps(project/'pipeline')
    assert [s.stem for s in steps] == ['01_write', '02_combine', '10_late']
    assert [find_step(steps, t).stem for t in ['10', 'late', '10_late']] == ['10_late']*3
    assert [s.stem for s in select_steps(steps, start='02')] == ['02_combine', '10_late']
    assert [s.stem for s in select_steps(steps, only='combine')] == ['02_combine']
    with pytest.raises(ValueError, match="'99' is not a step; steps: 01_write, 02_combine, 10_late"): find_step(steps, '99')
    with pytest.raises(ValueError, match='not both'): select_steps(steps, only='01', start='02')


def test_unknown_profile_or_step_exit_2(project, capsys):
    assert main(['run', *options(project, 'nosuch')]) == 2
    assert 'no profile [nosuch]' in capsys.readouterr().err
    assert main(['run', *options(project), '--only', 'plot']) == 2
    assert "'plot' is not a step" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit: main(['run', *options(project), '--only', '01', '--from', '02'])
    assert exit.value.code == 2


# ---------------------------------------------------------------- running and skipping

def test_runs_in_order_then_skips_everything(project, capsys):
    assert main(['run', *options(project)]) == 0
    pipeline = pipeline_of(project)
    first, second = (pipeline.manifest(s) for s in pipeline.steps)
    assert first['status'] == second['status'] == 'ok' and first['finished'] <= second['started']
    assert (project/'runs'/'tiny'/'count.txt').read_text() == '1\n'
    assert sorted(first['outputs']) == ['figures/words.csv', 'run/words.txt'] and list(second['outputs']) == ['run/count.txt']
    executed = json.loads((project/'runs'/'tiny'/'notebooks'/'01_write.ipynb').read_text())
    injected = [c for c in executed['cells'] if 'injected-parameters' in c['metadata'].get('tags', [])]
    assert f'run_dir = "{project/"runs"/"tiny"}"' in ''.join(injected[0]['source'])
    output = capsys.readouterr().out
    assert '2 steps ran, 0 skipped' in output
    assert f"artifacts:          {project/'runs'/'tiny'} (2 files: 2 txt)" in output
    assert f"figures:            {project/'figures'/'tiny'} (1 file: 1 csv)" in output
    assert actions(pipeline.run()) == [('01_write', 'skipped'), ('02_combine', 'skipped')]
    assert main(['run', *options(project)]) == 0 and '0 steps ran, 2 skipped' in capsys.readouterr().out


def test_only_from_and_force(project):
    pipeline = pipeline_of(project)
    assert actions(pipeline.run(only='01')) == [('01_write', 'ran')]
    assert actions(pipeline.run(only='02')) == [('02_combine', 'ran')]  # never run: runs, even alone
    assert actions(pipeline.run(only='02')) == [('02_combine', 'skipped')]
    assert actions(pipeline.run(only='02', force=True)) == [('02_combine', 'ran')]
    assert actions(pipeline.run(start='write')) == [('01_write', 'skipped'), ('02_combine', 'skipped')]
    assert actions(pipeline.run(start='02_combine', force=True)) == [('02_combine', 'ran')]
    assert actions(pipeline.run(force=True)) == [('01_write', 'ran'), ('02_combine', 'ran')]


def test_rerun_when_code_changes_not_markdown(project):
    pipeline = pipeline_of(project)
    pipeline.run()
    edit_cell(project/'pipeline'/'02_combine.ipynb', 'Test step 2', 'The second test step')  # markdown only
    assert actions(pipeline.run()) == [('01_write', 'skipped'), ('02_combine', 'skipped')]
    edit_cell(project/'pipeline'/'02_combine.ipynb', 'len(words)', 'len(words) * 2')
    assert pipeline.state(pipeline.steps[1]) == ('stale', 'code changed')
    assert actions(pipeline.run()) == [('01_write', 'skipped'), ('02_combine', 'ran')]
    assert (project/'runs'/'tiny'/'count.txt').read_text() == '2\n'


def test_rerun_when_a_parameter_changes(project):
    pipeline_of(project).run()
    changed = pipeline_of(project, word='consensus')
    assert actions(changed.run()) == [('01_write', 'ran'), ('02_combine', 'ran')]  # new words.txt: 02's input changed
    assert (project/'runs'/'tiny'/'words.txt').read_text() == 'consensus\n'
    assert actions(pipeline_of(project, word='consensus', unused=3).run()) == [('01_write', 'skipped'), ('02_combine', 'skipped')]


def test_rerun_when_an_output_changes_or_disappears(project):
    pipeline = pipeline_of(project)
    pipeline.run()
    (project/'runs'/'tiny'/'words.txt').write_text('edited by hand\n')
    state, why = pipeline.state(pipeline.steps[0])
    assert state == 'stale' and 'run/words.txt' in why
    # 01 rewrites the same words: 02's input is what it was, so 02 is skipped
    assert actions(pipeline.run()) == [('01_write', 'ran'), ('02_combine', 'skipped')]
    (project/'figures'/'tiny'/'words.csv').unlink()
    assert actions(pipeline.run()) == [('01_write', 'ran'), ('02_combine', 'skipped')]
    assert (project/'figures'/'tiny'/'words.csv').exists()


def test_upstream_output_change_reruns_downstream_only_when_run(project):
    pipeline_of(project).run()
    pipeline_of(project, word='consensus').run(only='01')
    pipeline = pipeline_of(project, word='consensus')
    assert pipeline.state(pipeline.steps[1]) == ('stale', 'input words.txt changed')
    assert actions(pipeline.run()) == [('01_write', 'skipped'), ('02_combine', 'ran')]


def test_rerun_when_the_profile_changes(project):
    pipeline_of(project).run()
    (project/'settings.ini').write_text(SETTINGS.replace('cell_timeout = 60', 'cell_timeout = 61', 1))
    pipeline = pipeline_of(project)
    assert pipeline.state(pipeline.steps[0]) == ('stale', 'settings changed')
    assert actions(pipeline.run()) == [('01_write', 'ran'), ('02_combine', 'ran')]
    other = pipeline_of(project, 'other')  # another profile has its own run folder
    assert actions(other.run()) == [('01_write', 'ran'), ('02_combine', 'ran')]
    assert (project/'runs'/'other'/'words.txt').exists()


def test_a_parameter_reruns_only_the_steps_that_declare_it(project, capsys):
    add_step(project, 'not_applicable.ipynb', '03_pairs.ipynb')  # its parameters: models, needed
    pipeline_of(project).run()
    pipeline = pipeline_of(project, models=2)
    assert [pipeline.state(s) for s in pipeline.steps] == [('ok', ''), ('ok', ''), ('stale', 'parameter models changed')]
    assert main(['status', *options(project)]) == 0  # without the parameter: nothing changed
    assert 'stale' not in capsys.readouterr().out
    assert actions(pipeline.run()) == [('01_write', 'skipped'), ('02_combine', 'skipped'), ('03_pairs', 'ran')]


def test_an_input_change_reruns_its_readers_not_their_siblings(project):
    "01 -> 02 -> 03, and 04 reads nothing of theirs: a change reaches the steps that read it, and no other"
    add_step(project, 'double.ipynb', '03_double.ipynb')  # reads count.txt
    add_step(project, 'not_applicable.ipynb', '04_pairs.ipynb')  # reads nothing
    pipeline_of(project).run()
    edit_cell(project/'pipeline'/'02_combine.ipynb', 'len(words)', 'len(words) * 2')
    pipeline = pipeline_of(project)
    assert [pipeline.state(s)[1] for s in pipeline.steps] == ['', 'code changed', '', 'not applicable: 1 model: no pair of different models to compare']
    assert actions(pipeline.run()) == [('01_write', 'skipped'), ('02_combine', 'ran'), ('03_double', 'ran'), ('04_pairs', 'skipped')]
    assert (project/'runs'/'tiny'/'double.txt').read_text() == '4\n'
    changed = pipeline_of(project, word='two words')
    lines = []
    assert actions(changed.run(only='04', log=lines.append)) == [('04_pairs', 'skipped')]
    assert not [line for line in lines if 'warning' in line]  # 01 is stale, but 04 does not read it
    assert actions(changed.run(only='01')) == [('01_write', 'ran')]
    assert [changed.state(s) for s in changed.steps[1:3]] == [('stale', 'input words.txt changed'), ('ok', '')]
    lines = []
    assert actions(changed.run(only='03', log=lines.append)) == [('03_double', 'skipped')]
    assert [line for line in lines if 'warning' in line] == [
        'warning: 02_combine is not up to date (stale: input words.txt changed); its outputs are used as they are']
    assert actions(changed.run()) == [('01_write', 'skipped'), ('02_combine', 'ran'), ('03_double', 'ran'), ('04_pairs', 'skipped')]
    assert (project/'runs'/'tiny'/'double.txt').read_text() == '8\n'


def test_a_module_edit_reruns_only_the_steps_that_import_it(project, monkeypatch, capsys):
    "01 and 02 import nothing of hivemind, 03 imports hivemind.pipeline (which imports hivemind.config)"
    add_step(project, 'not_applicable.ipynb', '03_pairs.ipynb')
    pipeline_of(project).run()
    fake_library(monkeypatch, hivemind_similarity='v2')  # imported by none of them
    assert actions(pipeline_of(project).run()) == [('01_write', 'skipped'), ('02_combine', 'skipped'), ('03_pairs', 'skipped')]
    fake_library(monkeypatch, hivemind_config='v2')  # imported by hivemind.pipeline
    pipeline = pipeline_of(project)
    assert [pipeline.state(s) for s in pipeline.steps] == [('ok', ''), ('ok', ''), ('stale', 'module hivemind.config changed')]
    assert main(['status', *options(project)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows['03_pairs'].split()[1] == 'stale' and rows['03_pairs'].endswith('module hivemind.config changed')
    assert actions(pipeline.run()) == [('01_write', 'skipped'), ('02_combine', 'skipped'), ('03_pairs', 'ran')]
    monkeypatch.setattr(hivemind, '__version__', '99.0')  # not a part of the key: hivemind/__init__.py is, for importers
    assert actions(pipeline_of(project).run()) == [('01_write', 'skipped'), ('02_combine', 'skipped'), ('03_pairs', 'skipped')]


def test_a_step_without_a_declaration_is_an_error_naming_it(project, capsys):
    notebook = json.loads((DATA/'02_combine.ipynb').read_text())
    notebook['cells'] = [c for c in notebook['cells'] if 'step' not in c['metadata'].get('tags', [])]
    (project/'pipeline'/'03_new.ipynb').write_text(json.dumps(notebook))
    assert main(['status', *options(project)]) == 2
    error = capsys.readouterr().err
    assert f"hivemind: error: {project/'pipeline'/'03_new.ipynb'}: no cell tagged `step`" in error
    assert main(['run', *options(project)]) == 2 and not (project/'runs'/'tiny'/'manifests').exists()


def test_the_pipeline_graph():
    "The declared graph of the paper's chapters (01-10), and the steps an edit of similarity.py reaches"
    pipeline = open_pipeline('smoke')
    similarity = ['04_intra_model', '05_inter_model', '06_neighbours', '07_pca']
    paper = {s: producers for s, producers in pipeline.graph().items() if int(s[:2]) <= 10}
    assert paper == {'01_sample': [], '02_embed': ['01_sample'], '03_taxonomy': [],
                     **{s: ['01_sample', '02_embed'] for s in similarity},
                     '08_human_data': ['01_sample'], '09_scores': ['08_human_data'],
                     '10_calibration': ['08_human_data', '09_scores']}
    importers = [s.stem for s in pipeline.steps if 'hivemind.similarity' in pipeline.step_modules(s)]
    assert set(similarity) <= set(importers) and not {'01_sample', '02_embed', '03_taxonomy'} & set(importers)
    assert all(producers for s, producers in pipeline.graph().items() if int(s[:2]) > 10)  # later chapters read earlier outputs


def test_a_file_rewritten_by_a_later_step_is_not_a_change(project):
    add_step(project, '02_combine.ipynb', '03_append.ipynb')
    edit_cell(project/'pipeline'/'03_append.ipynb', "Path(run_dir, 'count.txt').write_text(f\"{len(words)}\\n\")",
              "Path(run_dir, 'words.txt').write_text(' '.join(words + ['more']))")
    pipeline = pipeline_of(project)
    assert [r.action for r in pipeline.run()] == ['ran']*3
    assert [r.action for r in pipeline.run()] == ['skipped']*3


# ---------------------------------------------------------------- failures

def test_failing_cell_stops_the_run_and_keeps_everything(project, capsys):
    add_step(project, 'fail.ipynb', '03_fail.ipynb')
    add_step(project, '02_combine.ipynb', '04_after.ipynb')
    assert main(['run', *options(project)]) == 1
    error = capsys.readouterr().err
    run = project/'runs'/'tiny'
    assert f"step 03_fail failed in cell 5 (counting from 0; first line: raise ValueError(\"failing on purpose\")) of {project/'pipeline'/'03_fail.ipynb'}" in error
    assert 'ValueError: failing on purpose' in error
    assert f"partial executed notebook: {run/'notebooks'/'03_fail.ipynb'}" in error
    executed = json.loads((run/'notebooks'/'03_fail.ipynb').read_text())
    assert any(o.get('ename') == 'ValueError' for c in executed['cells'] for o in c.get('outputs', []))
    assert (run/'before_failure.txt').exists() and not (run/'after_failure.txt').exists()
    assert (run/'words.txt').exists() and (run/'count.txt').exists()
    assert not (run/'notebooks'/'04_after.ipynb').exists()
    manifest = json.loads((run/'manifests'/'03_fail.json').read_text())
    assert manifest['status'] == 'failed' and list(manifest['outputs']) == ['run/before_failure.txt']
    assert manifest['error'] == dict(cell=5, line='raise ValueError("failing on purpose")', ename='ValueError', evalue='failing on purpose')
    pipeline = pipeline_of(project)
    with pytest.raises(StepFailed):  # the failed step runs again; the ones before it are skipped
        pipeline.run(log=lambda line: None)
    assert [pipeline.manifest(s)['status'] if pipeline.manifest(s) else None for s in pipeline.steps] == ['ok', 'ok', 'failed', None]


def test_cell_timeout_is_a_failure_naming_the_cell(project, capsys):
    add_step(project, 'sleep.ipynb', '02_sleep.ipynb')
    (project/'settings.ini').write_text(SETTINGS.replace('cell_timeout = 60', 'cell_timeout = 2', 1))
    assert main(['run', *options(project)]) == 1
    error = capsys.readouterr().err
    assert 'step 02_sleep failed in cell 5 (counting from 0; first line: time.sleep(seconds))' in error
    assert 'CellTimeoutError' in error


def test_status_lists_state_time_and_key(project, capsys):
    add_step(project, 'fail.ipynb', '03_fail.ipynb')
    add_step(project, '02_combine.ipynb', '04_after.ipynb')
    main(['run', *options(project)])
    (project/'runs'/'tiny'/'count.txt').unlink()
    capsys.readouterr()
    assert main(['status', *options(project)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ['step', 'state', 'finished', 'seconds', 'key']
    rows = {line.split()[0]: line for line in lines[2:]}
    key = json.loads((project/'runs'/'tiny'/'manifests'/'01_write.json').read_text())['key']
    assert rows['01_write'].split()[1] == 'ok' and key[:12] in rows['01_write']
    assert rows['02_combine'].split()[1] == 'stale' and 'run/count.txt' in rows['02_combine']
    assert rows['03_fail'].split()[1] == 'failed' and 'cell 5: ValueError: failing on purpose' in rows['03_fail']
    assert rows['04_after'].split()[1:3] == ['never', 'run']


@pytest.mark.parametrize('launched', [default_signals, ignored_sigint], ids=['foreground', 'background'])
def test_ctrl_c_stops_cleanly(project, launched):
    "SIGINT stops a run cleanly, also one started as a background job (SIGINT ignored on start)"
    add_step(project, 'sleep.ipynb', '02_sleep.ipynb')
    add_step(project, '02_combine.ipynb', '03_after.ipynb')
    run = project/'runs'/'tiny'
    process = subprocess.Popen([sys.executable, '-m', 'hivemind', 'run', *options(project)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=launched)
    deadline = time.time() + 60
    while not (run/'sleep.pid').exists() and time.time() < deadline and process.poll() is None: time.sleep(0.1)
    assert (run/'sleep.pid').exists(), process.communicate()
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    output, error = process.communicate(timeout=30)
    assert process.returncode == 130
    assert f"interrupted: step 02_sleep interrupted; partial executed notebook: {run/'notebooks'/'02_sleep.ipynb'}" in error
    manifest = json.loads((run/'manifests'/'02_sleep.json').read_text())
    assert manifest['status'] == 'interrupted' and manifest['error']['line'] == 'time.sleep(seconds)'
    assert (run/'notebooks'/'02_sleep.ipynb').exists() and (run/'words.txt').exists()
    assert not (run/'manifests'/'03_after.json').exists()
    kernel = int((run/'sleep.pid').read_text())
    deadline = time.time() + 10
    while time.time() < deadline:
        try: os.kill(kernel, 0); time.sleep(0.2)
        except ProcessLookupError: break
    else: pytest.fail(f'kernel {kernel} still running after the interrupt')


# ---------------------------------------------------------------- work left to do

def test_incomplete_step_runs_again_until_it_completes(project, capsys):
    "A step that reports work left to do is `incomplete`: later steps run, exit 3, and a plain rerun executes it again"
    add_step(project, 'incomplete.ipynb', '03_incomplete.ipynb')  # stores one of its 2 items per run
    add_step(project, '02_combine.ipynb', '04_after.ipynb')
    assert main(['run', *options(project)]) == 3
    output, error = capsys.readouterr()
    assert '[3/4] 03_incomplete: incomplete: 1 of 2 failed' in output and '4 steps ran' in output
    assert 'INCOMPLETE: step 03_incomplete: 1 of 2 failed\n  model-a: APIConnectionError: connection refused' in error
    pipeline = pipeline_of(project)
    manifests = [pipeline.manifest(s) for s in pipeline.steps]
    assert [m['status'] for m in manifests] == ['ok', 'ok', 'incomplete', 'ok']  # the step after it still ran
    details = {'model-a': 'APIConnectionError: connection refused'}
    assert manifests[2]['incomplete'] == dict(message='1 of 2 failed', details=details)
    assert not (project/'runs'/'tiny'/'manifests'/'03_incomplete.incomplete.json').exists()
    assert main(['status', *options(project)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows['03_incomplete'].split()[1] == 'incomplete' and rows['03_incomplete'].endswith('1 of 2 failed')
    assert main(['run', *options(project)]) == 0  # a plain rerun: the incomplete step runs again and completes
    output = capsys.readouterr().out
    assert '[3/4] 03_incomplete: running (incomplete: 1 of 2 failed)' in output
    assert '[3/4] 03_incomplete: done' in output
    assert '1 step ran, 3 skipped' in output  # 04_after reads words.txt, not what 03 stored: skipped
    assert pipeline.state(pipeline.steps[2]) == ('ok', '')
    assert actions(pipeline.run()) == [(s.stem, 'skipped') for s in pipeline.steps]


def test_step_that_does_not_apply_is_ok_with_its_reason(project, capsys):
    "`not_applicable` stops a step without failing it: later steps run, exit 0, the executed notebook ends with the reason"
    add_step(project, 'not_applicable.ipynb', '03_pairs.ipynb')
    add_step(project, '02_combine.ipynb', '04_after.ipynb')
    assert main(['run', *options(project)]) == 0
    output = capsys.readouterr().out
    assert '[3/4] 03_pairs: not applicable: 1 model: no pair of different models to compare' in output
    pipeline = pipeline_of(project)
    manifests = [pipeline.manifest(s) for s in pipeline.steps]
    assert [m['status'] for m in manifests] == ['ok'] * 4 and manifests[3]['outputs']
    assert manifests[2]['not_applicable'] == '1 model: no pair of different models to compare'
    run = project/'runs'/'tiny'
    assert (run/'checked.txt').exists() and not (run/'compared.txt').exists()
    cells = json.loads((run/'notebooks'/'03_pairs.ipynb').read_text())['cells']
    assert cells[-1]['source'] == '**Not applicable to this run:** 1 model: no pair of different models to compare'
    assert not [c for c in cells if c.get('outputs') and any(o['output_type'] == 'error' for o in c['outputs'])]
    assert not [c for c in cells if 'papermill-error-cell-tag' in c['metadata'].get('tags', [])]
    assert pipeline.state(pipeline.steps[2]) == ('ok', 'not applicable: 1 model: no pair of different models to compare')
    assert actions(pipeline.run()) == [(s.stem, 'skipped') for s in pipeline.steps]
    pipeline_of(project, models=2).run(only='03', force=True)
    assert (run/'compared.txt').exists() and pipeline.manifest(pipeline.steps[2])['not_applicable'] is None




def test_a_read_only_run_folder_is_named_before_anything_runs(project, capsys, monkeypatch):
    "A run folder this user cannot write: exit 1 naming it, no traceback, no step started"
    run = project/'runs'/'tiny'
    run.mkdir(parents=True)
    run.chmod(0o555)
    if os.getuid() == 0:  # root writes into read-only folders: make the check see what another user would
        access = os.access
        monkeypatch.setattr(os, 'access', lambda path, mode: access(path, mode) and Path(path) != run)
    try: assert main(['run', *options(project)]) == 1
    finally: run.chmod(0o755)
    output, error = capsys.readouterr()
    assert f'hivemind: error: the run folder {run} is not writable by this user' in error
    assert '01_write' not in output and list(run.iterdir()) == []

# ---------------------------------------------------------------- one run at a time

def test_one_run_at_a_time_and_a_killed_run_is_interrupted(project, capsys):
    "A second run of a profile exits 4 naming the first and touches nothing; a killed run shows as interrupted"
    add_step(project, 'sleep.ipynb', '02_sleep.ipynb')
    run = project/'runs'/'tiny'
    process = subprocess.Popen([sys.executable, '-m', 'hivemind', 'run', *options(project)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run/'sleep.pid').exists() and time.time() < deadline and process.poll() is None: time.sleep(0.1)
    assert (run/'sleep.pid').exists(), process.communicate()
    manifests = {p.name: p.read_text() for p in (run/'manifests').iterdir()}
    assert main(['run', *options(project)]) == 4
    error = capsys.readouterr().err
    assert f"another hivemind run (pid {process.pid}: " in error and f"run {options(project)[0]}" in error
    assert error.strip().endswith(f"is using {run}; nothing was run")
    assert {p.name: p.read_text() for p in (run/'manifests').iterdir()} == manifests
    assert main(['status', *options(project)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith('02_sleep')]
    assert rows[0][1] == 'running'  # its run holds the lock
    process.kill(); process.wait(timeout=30)
    try: os.kill(int((run/'sleep.pid').read_text()), signal.SIGKILL)  # the orphaned kernel
    except ProcessLookupError: pass
    process.communicate(timeout=30)
    assert main(['status', *options(project)]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith('02_sleep')][0]
    assert row.split()[1] == 'interrupted' and 'its run stopped (killed?)' in row
    assert main(['run', *options(project), '-p', 'seconds=0']) == 0  # the killed run's lock is free
    assert '[3/3] 02_sleep: running (interrupted)' in capsys.readouterr().out
    assert not (run/'runner.json').exists()
    pipeline = pipeline_of(project, seconds=0)
    assert [pipeline.state(s)[0] for s in pipeline.steps] == ['ok', 'ok', 'ok']
