"""SceneAlignmentReward (``TVA``): did the synthetic backbone draw what the user asked for?"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.offline._frames import settings_string
from prompt_a_video.video import Video

# Subjects matter most (a cat instead of a dog is a wrong video), then what they do, then
# how they look, then where.
DEFAULT_WEIGHTS = {"subjects": 0.4, "actions": 0.3, "colours": 0.2, "scene": 0.1}
# Spellings accepted for a field, in the parse and in Video.meta.
ALIASES = {"colours": ("colours", "colors"), "colors": ("colors", "colours")}
STOPWORDS = frozenset({"a", "an", "the", "of", "with", "and", "in", "on", "at", "is", "are", "to"})
DEFAULT_PARSER = "prompt_a_video.generators.synthetic.parse_prompt"


def _stem(word: str) -> str:
    """Crude suffix stripping so that dogs/dog, running/runs/run, trees/tree meet."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]  # runn -> run, sitt -> sit
    return word


def term_key(text: str) -> frozenset[str]:
    """A term as a set of stemmed content words: ``"Golden Retrievers"`` -> ``{golden, retriever}``."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return frozenset(_stem(w) for w in words if w not in STOPWORDS)


def terms(value) -> list[frozenset[str]]:
    """Every term inside ``value``, as term keys; numbers and None are ignored.

    A string is one term; lists/tuples/sets are walked; a mapping contributes its values,
    a string value together with its key (``{"dog": "red"}`` -> "dog red", so a colour
    bound to a subject matches only that subject); an object with a string ``name`` (e.g. a
    parsed subject) is its name.
    """
    out: list[frozenset[str]] = []

    def add(text: str) -> None:
        key = term_key(text)
        if key and key not in out:
            out.append(key)

    def walk(v) -> None:
        if isinstance(v, str):
            add(v)
        elif isinstance(v, Mapping):
            for k, item in v.items():
                if isinstance(item, str) and isinstance(k, str):
                    add(f"{k} {item}")
                else:
                    walk(item)
        elif isinstance(v, (list, tuple, set, frozenset)):
            for item in v:
                walk(item)
        elif isinstance(getattr(v, "name", None), str):
            add(v.name)

    walk(value)
    return out


def _matches(wanted: frozenset[str], drawn: list[frozenset[str]]) -> bool:
    """A requested term is drawn when one term's words contain the other's ("red car" ~ "car")."""
    return any(wanted <= d or d <= wanted for d in drawn)


def _field(obj, name: str):
    """``(found, value)`` of field ``name`` (or an alias) of a parse object or a mapping."""
    for key in ALIASES.get(name, (name,)):
        if isinstance(obj, Mapping):
            if key in obj:
                return True, obj[key]
        elif hasattr(obj, key):
            return True, getattr(obj, key)
    return False, None


class SceneAlignmentReward(Reward):
    """Text-video alignment (``TVA``) for the synthetic backbone, from what it recorded.

    The synthetic backbone draws from a parse of its prompt and records what it drew in
    ``Video.meta`` (``subjects``, ``colours``, ``actions``, ``scene``, ...). This reward
    parses the ORIGINAL prompt with the same parser and measures how much of what the user
    asked for was drawn: per field, the recall ``|asked and drawn| / |asked|``; ``TVA`` is
    the weighted mean of the recalls over the fields the original prompt asks something
    of (weights renormalised over those fields; default subjects 0.4 > actions 0.3 >
    colours 0.2 > scene 0.1). Matching is tolerant: case, plurals and -ing/-ed forms are
    folded, stop words dropped, and a term matches when its words contain or are contained
    in a drawn term's words ("red car" ~ "car").

    Scale: ``[0, 1]``, higher is better; 1 when everything asked was drawn, and also when
    the parser finds nothing to ask for (nothing can be missing; every candidate of that
    prompt then ties on TVA).

    An item fails (NaN, with the reason) when its meta lacks one of the weighted fields:
    such a video does not come from the synthetic backbone, and this reward cannot judge it.

    ``parser``: dotted path of ``parse(text, token_limit=None)`` returning an object (or
    mapping) with the weighted fields, or one whose ``summary()`` returns such a mapping
    (the synthetic backbone's ``ParsedPrompt``); imported on the first :meth:`score`.
    """

    VERSION = 1

    def __init__(self, weights: dict[str, float] | None = None, parser: str = DEFAULT_PARSER) -> None:
        weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"SceneAlignmentReward.weights must be non-empty, >= 0, with a positive sum: {weights}")
        if "." not in parser:
            raise ValueError(f"SceneAlignmentReward.parser must be a dotted path 'module.function', got {parser!r}")
        self.weights = weights
        self.parser = parser
        self.dimensions = ("TVA",)
        self._parse: Callable | None = None

    @property
    def fingerprint(self) -> str:
        weights = dict(sorted(self.weights.items()))
        return f"SceneAlignmentReward/v{self.VERSION}({settings_string(weights=weights, parser=self.parser)})"

    def _parser(self) -> Callable:
        if self._parse is None:
            module, _, name = self.parser.rpartition(".")
            try:
                self._parse = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError) as err:
                raise ImportError(
                    f"cannot import the prompt parser {self.parser!r} "
                    f"(the synthetic backbone's parse_prompt): {err}"
                ) from err
        return self._parse

    def alignment(self, meta: Mapping, prompt: str) -> float:
        """TVA of one video's ``meta`` against the original ``prompt``, in ``[0, 1]``."""
        if not isinstance(meta, Mapping):
            raise ValueError(f"video.meta is {type(meta).__name__}, expected a dict")
        missing = [f for f in self.weights if not _field(meta, f)[0]]
        if missing:
            raise ValueError(
                f"video.meta lacks {missing} (has {sorted(meta)}); "
                "only the synthetic backbone records what it drew"
            )
        parsed = self._parser()(prompt, token_limit=None)
        # The synthetic parse offers the very keys its renders record in meta.
        summary = getattr(parsed, "summary", None)
        parsed = summary() if callable(summary) else parsed
        total = score = 0.0
        for name, weight in self.weights.items():
            wanted = terms(_field(parsed, name)[1])
            if not wanted or weight == 0:
                continue  # the prompt asks nothing of this field
            drawn = terms(_field(meta, name)[1])
            score += weight * sum(_matches(w, drawn) for w in wanted) / len(wanted)
            total += weight
        return score / total if total else 1.0

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        values = [self.alignment(getattr(v, "meta", None), p) for v, p in zip(videos, prompts)]
        return {"TVA": torch.tensor(values, dtype=torch.float32)}
