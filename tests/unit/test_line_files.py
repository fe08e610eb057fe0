"""Line files (``.txt`` prompt sets, prompts piped to `pav refine`) are read by one rule:
one prompt a line; blank lines and lines whose first non-space character is ``#`` are
skipped, anywhere in the file."""

from __future__ import annotations

import io
from importlib.resources import files

import pytest

from prompt_a_video.commands.refine import gather_prompts
from prompt_a_video.data import DataFormatError, load_prompts, write_prompts_txt
from prompt_a_video.data.prompt_sets import NAMES
from prompt_a_video.data.prompts import read_prompt_lines

TEXT = ("# my prompts, for the smoke test\n"
        "a dog running\n"
        "\n"
        "   \t\n"
        "  # an indented comment\n"
        "#hashtags first: a comment too\n"
        "a cat # not a comment: '#' is not the first character\n"
        "\n"
        "  a red car  \n"
        "\n")
EXPECTED = [("a dog running", 2), ("a cat # not a comment: '#' is not the first character", 7), ("a red car", 9)]


def test_a_txt_file_skips_blank_and_comment_lines_anywhere_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert [(item.prompt, item.line) for item in load_prompts(path)] == EXPECTED


def test_stdin_text_and_a_file_with_the_same_lines_give_the_same_prompts(tmp_path):
    for text in (TEXT, TEXT.replace("\n", "\r\n"), "\ufeff" + TEXT, "a dog\n\n\na cat", "# only\n\n  # comments\n"):
        path = tmp_path / "p.txt"
        path.write_bytes(text.encode("utf-8"))
        from_stdin = [(item.prompt, item.line) for item in read_prompt_lines(text)]
        if from_stdin:
            assert [(item.prompt, item.line) for item in load_prompts(path)] == from_stdin, repr(text)
        else:  # a file without a prompt is an error; stdin leaves that to the command
            with pytest.raises(ValueError, match="no prompt in this prompt set"):
                load_prompts(path)


def test_pav_refine_reads_stdin_by_the_same_rule(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(TEXT))
    assert gather_prompts(None, None) == [prompt for prompt, _ in EXPECTED]
    monkeypatch.setattr("sys.stdin", io.StringIO("# a comment\n\nthe prompt\n"))
    assert gather_prompts(["first", "-"], None) == ["first", "the prompt"]


def test_a_bad_line_is_named_by_its_source_and_line(tmp_path):
    long = " ".join(["word"] * 2001)
    with pytest.raises(DataFormatError, match=r"^<stdin>:3: "):
        read_prompt_lines(f"a dog\n# fine\n{long}\n")
    path = tmp_path / "p.txt"
    path.write_text(f"a dog\n\n{long}\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"p\.txt:3: "):
        load_prompts(path)


def test_a_prompt_file_of_comments_and_blank_lines_is_an_error_naming_it(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("# nothing here yet\n\n   \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"notes\.txt: no prompt in this prompt set \(blank lines and lines "
                                         r"starting with '#' are skipped"):
        load_prompts(path)


def test_writing_a_txt_set_refuses_a_prompt_the_reader_would_skip(tmp_path):
    path = tmp_path / "p.txt"
    with pytest.raises(ValueError, match=r"prompt 1: starts with '#'.*\.jsonl"):
        write_prompts_txt(path, ["a dog", "#sunset girl on a swing"])
    assert not path.exists()
    write_prompts_txt(path, ["a dog", "girl on a swing #sunset"])
    assert [item.prompt for item in load_prompts(path)] == ["a dog", "girl on a swing #sunset"]


@pytest.mark.parametrize("name", NAMES)
def test_every_line_of_a_shipped_prompt_set_is_a_prompt(name):
    # no shipped prompt is lost to the comment rule: every line is read as a prompt
    text = (files("prompt_a_video.data.prompt_sets") / f"{name}.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert [item.prompt for item in load_prompts(f"pav:{name}")] == [line.strip() for line in lines]
    assert not [line for line in lines if not line.strip() or line.lstrip().startswith("#")]
