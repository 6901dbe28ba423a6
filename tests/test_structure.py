"The shape of the project: each module and pipeline notebook imports only from its own stage or earlier ones, artifacts go through `Run`, and the `paper` profile samples the paper's models"
import ast
import json
import re
from pathlib import Path
import pytest
from hivemind.config import load_settings
from hivemind.similarity_figures import main_models
from hivemind.site import STAGES, library_notebooks

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = library_notebooks(ROOT/'nbs')  # nbs/<stage>/x_name.ipynb: the folder is the stage


def exported_module(path:Path) -> str|None:
    "The module a library notebook exports (its `#| default_exp`)"
    cells = [''.join(c['source']) for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'code']
    found = [m.group(1) for cell in cells if (m := re.search(r'^#\|\s*default_exp\s+(\S+)', cell, re.M))]
    return found[0] if found else None


ORDER = list(STAGES)  # in pipeline order; a module may import from its own stage and the ones before it
STAGE_OF = {exported_module(p): p.parent.name for p in LIBRARY} | {'__init__': 'core', '_modidx': 'core'}
PIPELINE_STAGES = {'01': 'sample', '02': 'embed', '03': 'taxonomy', '04': 'similarity', '05': 'similarity', '06': 'similarity',
                   '07': 'similarity', '08': 'human', '09': 'scores', '10': 'calibration', '11': 'beyond', '12': 'beyond',
                   '13': 'beyond', '14': 'beyond', '15': 'beyond'}
MODULES = sorted((ROOT/'hivemind').glob('*.py'))
PIPELINE = sorted((ROOT/'nbs'/'pipeline').glob('[0-9][0-9]_*.ipynb'))


def imported_modules(tree:ast.AST) -> list[tuple[int, str]]:
    "(line, hivemind module) of every import in `tree`, relative ones (`from .x`) included, nested ones too"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            name = ('hivemind.' if node.level else '') + (node.module or '')
            names = [name] if name != 'hivemind' else [f'hivemind.{alias.name}' for alias in node.names]
        elif isinstance(node, ast.Import): names = [alias.name for alias in node.names]
        else: continue
        found += [(node.lineno, n.split('.')[1]) for n in names if n.startswith('hivemind.')]
    return found


def code_cells(path:Path) -> list[str]:
    "The code cells of a notebook, IPython magics and shell lines blanked"
    cells = [''.join(c['source']) for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'code']
    return [re.sub(r'^\s*[%!].*$', '', cell, flags=re.M) for cell in cells]


def violations(stage:str, imports:list[tuple[int, str]], where:str) -> list[str]:
    "Each import of a module from a later stage (or of no stage), as one line"
    lines = []
    for line, module in imports:
        theirs = STAGE_OF.get(module)
        if theirs is None: lines.append(f'{where}:{line}: hivemind.{module} has no stage in STAGES')
        elif ORDER.index(theirs) > ORDER.index(stage):
            lines.append(f'{where}:{line}: imports hivemind.{module} ({theirs} stage) from the {stage} stage')
    return lines


def test_library_notebooks_live_in_stage_folders():
    "Library notebooks are lettered inside a folder per stage; only the README's source lies in nbs/ itself"
    assert sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb')) == ['index.ipynb']
    folders = {p.name for p in (ROOT/'nbs').iterdir() if p.is_dir() and not p.name.startswith(('.', '_'))}
    assert folders - set(STAGES) - {'pipeline', 'course', 'fixtures'} == set()
    assert [p for p in LIBRARY if exported_module(p) is None] == []


def test_every_module_and_pipeline_notebook_has_a_stage():
    assert sorted(p.stem for p in MODULES if p.stem not in STAGE_OF) == []
    assert sorted(p.name[:2] for p in PIPELINE if p.name[:2] not in PIPELINE_STAGES) == []


@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.stem)
def test_modules_import_only_their_stage_or_earlier(path):
    stage = STAGE_OF[path.stem]
    assert violations(stage, imported_modules(ast.parse(path.read_text())), f'hivemind/{path.name}') == []


@pytest.mark.parametrize('path', PIPELINE, ids=lambda p: p.stem)
def test_pipeline_notebooks_import_only_their_stage_or_earlier(path):
    stage, problems = PIPELINE_STAGES[path.name[:2]], []
    for number, cell in enumerate(code_cells(path)):
        problems += violations(stage, imported_modules(ast.parse(cell)), f'{path.name} code cell {number}')
    assert problems == []


def test_the_rule_names_the_offending_import():
    tree = ast.parse('from hivemind.calibration import SETTINGS\nfrom .figures import palette')
    assert violations('human', imported_modules(tree), 'x.py') == [
        'x.py:1: imports hivemind.calibration (calibration stage) from the human stage']


ARTIFACT_LITERALS = re.compile(r"run\.dir\s*/|run\.path\(\s*['\"](human|scores|tables)['\"]")

@pytest.mark.parametrize('path', PIPELINE, ids=[p.stem for p in PIPELINE])
def test_pipeline_notebooks_reach_artifacts_through_run(path):
    "Items, scores and tables through `Run.human_items_path`, `scores_path`, `scores_cache`, `tables`"
    found = [f'code cell {n}: {m.group(0)}' for n, cell in enumerate(code_cells(path)) for m in ARTIFACT_LITERALS.finditer(cell)]
    assert found == []


def test_paper_profile_samples_the_papers_figure_snapshots():
    assert load_settings().profile('paper').models == main_models().figure_name.tolist()
