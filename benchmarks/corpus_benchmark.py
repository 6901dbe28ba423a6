"""`hivemind corpus` at 10,000 texts in groups with the packaged MiniLM, embedding included (goal: <= 3 minutes on 2 cores).

Prints the seconds of each part and the ratio of the total to the goal, measured in this one run.
Usage: python benchmarks/corpus_benchmark.py [--texts 10000] [--groups 50]
"""
import argparse, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd
from hivemind.corpus import corpus_embedder, measure_vectors, write_corpus
from hivemind.embeddings import embed_texts

GOAL_SECONDS = 180.0


def sentences(count:int, groups:int, seed:int=0) -> pd.DataFrame:
    "`count` short synthetic sentences in `groups` groups, each group with its own topic words"
    rng = np.random.default_rng(seed)
    nouns = 'river city model paper garden machine story song market forest theory bridge window letter'.split()
    verbs = 'shapes follows changes explains hides reveals builds breaks measures holds'.split()
    group = rng.integers(0, groups, count)
    topic = {g: rng.choice(nouns, 3, replace=False) for g in range(groups)}
    texts = [f"The {rng.choice(topic[g])} {rng.choice(verbs)} the {rng.choice(nouns)} near the {rng.choice(topic[g])} {i}."
             for i, g in enumerate(group)]
    return pd.DataFrame({'text': texts, 'group': [f'g{g:02d}' for g in group]})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--texts', type=int, default=10_000)
    parser.add_argument('--groups', type=int, default=50)
    args = parser.parse_args()
    corpus = sentences(args.texts, args.groups)
    started = time.perf_counter()
    vectors = embed_texts(list(corpus.text), corpus_embedder('minilm'))
    embedded = time.perf_counter()
    result = measure_vectors(corpus, vectors, 'minilm', resamples=1000)
    measured = time.perf_counter()
    write_corpus(result, Path(tempfile.mkdtemp()))
    finished = time.perf_counter()
    total = finished - started
    print(f"{args.texts} texts in {args.groups} groups, MiniLM, 1,000 resamples")
    print(f"embedding {embedded - started:.1f} s, statistics {measured - embedded:.1f} s, files {finished - measured:.1f} s")
    print(f"total {total:.1f} s; ratio to the {GOAL_SECONDS:.0f} s goal: {total / GOAL_SECONDS:.2f}")


if __name__ == '__main__':
    main()
