"""The built wheel carries every file of hivemind/data (the paper's reference numbers too), so that a plain
`pip install .` (no editable install) runs every chapter"""
import shutil, subprocess, sys, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_every_data_file(tmp_path):
    "Built from a clean copy of the sources (a `build/` folder left by an earlier build would hide what is missing)"
    source = tmp_path/'source'
    shutil.copytree(ROOT/'hivemind', source/'hivemind', ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('pyproject.toml', 'README.md', 'LICENSE'):
        if (ROOT/name).exists(): shutil.copy2(ROOT/name, source/name)
    build = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps', '--no-build-isolation',
                            '--wheel-dir', str(tmp_path), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel, = tmp_path.glob('artificial_hivemind-*.whl')
    packed = set(zipfile.ZipFile(wheel).namelist())
    data = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT/'hivemind'/'data').rglob('*') if p.is_file())
    assert data and [p for p in data if p not in packed] == []
