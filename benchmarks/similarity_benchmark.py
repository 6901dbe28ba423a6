"""Time hivemind's similarity stage against a straightforward reimplementation of the authors' algorithm.

Both run, in one process, on the same synthetic embeddings at the paper's scale (100 prompts x 25 models x 50
responses = 125,000 unit vectors, 384 and 1,536 dimensions). The reference does what the paper describes, the
plain way: a cosine matrix per (model, prompt) group and per (model pair, prompt), and for Fig 8 a cosine matrix per
prompt and, for every j, a partition of every row and a set of the source models. Each step prints both times,
the speed ratio, the peak memory each allocates (tracemalloc, measured in a second pass so that tracing does not
slow the timings), and the largest difference between the two results.

    nice .venv/bin/python benchmarks/similarity_benchmark.py            # the paper's scale, both dimensions
    .venv/bin/python benchmarks/similarity_benchmark.py --prompts 10 --dims 384   # a quick look
"""
from __future__ import annotations
import argparse, time, tracemalloc
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.metrics.pairwise import cosine_similarity
from hivemind.similarity import (baseline_members, closest_cross_model_pairs, cross_model_similarity, intra_model_similarity,
                                 neighbour_depths, neighbour_models, pca_2d, random_pair_baseline, similarity_histogram, unit_rows)



