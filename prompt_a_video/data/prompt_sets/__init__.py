"""The project's own source prompts, shipped with the package (DESIGN.md, "Prompt splits").

Short, user-style prompts (people, animals, vehicles, objects, scenes, actions), none of
them a VBench prompt, split by prompt into three disjoint sets, one prompt a line:

- ``evolution.txt``: sources of reward-guided evolution, hence of SFT (50%);
- ``dpo.txt``: sources of preference pairs for DPO (30%);
- ``eval.txt``: in-domain evaluation (20%); VBench is the out-of-domain one.

Load them by name: ``load_prompts("pav:evolution")``. Built by
``scripts/make_source_prompts.py`` (seeded; ``--check`` verifies the files are current).
"""

SPLITS = ("evolution", "dpo", "eval")
