"environment.yml lists what pyproject.toml needs, with the same pins."
import re, tomllib
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parents[1]


def requirement_name(requirement):
    "The normalised name of a requirement string"
    return re.split(r'[\s<>=!~\[;]', requirement, maxsplit=1)[0].lower().replace('_', '-')


def pyproject_requirements():
    project = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']
    return project['dependencies'] + [r for extra in project['optional-dependencies'].values() for r in extra]


def conda_pip_requirements():
    environment = yaml.safe_load((ROOT/'environment.yml').read_text())
    pip_section = next(item['pip'] for item in environment['dependencies'] if isinstance(item, dict) and 'pip' in item)
    return [r for r in pip_section if not r.startswith('-e')]


def test_environment_lists_every_requirement_with_the_same_pin():
    listed = {requirement_name(r): r.replace(' ', '') for r in conda_pip_requirements()}
    for requirement in pyproject_requirements():
        name = requirement_name(requirement)
        assert name in listed, f"environment.yml lacks {requirement!r} (pyproject.toml)"
        assert listed[name] == requirement.replace(' ', ''), f"environment.yml has {listed[name]!r}, pyproject.toml {requirement!r}"


def test_environment_python_matches_pyproject():
    environment = yaml.safe_load((ROOT/'environment.yml').read_text())
    required = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['requires-python']
    assert f"python={required.lstrip('>=')}" in environment['dependencies']


def test_torch_is_pinned_everywhere():
    assert 'torch==2.13.0' in pyproject_requirements()
    assert 'torch==2.13.0' in conda_pip_requirements()
