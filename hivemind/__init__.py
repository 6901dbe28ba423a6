"""Reproducible companion to 'Artificial Hivemind: The Open-Ended Homogeneity of Language Models' (Jiang et al., NeurIPS 2025)

Modules:

- `hivemind.answers`: The answers themselves, side by side by model and decoding, with the ones cut at the length limit marked; and a per-model account of how sampling went.
- `hivemind.bootstrap`: Seeded resamples as a count matrix, percentile intervals, and the estimate and interval of any statistic that maps a count matrix to its values: the machinery every stage's intervals share.
- `hivemind.checks`: The refusal of bad input shared by every stage: `InputError`, and `require_rows` / `require_finite`, whose errors name the function, the input, the column and the first offending rows.
- `hivemind.cli`: `hivemind run`, `status`, `plan`, `docs`, `corpus`, `pack`, `unpack` and `doctor`: run the pipeline notebooks of a profile, see where each step stands, see what a profile will cost before anything is sent, build the site of a run, measure any corpus, carry a run to another machine, and check a machine.
- `hivemind.decoding`: Degeneration measures (empty answers, non-words, repeated n-grams), each answer's log-likelihood under another model, and per decoding setting the diversity and quality of the answers with bootstrap intervals over prompts: the diversity-quality curve that tells whether temperature adds diversity or only noise.
- `hivemind.doctor`: `hivemind doctor`: is this machine ready? Python, the compiler and CPU that the local extra needs, disk, memory, the packaged models and their checksums, the Jupyter kernel, and each profile's keys and endpoints; what to fix.
- `hivemind.embedder_comparison`: Re-embed one run with several embedders, give each its own random-pair null, put similarities on a null-adjusted scale, and measure how far the embedders agree on the ranking of models and prompts.
- `hivemind.lexical`: Whether answers share *words*, not just meaning: distinct-n, self-BLEU, compression ratio, the homogenization score of Shaib et al., the longest shared passage not copied from the prompt, and the Vendi score of each (model, prompt) and of each prompt's pooled answers.
- `hivemind.pack`: `hivemind pack` and `hivemind unpack`: one archive of a run (its artifacts, executed notebooks, figures and site) with a manifest and checksums, that a class unpacks and reruns after sampling without the local models.
- `hivemind.similarity`: Intra-model repetition, inter-model homogeneity, nearest-neighbour source models, PCA, a random-pair baseline and verbatim overlap: the statistics of the paper's Figs 1, 4-6, 8, 15-18 and Table 6, vectorised.
- `hivemind.similarity_figures`: The heatmaps, matrix, box plots and PCA scatter of Figs 1, 4-6, 8, 15-18, and tables that put the paper's numbers beside a run's.
- `hivemind.site`: `hivemind docs`: a static site of one run that works offline: the README as home page, the executed pipeline notebooks as chapters, a gallery of every figure, the library notebooks as API pages; and a check that opens every page in headless Chromium with nothing allowed to leave the machine."""

__version__ = "0.0.1"
