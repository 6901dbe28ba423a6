"environment.yml lists what pyproject.toml needs, with the same pins; requirements.lock pins all of it (make lock)."
import re, tomllib
from pathlib import Path
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

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



PYPROJECT_SOURCE = 'artificial-hivemind (pyproject.toml)'


def lock_entries(text):
    "{name: (version, sources)} of a pip-compile lock: each `name==version` line and the names in its `# via` comment"
    entries = {}
    for line in text.splitlines():
        pin = re.fullmatch(r'([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)', line.strip())
        via = re.fullmatch(r'#\s+(?:via\s+)?(\S.*)', line.strip())
        if pin:
            name = canonicalize_name(pin[1])
            entries[name] = (pin[2], [])
        elif via and line.startswith(' ') and entries and via[1] != 'via':
            entries[name][1].append(via[1])
    return entries


def lock_disagreements(requirements, entries):
    "What a lock's entries miss or pin against the requirement strings, and what it keeps that nothing requires"
    problems = []
    required = {canonicalize_name(Requirement(r).name): Requirement(r) for r in requirements}
    for name, requirement in required.items():
        if name not in entries:
            problems.append(f"requirements.lock lacks {str(requirement)!r} (pyproject.toml): run make lock")
        elif not requirement.specifier.contains(Version(entries[name][0]), prereleases=True):
            problems.append(f"requirements.lock pins {name}=={entries[name][0]}, pyproject.toml wants {requirement}")
    for name, (version, sources) in entries.items():
        if sources == [PYPROJECT_SOURCE] and name not in required:
            problems.append(f"requirements.lock pins {name}=={version} for pyproject.toml, which no longer needs it")
    return problems


def real_lock():
    return lock_entries((ROOT/'requirements.lock').read_text())


def test_lock_disagreements_are_found():
    entries = {'openai': ('1.30.0', [PYPROJECT_SOURCE]), 'wordcloud': ('1.9.6', [PYPROJECT_SOURCE])}
    problems = lock_disagreements(['openai>=1.40', 'pandas'], entries)
    assert len(problems) == 3, problems
    for expected in ('pins openai==1.30.0', "lacks 'pandas'", 'wordcloud==1.9.6 for pyproject.toml'):
        assert any(expected in problem for problem in problems), (expected, problems)
    assert lock_disagreements(['openai>=1.40', 'wordcloud'], {**entries, 'openai': ('1.40.0', [])}) == []


def test_lock_entries_reads_pins_and_sources():
    text = "# header\nnumpy==2.4.6\n    # via\n    #   artificial-hivemind (pyproject.toml)\n    #   pandas\n" \
           "Jinja2==3.1.6\n    # via torch\n"
    assert lock_entries(text) == {'numpy': ('2.4.6', [PYPROJECT_SOURCE, 'pandas']), 'jinja2': ('3.1.6', ['torch'])}


def test_lock_pins_every_pyproject_requirement():
    assert lock_disagreements(pyproject_requirements(), real_lock()) == []


def test_lock_pins_every_package_exactly():
    text = (ROOT/'requirements.lock').read_text()
    listed = [line for line in text.splitlines() if line and not line.startswith((' ', '#'))]
    assert len(listed) == len(real_lock()) > 100, [line for line in listed if '==' not in line]


def test_lock_is_for_python_311_on_cpu():
    text = (ROOT/'requirements.lock').read_text()
    assert 'autogenerated by pip-compile with Python 3.11' in text
    assert real_lock()['torch'][0] == '2.13.0'
    gpu_only = [name for name in real_lock() if name.startswith(('nvidia-', 'triton'))]
    assert gpu_only == [], f"requirements.lock was resolved against a CUDA torch: {gpu_only}"


def test_makefile_installs_the_locked_torch_and_llama_cpp():
    makefile = (ROOT/'Makefile').read_text()
    for name in ('torch', 'llama-cpp-python'):
        pins = set(re.findall(rf'{name}(?:\[\w+\])?==([\w.+]+)', makefile))
        locked = real_lock()[name][0]
        assert pins == {locked}, f"Makefile installs {name} {pins}, requirements.lock pins {locked}"
