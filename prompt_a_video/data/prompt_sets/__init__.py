"""The project's own prompt sets, shipped with the package (DESIGN.md, "Prompt splits").

User-style prompts (people, animals, vehicles, objects, scenes, actions), none of them a
VBench prompt, one prompt a line. Three disjoint splits, by prompt:

- ``evolution.txt``: sources of reward-guided evolution, hence of SFT (50%);
- ``dpo.txt``: sources of preference pairs for DPO (30%);
- ``eval.txt``: in-domain evaluation (20%); VBench is the out-of-domain one.

Each split mixes short template prompts ("a crab hiding in the sand at dawn") with about a
quarter of hand-written messy ones, as users type them (stock-footage captions, fragments,
names and places, counts, run-on lists, typos, casual requests, a few in other languages),
interleaved so the first N lines and an even spread of N lines hold both in about that share.

And one held-out set, for evaluation only, never a training source:

- ``wild.txt``: 60 real-looking user prompts and web-video captions, unlike the splits in
  subjects and phrasing (captions, casual prompts with typos, run-on descriptions,
  non-English, all caps / emoji / hashtags); disjoint from the three splits and VBench.

Load them by name: ``load_prompts("pav:evolution")``, ..., ``load_prompts("pav:wild")``.
Built by ``scripts/make_source_prompts.py`` from its templates and the hand-written lists
in ``scripts/user_prompts.py`` (seeded; ``--check`` verifies the files are current).
"""

SPLITS = ("evolution", "dpo", "eval")
#: Evaluation-only sets: loadable like the splits, never a source of evolution, SFT or DPO.
HELD_OUT = ("wild",)
#: Every shipped set, as ``pav:<name>`` names it.
NAMES = SPLITS + HELD_OUT
