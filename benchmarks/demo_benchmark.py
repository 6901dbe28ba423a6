"""Time the whole pipeline of a profile (default: demo) against its own sampling step, and measure its peak memory.

It runs `hivemind run --profile PROFILE --force` into a temporary folder (nothing of `runs/` or `figures/` is touched),
samples the memory of the whole process tree (the CLI, each notebook kernel, each llama.cpp server) every 0.2 s, and
prints, from the manifests the runner writes, the seconds of every step, the pipeline's total over its sampling step
(the goal of the "Readers first" issue: at most 1.25), the largest resident set of one process and of the tree, and the
share of answers cut at the token limit per model. Numbers from one run on a shared machine; rerun on a quiet one.

    .venv/bin/python benchmarks/demo_benchmark.py                  # the demo profile, about 5 minutes on 2 cores
    .venv/bin/python benchmarks/demo_benchmark.py --profile smoke  # the same at toy size
"""
from __future__ import annotations
import argparse, json, subprocess, sys, tempfile, threading, time
from pathlib import Path
import psutil
from hivemind.answers import sampling_report
from hivemind.runs import ResponseStore

ROOT = Path(__file__).resolve().parents[1]


class TreeMemory(threading.Thread):
    "Peak resident memory of a process and its descendants, sampled until stopped"
    def __init__(self, pid:int, every:float=0.2):
        super().__init__(daemon=True)
        self.root, self.every, self.done = psutil.Process(pid), every, threading.Event()
        self.largest = self.total = 0
        self.largest_name = ''

    def sample(self):
        processes = [self.root, *self.root.children(recursive=True)]
        sizes = {}
        for process in processes:
            try: sizes[process.pid] = (process.memory_info().rss, ' '.join(process.cmdline()[:4]))
            except (psutil.NoSuchProcess, psutil.AccessDenied): pass
        if not sizes: return
        self.total = max(self.total, sum(rss for rss, _ in sizes.values()))
        rss, name = max(sizes.values())
        if rss > self.largest: self.largest, self.largest_name = rss, name

    def run(self):
        while not self.done.is_set():
            try: self.sample()
            except psutil.NoSuchProcess: return
            time.sleep(self.every)


def step_seconds(run_dir:Path) -> dict[str, float]:
    "Seconds of each step, from its manifest"
    manifests = sorted((run_dir/'manifests').glob('*.json'))
    return {m.stem: json.loads(m.read_text())['seconds'] for m in manifests}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--profile', default='demo')
    parser.add_argument('--keep', type=Path, help='run into this folder and keep it (default: a temporary folder)')
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix='hivemind-benchmark-'))
    command = [sys.executable, '-m', 'hivemind', 'run', '--profile', args.profile, '--force',
               '--runs', str(folder/'runs'), '--figures', str(folder/'figures')]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    memory = TreeMemory(process.pid); memory.start()
    output = process.communicate()[0]
    memory.done.set(); memory.join()
    wall = time.perf_counter() - started
    if process.returncode: sys.exit(f"the run failed ({process.returncode}):\n{output[-3000:]}")
    run_dir = folder/'runs'/args.profile
    seconds = step_seconds(run_dir)
    sampling = seconds['01_sample']
    for step, value in seconds.items(): print(f"{step:18s} {value:7.1f} s")
    total = sum(seconds.values())
    print(f"\nsteps together      {total:7.1f} s (the CLI's wall time: {wall:.1f} s)")
    print(f"sampling            {sampling:7.1f} s")
    print(f"pipeline / sampling {total / sampling:7.2f}  (steps together over step 01; goal <= 1.25)")
    print(f"peak memory: largest process {memory.largest / 2**30:.2f} GiB ({memory.largest_name}), "
          f"whole process tree {memory.total / 2**30:.2f} GiB (sampled every 0.2 s)")
    report = sampling_report(ResponseStore(run_dir/'responses.jsonl').frame(None))
    print('\n' + report.to_string(index=False))
    print(f"\nall answers: {100 * report.cut.sum() / report.answers.sum():.1f}% cut at the token limit")


if __name__ == '__main__': main()
