"""Time the language-model scoring step on the packaged GGUF models: llama.cpp against transformers (dequantised).

The demo profile scores about 360 (prompt, response) pairs with `lm:smollm2` and `lm:qwen-coder`. This script scores
as many synthetic but realistic pairs (the 30 built-in prompts x 12 responses of 22-30 words, whose first words
repeat across a prompt's responses as the demo's do) with both scorers, once per engine: llama.cpp in-process from the
quantised file (what the demo uses), and transformers, which dequantises the same file to float32 (the old path).
Each (engine, model) runs in a subprocess of its own, through `LMScorer.score` without a cache, as the scoring step
runs it, so that its peak memory (ru_maxrss) is its own. It prints, per engine and model, the load and total seconds,
pairs per second and peak RSS, then the speed ratio and how the two engines' mean log-likelihoods per token agree
(Spearman's rho, absolute differences).

    nice .venv/bin/python benchmarks/scoring_benchmark.py                      # 360 pairs, both engines
    .venv/bin/python benchmarks/scoring_benchmark.py --items 48 --engines llama-cpp   # a quick look
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

MODELS = ('smollm2', 'qwen-coder')
ENGINES = ('llama-cpp', 'transformers')
OPENERS = ('Here is one way to see it:', 'Sure!', 'Imagine this:', 'In short,')
SENTENCES = (
    'Time is a river that carries every moment forward and never lets us step into the same water twice.',
    'The small details matter most, because they are what people remember long after the rest has faded.',
    'A good answer starts with what the person asked and stays close to it.',
    'Think of a quiet forest at dawn, where every sound seems louder than it really is.',
    'Electric cars are quiet, so the joke is that they never get a word in at the party.',
    'Meaning often comes from helping others and from the people we choose to keep close.',
    'The toad hopped across the garden, its bright green skin shining like a wet leaf in the sun.',
    'Every story needs a beginning, a problem to solve and an ending that feels earned.',
    'Robots in cinema have changed from cold machines into characters we care about.',
    'If you want to learn something new, start small and practise a little every day.',
    'Sometimes the simplest explanation is the right one, even when it feels too easy.',
    'The city wakes up slowly, with coffee, buses and the first light on the glass towers.',
    'Honesty builds trust, and trust is what keeps a team together when things go wrong.',
    'A metaphor compares two things so that one of them suddenly makes more sense.',
    'The ocean keeps its secrets deep below the waves, far from the reach of sunlight.',
    'Write down your ideas, because the best ones tend to arrive at the worst possible moment.',
)


def synthetic_pairs(items:int=360, per_prompt:int=12, seed:int=0) -> tuple[list[str], list[str]]:
    "Built-in prompts, each with `per_prompt` responses of 22-30 words that often open alike"
    from hivemind.prompts import builtin_prompts
    rng = np.random.default_rng(seed)
    prompts = builtin_prompts().prompt.tolist()
    pairs = []
    for index in range(items):
        words = ' '.join([OPENERS[rng.integers(2) if rng.random() < 0.7 else rng.integers(len(OPENERS))]]
                         + list(rng.choice(SENTENCES, 4, replace=False))).split()
        pairs.append((prompts[index // per_prompt % len(prompts)], ' '.join(words[:rng.integers(22, 31)])))
    return [p for p, _ in pairs], [r for _, r in pairs]


def worker(engine:str, model:str, items:int, threads:int|None, out:Path):
    "Score the pairs with one scorer in this process and write seconds, peak RSS and scores to `out`"
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    import pandas as pd
    from hivemind.config import load_settings
    from hivemind.scorers import LMScorer
    if threads and engine == 'transformers': __import__('torch').set_num_threads(threads)   # llama.cpp: no torch
    prompts, responses = synthetic_pairs(items)
    scorer = LMScorer(f'lm:{model}', model, load_settings(), engine=engine, n_threads=threads)
    start = time.perf_counter()
    scores = scorer.score(pd.DataFrame({'prompt': prompts, 'response': responses}))
    seconds = time.perf_counter() - start
    tokens = sum(len(scorer.tokenizer(t, add_special_tokens=False)['input_ids']) for t in responses)
    used = scorer.model.n_threads if engine == 'llama-cpp' else __import__('torch').get_num_threads()
    scorer.release()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = dict(engine=engine, model=model, items=items, seconds=seconds, load_seconds=scorer.load_seconds,
                  peak_rss_mb=peak, response_tokens=tokens, threads=used, scores=scores.tolist())
    out.write_text(json.dumps(result))


def run_worker(engine:str, model:str, items:int, threads:int|None, folder:Path) -> dict:
    "One (engine, model) in a subprocess; its result"
    out = folder/f'{engine}-{model}.json'
    command = [sys.executable, __file__, '--worker', engine, model, '--items', str(items), '--out', str(out)]
    subprocess.run(command + (['--threads', str(threads)] if threads else []), check=True)
    return json.loads(out.read_text())


COLUMNS = "{:<13}{:<12}{:>8}{:>6}{:>9}{:>9}{:>9}{:>10}{:>13}"

def report(results:list[dict]):
    "Print the table, the totals per engine, the speed ratio and the agreement between engines"
    print(COLUMNS.format('engine', 'model', 'threads', 'pairs', 'load s', 'total s', 'pairs/s', 'tokens/s',
                         'peak RSS MB'))
    for r in results:
        print(COLUMNS.format(r['engine'], r['model'], r['threads'], r['items'], f"{r['load_seconds']:.1f}",
                             f"{r['seconds']:.1f}",
                             f"{r['items'] / r['seconds']:.1f}", f"{r['response_tokens'] / r['seconds']:.0f}",
                             f"{r['peak_rss_mb']:.0f}"))
    totals = {}
    for r in results: totals[r['engine']] = totals.get(r['engine'], 0) + r['seconds']
    for engine, seconds in totals.items():
        peak = max(r['peak_rss_mb'] for r in results if r['engine'] == engine)
        print(f"{engine}: {seconds:.1f} s for {len(results) // len(totals)} scorer(s), peak RSS {peak:.0f} MB")
    if len(totals) == 2:
        print(f"speed ratio transformers / llama.cpp: {totals['transformers'] / totals['llama-cpp']:.2f}x")
    agreement(results)


def agreement(results:list[dict]):
    "Spearman's rho and absolute differences of the mean log-likelihoods per token of the two engines, per model"
    from scipy.stats import spearmanr
    by = {(r['engine'], r['model']): -np.log(-np.array(r['scores'])) for r in results}
    for model in MODELS:
        if ('llama-cpp', model) not in by or ('transformers', model) not in by: continue
        a, b = by['llama-cpp', model], by['transformers', model]
        keep = np.isfinite(a) & np.isfinite(b); difference = np.abs(a - b)[keep]
        print(f"{model}, mean log-likelihood per token, llama.cpp vs transformers: "
              f"Spearman {spearmanr(a[keep], b[keep])[0]:.4f}, |difference| median {np.median(difference):.4f}, "
              f"95th percentile {np.percentile(difference, 95):.4f}, max {difference.max():.4f} nats "
              f"(transformers mean {b[keep].mean():.3f}, llama.cpp mean {a[keep].mean():.3f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--items', type=int, default=360, help='pairs to score (default 360, the demo)')
    parser.add_argument('--engines', nargs='+', default=list(ENGINES), choices=ENGINES)
    parser.add_argument('--models', nargs='+', default=list(MODELS), choices=MODELS)
    parser.add_argument('--threads', type=int, help="CPU threads of both engines (default: each engine's own)")
    parser.add_argument('--worker', nargs=2, metavar=('ENGINE', 'MODEL'), help=argparse.SUPPRESS)
    parser.add_argument('--out', type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker: return worker(*args.worker, args.items, args.threads, args.out)
    with tempfile.TemporaryDirectory() as folder:
        results = [run_worker(e, m, args.items, args.threads, Path(folder)) for e in args.engines for m in args.models]
    report(results)


if __name__ == '__main__': main()
