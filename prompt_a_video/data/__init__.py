"""Data formats that connect the stages: prompt sets, evolved pools, preference pairs.

Readers name the file, line and problem of every bad record (``DataFormatError``) and
share one error policy (``errors="raise"|"skip"``, ``skipped=[...]``); writers append
and flush record by record so that a killed run loses at most the record in flight and a
rerun resumes (``existing_keys``). The formats are specified in DESIGN.md, "File
formats". Standard library only: importing this must stay cheap (``pav --help``).
"""

from .errors import DataFormatError, DataFormatWarning, ErrorPolicy, InvalidRecord
from .jsonl import JsonlWriter, existing_keys, iter_jsonl
from .pairs import PreferencePair, iter_pairs
from .pool import Candidate, PoolRecord, iter_pool, mean_score, pick_best, sft_pairs
from .prompts import PromptItem, load_prompts, write_prompts_txt
from .validation import MAX_PROMPT_WORDS, check_prompt

__all__ = [
    "DataFormatError",
    "DataFormatWarning",
    "ErrorPolicy",
    "InvalidRecord",
    "MAX_PROMPT_WORDS",
    "check_prompt",
    "iter_jsonl",
    "JsonlWriter",
    "existing_keys",
    "PromptItem",
    "load_prompts",
    "write_prompts_txt",
    "Candidate",
    "PoolRecord",
    "iter_pool",
    "sft_pairs",
    "mean_score",
    "pick_best",
    "PreferencePair",
    "iter_pairs",
]
