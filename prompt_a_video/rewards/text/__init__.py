"""Text-quality and intent rewards: what the rewrite reads like, on any backbone.

Each judges the prompt a video was rendered from (``video.meta["prompt"]``, recorded by
every generator), against the ORIGINAL prompt where it needs one; none looks at frames:

- :class:`RepetitionReward` (``REP``, [0, 1]): repeated content words and phrases;
- :class:`FluencyReward` (``FLU``, nats per token, <= 0): log-likelihood under a small LM;
- :class:`LeakageReward` (``LEAK``, [0, 1]): echoed instructions, chat markup, assistant talk;
- :class:`IntentReward` (``INT``, [0, 1]): the original's content words still there;
- :class:`LexiconReward` (``LEX``, [0, 1]): no coined words ("lifetacular"), by a word list;
- :class:`TagListReward` (``TAG``, [0, 1]): no tag dump (a run of 8+ short comma items).

``TEXT_FLOORS`` are their floors, part of every composite preset
(:mod:`prompt_a_video.rewards.presets`): a rewrite at or below one can never be
evolution's ``best``, a pair's ``chosen``, or a win in the evaluation. Measured on the
VBench rewrites of GPT-4o, Wan2.1 and HunyuanVideo (``docs/rewards.md``).
:mod:`prompt_a_video.rewards.text.checks` applies the same floors to plain text (the
refiner's guard, the evaluation's rates).
"""

from prompt_a_video.rewards.text.fluency import FluencyReward, FluencyScorer
from prompt_a_video.rewards.text.intent import IntentReward, intent_score, missing_words
from prompt_a_video.rewards.text.leakage import LeakageReward, leakage_score
from prompt_a_video.rewards.text.lexicon import LexiconReward, coined_words, lexicon_score
from prompt_a_video.rewards.text.repetition import RepetitionReward, repetition_score
from prompt_a_video.rewards.text.tag_list import TagListReward, list_shape, tag_list_score, tag_run

# Strict floors (score > floor), as for every composite floor.
# LEX > 0.5: no coined word at all (one costs 0.5). TAG > 0.5: no run of 8 or more tags.
TEXT_FLOORS: dict[str, float] = {"REP": 0.75, "FLU": -8.5, "LEAK": 0.8, "INT": 0.7, "LEX": 0.5, "TAG": 0.5}

__all__ = [
    "TEXT_FLOORS", "FluencyReward", "FluencyScorer", "IntentReward", "LeakageReward", "LexiconReward",
    "RepetitionReward", "TagListReward", "coined_words", "intent_score", "leakage_score", "lexicon_score", "list_shape",
    "missing_words", "repetition_score", "tag_list_score", "tag_run",
]
