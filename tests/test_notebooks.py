"Pipeline notebooks keep what papermill and the runner rely on."
import json
from pathlib import Path
import pytest

PIPELINE = Path(__file__).resolve().parents[1]/'nbs'/'pipeline'
NOTEBOOKS = sorted(PIPELINE.glob('[0-9][0-9]_*.ipynb'))


def test_there_are_pipeline_notebooks():
    assert len(NOTEBOOKS) >= 10


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_the_run_parameters(path):
    cells = json.loads(path.read_text())['cells']
    tagged = [c for c in cells if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1, f'{path.name}: {len(tagged)} cells tagged parameters (nbdev-clean outside the project strips tags)'
    source = ''.join(tagged[0]['source'])
    for name in ['profile', 'run_dir', 'figures_dir']:
        assert f'{name} =' in source, f'{path.name}: parameters cell lacks {name}'
