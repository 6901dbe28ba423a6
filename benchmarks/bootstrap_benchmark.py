"""Time the prompt-level bootstrap of hivemind.uncertainty at the paper's scale, against the goal of issue 11.

Goal: 1,000 bootstrap resamples of the similarity statistics at the paper's scale (25 models x 100 prompts x 50
responses = 125,000 unit vectors) in <= 30 s on 2 cores. The timed part is what a chapter runs: the per-prompt
statistics once (group sums, cell means, per-prompt cross-model means), then 1,000 resamples of the share >= 0.8
(per model and averaged), the Table 6 bins and the 25 x 25 inter-model cells, with their percentile intervals.
Also printed, outside the goal: the Fig 8 means (their per-prompt pieces are the existing neighbour stage, timed
on its own), the conditional scheme that resamples responses within each (model, prompt), the Spearman
intervals of one setting of Fig 10 at the paper's size (750 items, 62 scorers, 7 subsets, paired differences),
and what re-running the similarity stage per resample would cost (timed on a few resamples, extrapolated).

    .venv/bin/python benchmarks/bootstrap_benchmark.py                 # the paper's scale
    .venv/bin/python benchmarks/bootstrap_benchmark.py --prompts 10    # a quick look
"""
from __future__ import annotations
import argparse, os, time
import numpy as np
import pandas as pd
from hivemind.similarity import cross_model_similarity, intra_model_similarity, neighbour_models, share_above
from hivemind.uncertainty import (bootstrap_counts, bootstrap_indices, cell_draws, bin_draws, cell_means, cross_pieces,
                                  neighbour_intervals, percentile_interval, rho_intervals, share_draws,
                                  resampled_run, within_prompt_means)

GOAL_SECONDS = 30.0


def synthetic(prompts:int, models:int, samples:int, dims:int, seed:int=0) -> tuple[pd.DataFrame, np.ndarray]:
    "Unit float32 embeddings: a shared direction, a prompt part and a (model, prompt) part, as the similarity benchmark"
    rng = np.random.default_rng(seed)
    frame = pd.MultiIndex.from_product([[f'model{m:02d}' for m in range(models)], [f'prompt{p:03d}' for p in range(prompts)],
                                        range(samples)], names=['model', 'prompt_id', 'sample_index']).to_frame(index=False)
    unit = lambda shape: (lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True))(rng.standard_normal(shape, dtype=np.float32))
    shared, by_prompt, by_group = unit((1, dims)), unit((prompts, dims)), unit((models, prompts, dims))
    vectors = unit((len(frame), dims)) * np.float32(0.42) + shared * np.float32(0.39)
    vectors += np.repeat(by_prompt[None], models, axis=0).reshape(-1, dims).repeat(samples, axis=0) * np.float32(0.75)
    vectors += by_group.reshape(-1, dims).repeat(samples, axis=0) * np.float32(0.32 + 0.2 * rng.random())
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return frame, vectors


def synthetic_items(items:int, prompts:int, scorers:int, seed:int=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    "Absolute items with 25 labels each and `scorers` scorers of three types that follow the latent quality"
    rng = np.random.default_rng(seed); quality = rng.normal(size=items)
    labels = np.clip(np.round(3 + quality[:, None] + rng.normal(size=(items, 25))), 1, 5).astype(int)
    frame = pd.DataFrame({'item_id': [f'i{k}' for k in range(items)], 'prompt': [f'q{k % prompts}' for k in range(items)],
                          'response': [f'r{k}' for k in range(items)], 'labels': [list(row) for row in labels]})
    kinds = ['lm', 'reward', 'judge']
    scores = pd.concat([pd.DataFrame({'scorer': f's{s}', 'scorer_type': kinds[s % 3], 'prompt': frame.prompt,
                                      'response': frame.response, 'score': quality + rng.normal(size=items)})
                        for s in range(scorers)], ignore_index=True)
    return frame, scores


def timed(label:str, function, *args, **kwargs):
    "Run `function`, print its wall and CPU time (CPU: this process, all its threads), return (result, wall seconds)"
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f'{label:<66} {seconds:8.2f} s wall {cpu:8.2f} s CPU')
    return result, seconds


def resample_similarity(means, per_prompt, valid, resamples:int, seed:int):
    "1,000 resamples of the share >= 0.8, the bins and the cells, with their intervals"
    counts = bootstrap_counts(means.shape[1], resamples, seed)
    draws = [share_draws(means, counts), bin_draws(means, counts), cell_draws(per_prompt, valid, counts)]
    return [percentile_interval(d) for d in draws]


def naive_resample(responses, vectors, positions):
    "One resample the plain way: rebuild the drawn prompts' responses and re-run the similarity stage"
    drawn, drawn_vectors = resampled_run(responses, vectors, positions)
    return share_above(intra_model_similarity(drawn, drawn_vectors)), cross_model_similarity(drawn, drawn_vectors)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--prompts', type=int, default=100); parser.add_argument('--models', type=int, default=25)
    parser.add_argument('--samples', type=int, default=50); parser.add_argument('--dims', type=int, default=384)
    parser.add_argument('--resamples', type=int, default=1000); parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-neighbours', action='store_true', help='leave out the Fig 8 stage (slow at full size)')
    args = parser.parse_args()
    responses, vectors = synthetic(args.prompts, args.models, args.samples, args.dims, args.seed)
    print(f'{len(vectors):,} unit vectors ({args.models} models x {args.prompts} prompts x {args.samples} responses, '
          f'{args.dims} dims), {args.resamples} resamples, {os.cpu_count()} cores visible, load average '
          f'{os.getloadavg()[0]:.1f} (other processes slow the wall times)')
    (means, _, _), pieces = timed('per-prompt statistics: cell means', cell_means, responses, vectors)
    (per_prompt, valid, _), crossing = timed('per-prompt statistics: cross-model pieces', cross_pieces, responses, vectors)
    _, resampling = timed(f'{args.resamples} resamples: share >= 0.8, bins, cells + intervals', resample_similarity,
                          means, per_prompt, valid, args.resamples, args.seed)
    total = pieces + crossing + resampling
    print(f'{"GOAL: per-prompt statistics once + resamples":<66} {total:8.2f} s  = {total / GOAL_SECONDS:.3f} of the '
          f'{GOAL_SECONDS:g} s goal ({"met" if total <= GOAL_SECONDS else "NOT met"})')
    positions = bootstrap_indices(args.prompts, 3, args.seed)
    _, naive = timed('the plain way: re-run the stage on 3 resampled runs', lambda: [naive_resample(responses, vectors, p)
                                                                                       for p in positions])
    print(f'{"   extrapolated to the resamples":<66} {naive / 3 * args.resamples:8.1f} s  = '
          f'{naive / 3 * args.resamples / resampling:.0f} x the vectorised resampling')
    timed(f'conditional scheme: {args.resamples} resamples of responses per cell', within_prompt_means, responses, vectors,
          args.resamples, args.seed)
    if not args.skip_neighbours:
        neighbours, _ = timed('Fig 8 per-prompt pieces (the existing neighbour stage, once)', neighbour_models,
                              responses, vectors)
        timed(f'Fig 8 means: {args.resamples} resamples + intervals', neighbour_intervals, neighbours, args.resamples,
              args.seed)
    items, scores = synthetic_items(750, 50, 62, args.seed)
    timed(f'Fig 10a: 750 items, 62 scorers, 7 subsets, rho + paired differences', rho_intervals, items, scores,
          'absolute_similar', args.resamples, args.seed)


if __name__ == '__main__':
    main()
