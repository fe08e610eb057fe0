"""The prompt check and the error policy that all readers share."""

from __future__ import annotations

import subprocess
import sys

import pytest

from prompt_a_video.data import MAX_PROMPT_WORDS, DataFormatError, ErrorPolicy, InvalidRecord, check_prompt


def test_check_prompt_strips_and_accepts_the_limit():
    assert check_prompt("  a dog running \n") == "a dog running"
    limit = " ".join(["w"] * MAX_PROMPT_WORDS)
    assert check_prompt(limit) == limit


@pytest.mark.parametrize("value, field, message", [
    ("   ", "prompt", "empty prompt in field 'prompt'"),
    ("", None, "empty prompt"),
    (None, "chosen", "expected a string in field 'chosen', got null"),
    (" ".join(["w"] * 2345), "chosen", "prompt has 2,345 words in field 'chosen', more than the 2,000 allowed"),
])
def test_check_prompt_problems(value, field, message):
    with pytest.raises(InvalidRecord) as info:
        check_prompt(value, field)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_error_str_is_path_line_problem(tmp_path):
    err = DataFormatError(tmp_path / "a.json", "item 12", "chosen and rejected are identical")
    assert str(err) == f"{tmp_path / 'a.json'}:item 12: chosen and rejected are identical"
    assert err.line == "item 12" and err.problem == "chosen and rejected are identical"


def test_error_policy_arguments():
    with pytest.raises(ValueError, match="expected one of 'raise', 'skip'"):
        ErrorPolicy("warn")
    with pytest.raises(TypeError, match="skipped= must be a list"):
        ErrorPolicy("skip", skipped=0)


def test_importing_data_stays_light():
    """`pav --help` imports the data package: no torch, numpy or transformers in it."""
    code = (
        "import sys, prompt_a_video.data; "
        "heavy = {m.split('.')[0] for m in sys.modules} & {'torch', 'numpy', 'transformers', 'lightning', 'mlflow'}; "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
