"""Every reader rejects every kind of bad input, naming file, location and problem.

One table: for each reader (prompts .txt/.jsonl, pool .jsonl, the paper's SFT pairs and
evolution logs, pairs .jsonl, the paper's triplets) and each kind of bad input, a file
holds a good record, the bad one, and another good record. With errors="raise" the
reader raises a DataFormatError at the bad record's location; with errors="skip" the
good records still come through, the bad one is counted in `skipped`, and a warning is
emitted. A syntax error or bad byte in a whole-document .json file cannot be skipped
(there is no next record to resume at), so it raises in both modes, still with its line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from prompt_a_video.data import (
    DataFormatError,
    DataFormatWarning,
    iter_pairs,
    iter_pool,
    load_prompts,
)

LONG = " ".join(["word"] * 2001)
TOO_LONG = r"prompt has 2,001 words{}, more than the 2,000 allowed"


@dataclass(frozen=True)
class Raw:
    """Raw bytes for one item of a JSON list: a syntax error or a bad byte."""

    data: bytes


@dataclass(frozen=True)
class Fmt:
    suffix: str
    good: tuple  # two good records (str lines for .txt, JSON values otherwise)
    layout: str  # "lines" (txt/jsonl) or "list" (one JSON list, one item a line)
    read: object

    def build(self, bad) -> bytes:
        items = [self.good[0], bad, self.good[1]]
        if self.layout == "lines":
            enc = [
                x if isinstance(x, bytes) else (x if isinstance(x, str) else json.dumps(x)).encode()
                for x in items
            ]
            return b"\n".join(enc) + b"\n"
        enc = [x.data if isinstance(x, Raw) else json.dumps(x).encode() for x in items]
        return b"[\n" + b",\n".join(enc) + b"\n]\n"


def _prompts(path, **kw):
    return [item.prompt for item in load_prompts(path, **kw)]


def _pool(path, **kw):
    return list(iter_pool(path, **kw))


def _pairs(path, **kw):
    return list(iter_pairs(path, **kw))


def _pool_record(prompt, cand="A dog sprints across a beach at golden hour, slow motion"):
    c = {"prompt": cand, "iteration": 0, "scores": {"VQ": 3.1, "TVA": 2.5}, "reward": 2.8}
    return {"prompt": prompt, "backbone": "synthetic@1", "candidates": [c], "best": c}


def _evo(original, scores=None):
    scores = scores or {"VQ": 2.0, "TVA": 3.0}
    return [
        [{"prompt": original, "scores": scores}, {"prompt": original + ", cinematic", "scores": scores}],
        [{"prompt": original + ", 4k, slow motion", "scores": scores}],
    ]


def _pair(prompt="a dog", **over):
    rec = {
        "prompt": prompt, "chosen": "a dog running on a beach, 4k", "rejected": "a dog",
        "chosen_reward": 3.2, "rejected_reward": 2.9,
        "chosen_scores": {"VQ": 3.2}, "rejected_scores": {"VQ": 2.9},
    }
    rec.update(over)
    return rec


FORMATS = {
    "prompts-txt": Fmt(".txt", ("a dog running", "a cat sleeping"), "lines", _prompts),
    "prompts-jsonl": Fmt(".jsonl", ({"prompt": "a dog running", "tag": "animal"}, {"prompt": "a cat"}), "lines", _prompts),
    "pool-jsonl": Fmt(".jsonl", (_pool_record("a dog"), _pool_record("a cat")), "lines", _pool),
    "pool-sft-json": Fmt(".json", (["a dog", "A golden retriever sprints across a beach"], ["a cat", "A tabby cat naps in the sun"]), "list", _pool),
    "pool-evolution-json": Fmt(".json", (_evo("a dog"), _evo("a cat")), "list", _pool),
    "pairs-jsonl": Fmt(".jsonl", (_pair("a dog"), _pair("a cat")), "lines", _pairs),
    "pairs-triplet-json": Fmt(".json", ({"prompt": "a dog", "chosen": "a dog on a beach", "rejected": "a dog"}, {"prompt": "a cat", "chosen": "a cat asleep", "rejected": "a cat"}), "list", _pairs),
}

BAD_UTF8_LINE = b'{"prompt": "a \xff dog"}'
BAD_UTF8_ITEM = Raw(b'["a \xff dog", "x"]')
BROKEN_JSON_LINE = b'{"prompt": "a dog",'
BROKEN_JSON_ITEM = Raw(b'{"prompt": "a dog",,}')

# (format, kind, bad record, expected location, problem regex, skippable)
CASES = [
    # prompts .txt: no JSON and no keys in a text file
    ("prompts-txt", "non-utf8", b"a \xff dog", 2, r"not valid UTF-8: byte 0xff at column 3 \(file offset 16\)", True),
    ("prompts-txt", "too-long", LONG, 2, TOO_LONG.format(""), True),
    # prompts .jsonl
    ("prompts-jsonl", "malformed", BROKEN_JSON_LINE, 2, r"not valid JSON: .*column", True),
    ("prompts-jsonl", "not-object", b'["a dog"]', 2, r"expected a JSON object, got a list", True),
    ("prompts-jsonl", "missing-key", {"text": "a dog"}, 2, r"missing key 'prompt'", True),
    ("prompts-jsonl", "non-utf8", BAD_UTF8_LINE, 2, r"not valid UTF-8: byte 0xff at column 15", True),
    ("prompts-jsonl", "empty", {"prompt": "  "}, 2, r"empty prompt in field 'prompt'", True),
    ("prompts-jsonl", "too-long", {"prompt": LONG}, 2, TOO_LONG.format(" in field 'prompt'"), True),
    ("prompts-jsonl", "wrong-type", {"prompt": 42}, 2, r"expected a string in field 'prompt', got 42", True),
    # pool .jsonl
    ("pool-jsonl", "malformed", BROKEN_JSON_LINE, 2, r"not valid JSON", True),
    ("pool-jsonl", "missing-key", {"prompt": "a dog"}, 2, r"missing key 'candidates'", True),
    ("pool-jsonl", "non-utf8", BAD_UTF8_LINE, 2, r"not valid UTF-8: byte 0xff", True),
    ("pool-jsonl", "empty", _pool_record("a dog", cand=""), 2, r"empty prompt in field 'candidates\[0\]\.prompt'", True),
    ("pool-jsonl", "too-long", _pool_record(LONG), 2, TOO_LONG.format(" in field 'prompt'"), True),
    ("pool-jsonl", "wrong-type",
     {**_pool_record("a dog"), "candidates": [{"prompt": "x"}] * 3 + [{"prompt": "y", "scores": {"TVA": "high"}}]},
     2, r'candidates\[3\]\.scores\.TVA: expected a number or null, got "high"', True),
    ("pool-jsonl", "bad-iteration", {**_pool_record("a dog"), "best": {"prompt": "y", "iteration": 1.5}},
     2, r"best\.iteration: expected an integer >= 0 or null, got 1\.5", True),
    ("pool-jsonl", "infinite", {**_pool_record("a dog"), "best": {"prompt": "y", "reward": float("inf")}},
     2, r"best\.reward: expected a finite number or NaN", True),
    # the paper's SFT pairs (.json list of [original, refined])
    ("pool-sft-json", "malformed", BROKEN_JSON_ITEM, 3, r"not valid JSON: .*column", False),
    ("pool-sft-json", "not-a-pair", "a dog", "item 1", r"expected an \[original, refined\] pair of strings, got \"a dog\"", True),
    ("pool-sft-json", "missing-key", ["a dog"], "item 1", r"pair of strings, got a list of 1 item$", True),
    ("pool-sft-json", "non-utf8", BAD_UTF8_ITEM, 3, r"not valid UTF-8: byte 0xff at column 5", False),
    ("pool-sft-json", "empty", ["a dog", " "], "item 1", r"empty prompt in field 'refined'", True),
    ("pool-sft-json", "too-long", [LONG, "a dog"], "item 1", TOO_LONG.format(" in field 'original'"), True),
    # the paper's evolution logs (.json list of iterations of {"prompt", "scores"})
    ("pool-evolution-json", "malformed", BROKEN_JSON_ITEM, 3, r"not valid JSON", False),
    ("pool-evolution-json", "not-iterations", [[{"prompt": "a", "scores": {}}], "x"], "item 1",
     r"\[1\]: expected an iteration \(a list of", True),
    ("pool-evolution-json", "missing-key", [[{"prompt": "a dog", "scores": {}}, {"prompt": "a dog, 4k"}]],
     "item 1", r"\[0\]\[1\]: missing key 'scores'", True),
    ("pool-evolution-json", "non-utf8", BAD_UTF8_ITEM, 3, r"not valid UTF-8", False),
    ("pool-evolution-json", "empty", [[{"prompt": "a dog", "scores": {}}], [{"prompt": "", "scores": {}}]],
     "item 1", r"empty prompt in field '\[1\]\[0\]\.prompt'", True),
    ("pool-evolution-json", "too-long", [[{"prompt": LONG, "scores": {}}]], "item 1",
     TOO_LONG.format(r" in field '\[0\]\[0\]\.prompt'"), True),
    ("pool-evolution-json", "wrong-type", [[{"prompt": "a dog", "scores": {"TVA": "high"}}]], "item 1",
     r'\[0\]\[0\]\.scores\.TVA: expected a number or null, got "high"', True),
    ("pool-evolution-json", "empty-iteration-0", [[], [{"prompt": "a dog", "scores": {}}]], "item 1",
     r"iteration 0 is empty", True),
    # pairs .jsonl
    ("pairs-jsonl", "malformed", BROKEN_JSON_LINE, 2, r"not valid JSON", True),
    ("pairs-jsonl", "missing-key", {"prompt": "a", "chosen": "b"}, 2, r"missing key 'rejected'", True),
    ("pairs-jsonl", "non-utf8", BAD_UTF8_LINE, 2, r"not valid UTF-8", True),
    ("pairs-jsonl", "empty", _pair(chosen="\t"), 2, r"empty prompt in field 'chosen'", True),
    ("pairs-jsonl", "too-long", _pair(rejected=LONG), 2, TOO_LONG.format(" in field 'rejected'"), True),
    ("pairs-jsonl", "identical", _pair(chosen="same", rejected=" same "), 2, r"chosen and rejected are identical", True),
    ("pairs-jsonl", "wrong-type", _pair(chosen_reward="3.2"), 2, r'chosen_reward: expected a number or null, got "3\.2"', True),
    ("pairs-jsonl", "bool-score", _pair(rejected_scores={"VQ": True}), 2, r"rejected_scores\.VQ: expected a number or null, got true", True),
    # the paper's triplets (.json list of {"prompt", "chosen", "rejected"})
    ("pairs-triplet-json", "malformed", BROKEN_JSON_ITEM, 3, r"not valid JSON", False),
    ("pairs-triplet-json", "not-object", ["a", "b", "c"], "item 1", r"expected a pair object, got a list of 3 items", True),
    ("pairs-triplet-json", "missing-key", {"prompt": "a dog", "rejected": "a dog"}, "item 1", r"missing key 'chosen'", True),
    ("pairs-triplet-json", "non-utf8", BAD_UTF8_ITEM, 3, r"not valid UTF-8", False),
    ("pairs-triplet-json", "empty", {"prompt": "", "chosen": "a", "rejected": "b"}, "item 1", r"empty prompt in field 'prompt'", True),
    ("pairs-triplet-json", "too-long", {"prompt": "a", "chosen": LONG, "rejected": "b"}, "item 1", TOO_LONG.format(" in field 'chosen'"), True),
    ("pairs-triplet-json", "identical", {"prompt": "a", "chosen": "b", "rejected": "b"}, "item 1", r"chosen and rejected are identical", True),
]

IDS = [f"{fmt}-{kind}" for fmt, kind, *_ in CASES]


def _write(tmp_path: Path, fmt_name: str, bad) -> tuple[Fmt, Path]:
    fmt = FORMATS[fmt_name]
    path = tmp_path / f"data{fmt.suffix}"
    path.write_bytes(fmt.build(bad))
    return fmt, path


def test_table_covers_every_reader_and_kind():
    """The issue's "done when": each reader × malformed, missing key, bad UTF-8, empty, too long."""
    kinds = {(fmt, kind) for fmt, kind, *_ in CASES}
    for fmt in FORMATS:
        required = {"non-utf8", "empty", "too-long"}
        if fmt == "prompts-txt":  # a .txt file has no JSON and no keys, and skips blank lines (test_line_files.py)
            required -= {"empty"}
        else:
            required |= {"malformed", "missing-key"}
        assert required <= {k for f, k in kinds if f == fmt}, fmt


