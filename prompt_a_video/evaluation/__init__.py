"""Evaluation: methods side by side on one prompt set, their statistics and the report.

Modules (import them directly; this package imports nothing heavy):

- ``statistics``: ``compute_metrics`` -> the ``metrics.json`` dict (per-method means,
  paired win rates, paired bootstrap 95% intervals); pure Python + numpy.
- ``text_metrics``: prompt fidelity, diversity and length of each method's rewrites,
  from an ``embed`` callable (sentence embeddings).
- ``text_checks``: the text checks of every rewrite (degenerate, leaked, intent kept):
  per-method rates, and the verdicts that keep a failing rewrite from ever winning.
- ``target_tokens``: rewrite length in the target video model's text-encoder tokens.
- ``tables``: Markdown tables of the metrics (and the formatted rows the report reuses).
- ``plots``: PNGs (per-dimension bars, the evolved pool's best-so-far curve); matplotlib.
- ``report``: ``report.html``, one self-contained page with tables, plots, prompts and videos.
"""
