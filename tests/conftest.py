import os, subprocess, sys
from pathlib import Path
import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

ROOT = Path(__file__).resolve().parents[1]


def hivemind(*args, env=None):
    "Run the CLI as a user would; return the completed process"
    return subprocess.run([sys.executable, '-m', 'hivemind', *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=1800)


@pytest.fixture(scope='session')
def smoke(tmp_path_factory):
    "One real run of the smoke profile, shared by the tests that read it: its folder and the completed process"
    folder = tmp_path_factory.mktemp('smoke')
    first = hivemind('run', '--profile', 'smoke', '--runs', str(folder/'runs'), '--figures', str(folder/'figures'))
    return folder, first