@pytest.mark.parametrize("fmt_name, kind, bad, line, problem, skippable", CASES, ids=IDS)
def test_reader_raises_with_location(tmp_path, fmt_name, kind, bad, line, problem, skippable):
    fmt, path = _write(tmp_path, fmt_name, bad)
    with pytest.raises(DataFormatError) as info:
        fmt.read(path)
    err = info.value
    assert err.path == path
    assert err.line == line
    assert re.search(problem, err.problem), err.problem
    assert str(err) == f"{path}:{line}: {err.problem}"


@pytest.mark.parametrize("fmt_name, kind, bad, line, problem, skippable", CASES, ids=IDS)
def test_reader_skips_bad_record(tmp_path, fmt_name, kind, bad, line, problem, skippable):
    fmt, path = _write(tmp_path, fmt_name, bad)
    skipped: list[DataFormatError] = []
    if not skippable:
        # A whole-document syntax error: nothing to skip to; it raises in skip mode too.
        with pytest.raises(DataFormatError) as info:
            fmt.read(path, errors="skip", skipped=skipped)
        assert info.value.line == line
        return
    with pytest.warns(DataFormatWarning, match=re.escape(f"{path}:{line}: ")):
        records = fmt.read(path, errors="skip", skipped=skipped)
    assert len(records) == 2
    assert [(e.path, e.line) for e in skipped] == [(path, line)]
    assert re.search(problem, skipped[0].problem)


@pytest.mark.parametrize("read", [_prompts, _pool, _pairs])
def test_errors_keyword_is_validated(tmp_path, read):
    path = tmp_path / "x.jsonl"
    path.write_text('{"prompt": "a"}\n')
    with pytest.raises(ValueError, match="errors='ignore': expected one of 'raise', 'skip'"):
        read(path, errors="ignore")


def test_skip_without_a_list_still_warns(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": ""}\n')
    with pytest.warns(DataFormatWarning, match=r"p\.jsonl:2: empty prompt"):
        assert _prompts(path, errors="skip") == ["a"]
