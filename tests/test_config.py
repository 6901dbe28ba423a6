"Settings files: paths relative to the settings file's folder, numbers checked on load, text encodings"
import pytest
from hivemind.config import SettingsError, load_settings
from hivemind.prompts import load_prompts

SETTINGS = """
[mine]
prompts = data/prompts.csv
models = local
decodings = warm
embedder = here

[model:local]
engine = llama-cpp
gguf = models/tiny.gguf

[decoding:warm]
temperature = 0.7

[embedder:here]
path = sentence-transformers/all-MiniLM-L6-v2
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    "A settings file in tmp/project whose prompts file lies beside it; the working directory elsewhere"
    folder = tmp_path/'project'
    (folder/'data').mkdir(parents=True)
    (folder/'data'/'prompts.csv').write_text('prompt_id,prompt\na,Name a colour.\n')
    (folder/'settings.ini').write_text(SETTINGS)
    (tmp_path/'elsewhere').mkdir()
    monkeypatch.chdir(tmp_path/'elsewhere')
    return folder


def test_relative_paths_are_relative_to_the_settings_file(project):
    settings = load_settings(project/'settings.ini')
    profile = settings.profile('mine')
    assert profile.prompts == str(project/'data'/'prompts.csv')
    assert list(load_prompts(profile.prompts).prompt_id) == ['a']
    assert settings.models['local'].gguf == str(project/'models'/'tiny.gguf')  # named in full when it is missing
    assert settings.embedders['here'].path == 'sentence-transformers/all-MiniLM-L6-v2'  # a hub name stays one


def test_an_embedder_folder_beside_the_settings_file_is_found(project):
    (project/'sentence-transformers'/'all-MiniLM-L6-v2').mkdir(parents=True)
    path = load_settings(project/'settings.ini').embedders['here'].path
    assert path == str(project/'sentence-transformers'/'all-MiniLM-L6-v2')


@pytest.mark.parametrize('section, line, message', [
    ('model:local', 'concurrency = 0', 'concurrency = \'0\': 0 is below 1'),
    ('model:local', 'timeout = 0', 'timeout = \'0\': 0.0 is too small; it must be > 0'),
    ('model:local', 'max_retries = -1', 'max_retries = \'-1\': -1 is below 0'),
    ('model:local', 'n_ctx = 0', 'n_ctx'),
    ('decoding:warm', 'top_p = 0', 'top_p = \'0\': 0.0 is too small; it must be > 0'),
    ('decoding:warm', 'min_p = 1.5', 'min_p = \'1.5\': 1.5 is too large; it must be <= 1'),
    ('decoding:warm', 'temperature = -1', "temperature = '-1': -1.0 is too small; it must be >= 0"),
    ('embedder:here', 'batch_size = 0', 'batch_size'),
    ('mine', 'cell_timeout = 0', 'cell_timeout'),
])
def test_numbers_out_of_range_are_named_on_load(project, section, line, message):
    text = SETTINGS.replace('temperature = 0.7\n', '').replace(f'[{section}]\n', f'[{section}]\n{line}\n')
    (project/'settings.ini').write_text(text)
    with pytest.raises(SettingsError, match=r'settings\.ini: \[' + section.replace(':', r'\:') + r'\]') as error:
        load_settings(project/'settings.ini')
    assert message in str(error.value)


def test_a_settings_file_with_a_byte_order_mark_reads(project):
    (project/'settings.ini').write_bytes(('\ufeff' + SETTINGS.lstrip()).encode('utf-8'))
    assert load_settings(project/'settings.ini').profile('mine').decodings == ['warm']


def test_a_settings_file_in_latin1_is_named_with_its_line(project):
    (project/'settings.ini').write_bytes(SETTINGS.replace('[mine]\n', '[mine]\ndescription = café\n').encode('latin-1'))
    with pytest.raises(SettingsError, match=r'settings\.ini:3: not UTF-8 text'): load_settings(project/'settings.ini')
