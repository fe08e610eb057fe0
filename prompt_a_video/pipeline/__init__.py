"""`pav pipeline`: the method's stages in order in a work directory (run.py), with
per-stage skip-if-done state (stage_state) and `pav fit` stages wired in-process (fit_stage)."""