def synthetic(prompts:int, models:int, samples:int, dims:int, seed:int=0) -> tuple[pd.DataFrame, np.ndarray]:
    "Unit float32 embeddings with a shared direction (random pairs ~0.15), a prompt part (cross-model ~0.7) and a (model, prompt) part (intra ~0.8)"
    rng = np.random.default_rng(seed)
    frame = pd.MultiIndex.from_product([[f'model{m:02d}' for m in range(models)], [f'prompt{p:03d}' for p in range(prompts)], range(samples)],
                                       names=['model', 'prompt_id', 'sample_index']).to_frame(index=False)
    unit = lambda shape: (lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True))(rng.standard_normal(shape, dtype=np.float32))
    shared, by_prompt, by_group = unit((1, dims)), unit((prompts, dims)), unit((models, prompts, dims))
    vectors = unit((len(frame), dims)) * np.float32(0.42)
    vectors += shared * np.float32(0.39)
    vectors += np.repeat(by_prompt[None], models, axis=0).reshape(-1, dims).repeat(samples, axis=0) * np.float32(0.75)
    vectors += by_group.reshape(-1, dims).repeat(samples, axis=0) * np.float32(0.32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    frame['text'] = [f'response {i} of {m} to {p}' for i, (m, p) in enumerate(zip(frame.model, frame.prompt_id))]
    return frame, vectors


# ------------------------------------------------------------------ the reference: the plain way

def reference_intra(frame, vectors):
    "Per (model, prompt): the cosine matrix of its responses, mean of the strict upper triangle"
    rows = []
    for (model, prompt), index in frame.groupby(['model', 'prompt_id']).indices.items():
        matrix = cosine_similarity(vectors[index])
        rows.append((model, prompt, matrix[np.triu_indices(len(index), 1)].mean()))
    return pd.DataFrame(rows, columns=['model', 'prompt_id', 'mean_similarity'])


def reference_cross(frame, vectors):
    "Per pair of models and prompt: the cross cosine matrix, its mean; then the mean over prompts (self-pairs included on the diagonal, as the authors did)"
    groups = frame.groupby(['model', 'prompt_id']).indices
    models, prompts = sorted(frame.model.unique()), sorted(frame.prompt_id.unique())
    matrix = pd.DataFrame(0.0, index=models, columns=models)
    for i, a in enumerate(models):
        for b in models[i:]:
            value = np.mean([cosine_similarity(vectors[groups[a, p]], vectors[groups[b, p]]).mean() for p in prompts])
            matrix.loc[a, b] = matrix.loc[b, a] = value
    return matrix


def reference_neighbours(frame, vectors, depths):
    "For every j: per prompt, the cosine matrix, then per response a partition for its j nearest and a set of their models"
    result = {}
    for j in depths:
        for prompt, index in frame.groupby('prompt_id').indices.items():
            similarity = cosine_similarity(vectors[index])
            models = frame.model.to_numpy()[index]
            counts = []
            for i in range(len(index)):
                row = similarity[i].copy(); row[i] = -np.inf
                nearest = np.argpartition(-row, j - 1)[:j]
                counts.append(len(set(models[nearest])))
            result.setdefault(prompt, {})[j] = np.mean(counts)
    return pd.DataFrame.from_dict(result, orient='index')[depths]


def reference_baseline(frame, vectors, groups_per_model=100, seed=0):
    "The same random draws as hivemind's baseline, each group's cosine matrix computed and averaged"
    rng = np.random.default_rng(seed)
    size = max(2, min(int(frame.groupby(['model', 'prompt_id']).size().median()), frame.prompt_id.nunique()))  # hivemind's rule
    values = []
    for model, own in frame.groupby('model').indices.items():
        for members in own[baseline_members(pd.factorize(frame.prompt_id.iloc[own])[0], groups_per_model, size, rng)]:
            values.append(cosine_similarity(vectors[members])[np.triu_indices(size, 1)].mean())
    return np.array(values)


def reference_pca(frame, vectors, prompts):
    return [PCA(n_components=2).fit_transform(vectors[frame.index[frame.prompt_id == p]]) for p in prompts]


# ------------------------------------------------------------------ the steps

def steps(frame, vectors, pca_prompts):
    "(name, ours, reference, difference of the results) for every step"
    depths = neighbour_depths(int(frame.groupby('prompt_id').size().min()))  # 5, 10, ..., 50 at the paper's scale
    intra = intra_model_similarity(frame, vectors)
    def intra_difference(ours, ref):
        merged = ours.merge(ref, on=['model', 'prompt_id']); return np.abs(merged.mean_similarity_x - merged.mean_similarity_y).max()
    return [
        ('intra-model means (Fig 4)', lambda: intra_model_similarity(frame, vectors), lambda: reference_intra(frame, vectors), intra_difference),
        ('Table 6 histogram (from the means)', lambda: similarity_histogram(intra), None, None),
        ('inter-model matrix (Fig 6)', lambda: cross_model_similarity(frame, vectors, self_pairs=True), lambda: reference_cross(frame, vectors),
         lambda ours, ref: np.abs(ours.to_numpy() - ref.loc[ours.index, ours.columns].to_numpy()).max()),
        (f'neighbours, j = {depths[0]}..{depths[-1]} (Fig 8)', lambda: neighbour_models(frame, vectors, depths), lambda: reference_neighbours(frame, vectors, depths),
         lambda ours, ref: np.abs(ours.to_numpy() - ref.loc[ours.index].to_numpy()).max()),
        ('random-pair baseline', lambda: random_pair_baseline(frame, vectors, 100, seed=0), lambda: reference_baseline(frame, vectors, 100, seed=0),
         lambda ours, ref: np.abs(ours.mean_similarity.to_numpy() - ref).max()),
        (f'PCA of {len(pca_prompts)} prompts (Figs 1, 15-18)', lambda: [pca_2d(vectors[frame.index[frame.prompt_id == p]])[0] for p in pca_prompts],
         lambda: reference_pca(frame, vectors, pca_prompts), lambda ours, ref: max(np.abs(np.abs(o) - np.abs(r)).max() for o, r in zip(ours, ref))),
        ('verbatim-overlap candidates (top 10)', lambda: closest_cross_model_pairs(frame, vectors, 10), None, None),
    ]


def timed(function):
    start = time.perf_counter(); result = function(); return time.perf_counter() - start, result


def peak_megabytes(function):
    tracemalloc.start(); tracemalloc.reset_peak()
    function()
    peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    return peak / 2**20


def first_prompts(frame, vectors, count):
    "The responses (and vectors) of the first `count` prompts"
    kept = frame.prompt_id.isin(sorted(frame.prompt_id.unique())[:count]).to_numpy()
    return frame[kept].reset_index(drop=True), vectors[kept]


def run(prompts, models, samples, dims, reference_prompts, memory_prompts, memory):
    "Time (and trace) every step, ours on all prompts, the reference on the first `reference_prompts`; return our total seconds"
    frame, vectors = synthetic(prompts, models, samples, dims)
    print(f"\n=== {prompts} prompts x {models} models x {samples} responses = {len(frame):,} vectors, {dims} dims "
          f"({vectors.nbytes / 2**20:.0f} MB float32) ===")
    intra = intra_model_similarity(frame, vectors).mean_similarity
    print(f"synthetic data: intra-model mean {intra.mean():.3f}, share >= 0.8 {100 * (intra >= 0.8).mean():.1f}%")
    (small, small_vectors), scale = first_prompts(frame, vectors, reference_prompts), prompts / reference_prompts
    (tiny, tiny_vectors) = first_prompts(frame, vectors, min(memory_prompts, reference_prompts))
    pca_prompts = sorted(frame.prompt_id.unique())[:5]
    within = lambda data: [p for p in pca_prompts if p in set(data.prompt_id)]
    full_steps, small_steps, tiny_steps = steps(frame, vectors, pca_prompts), steps(small, small_vectors, within(small)), steps(tiny, tiny_vectors, within(tiny))
    note = '' if scale == 1 else f'   (reference on {reference_prompts} prompts, its time x {scale:g})'
    print(f"reference memory traced on the first {tiny.prompt_id.nunique()} prompts (its loops hold one prompt or group at a time)")
    print(f"{'step':40s} {'ours s':>8s} {'reference s':>12s} {'ratio':>7s} {'ours MB':>8s} {'ref MB':>8s} {'max |diff|':>11s}{note}")
    total_ours = total_reference = 0.0
    for (name, ours, _, difference), (_, ours_small, reference, _), (_, _, tiny_reference, _) in zip(full_steps, small_steps, tiny_steps):
        ours_time, ours_result = timed(ours); total_ours += ours_time
        ours_memory = f'{peak_megabytes(ours):8.0f}' if memory else f"{'-':>8s}"
        if reference is None:
            print(f"{name:40s} {ours_time:8.2f} {'-':>12s} {'-':>7s} {ours_memory} {'-':>8s} {'-':>11s}"); continue
        reference_time, reference_result = timed(reference)
        reference_time *= 1 if name.startswith('PCA') else scale; total_reference += reference_time  # PCA runs on the same 5 prompts in both
        gap = difference(ours_result if scale == 1 or name.startswith('PCA') else ours_small(), reference_result)
        reference_memory = f'{peak_megabytes(tiny_reference):8.0f}' if memory else f"{'-':>8s}"
        print(f"{name:40s} {ours_time:8.2f} {reference_time:12.2f} {reference_time / ours_time:7.1f} {ours_memory} {reference_memory} {gap:11.2e}")
    print(f"{'whole similarity stage (ours)':40s} {total_ours:8.2f} {total_reference:12.2f}   (reference: the steps it has)")
    return total_ours


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--prompts', type=int, default=100)
    parser.add_argument('--models', type=int, default=25)
    parser.add_argument('--samples', type=int, default=50)
    parser.add_argument('--dims', type=int, nargs='+', default=[384, 1536])
    parser.add_argument('--reference-prompts', type=int, default=None, help='run the reference on the first N prompts only and scale its time (default: all)')
    parser.add_argument('--memory-prompts', type=int, default=10, help='prompts the reference runs on in the tracemalloc pass')
    parser.add_argument('--no-memory', action='store_true', help='skip the tracemalloc pass')
    arguments = parser.parse_args()
    import os
    print(f"similarity benchmark: {os.cpu_count()} CPUs, numpy {np.__version__}; times are wall seconds, ratio = reference / ours; "
          f"memory = peak bytes allocated during the step (tracemalloc; the reference's on the prompts it ran)")
    for dims in arguments.dims:
        run(arguments.prompts, arguments.models, arguments.samples, dims, arguments.reference_prompts or arguments.prompts, arguments.memory_prompts, not arguments.no_memory)
