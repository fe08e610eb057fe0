"""JSON Lines plumbing: crash-safe appends, repair of a cut-off line, resume keys."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass

import pytest

from prompt_a_video.data import (
    DataFormatError,
    DataFormatWarning,
    JsonlWriter,
    existing_keys,
    iter_jsonl,
)


def _lines(path):
    # Read through a separate handle, as another process would.
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_writer_flushes_each_record_before_close(tmp_path):
    path = tmp_path / "out" / "deep" / "pool.jsonl"  # parent folders are created
    with JsonlWriter(path) as writer:
        writer.write({"prompt": "a dog"})
        assert _lines(path) == [{"prompt": "a dog"}]
        writer.write({"prompt": "a cat", "scores": {"VQ": 1.5}})
        assert _lines(path) == [{"prompt": "a dog"}, {"prompt": "a cat", "scores": {"VQ": 1.5}}]
        assert writer.count == 2
    assert writer.closed
    with pytest.raises(ValueError, match="closed"):
        writer.write({"prompt": "late"})


def test_writer_appends_to_existing_file(tmp_path):
    path = tmp_path / "p.jsonl"
    with JsonlWriter(path) as w:
        w.write({"prompt": "one"})
    with JsonlWriter(path) as w:
        w.write({"prompt": "two"})
    assert [r["prompt"] for r in _lines(path)] == ["one", "two"]


def test_writer_accepts_dataclasses_and_keeps_unicode(tmp_path):
    @dataclass
    class Rec:
        prompt: str
        n: int

    path = tmp_path / "u.jsonl"
    with JsonlWriter(path) as w:
        w.write(Rec("un chien qui court — 犬", 3))
    raw = path.read_bytes()
    assert "犬".encode() in raw  # ensure_ascii=False: readable in an editor
    assert raw.count(b"\n") == 1
    assert _lines(path) == [{"prompt": "un chien qui court — 犬", "n": 3}]


def test_writer_leaves_nothing_behind_for_an_unserialisable_record(tmp_path):
    path = tmp_path / "x.jsonl"
    with JsonlWriter(path) as w:
        w.write({"prompt": "ok"})
        with pytest.raises(TypeError):
            w.write({"prompt": object()})
        with pytest.raises(TypeError, match="expected a dict or a dataclass"):
            w.write(["not", "a", "record"])
    assert _lines(path) == [{"prompt": "ok"}]


def test_nan_round_trips(tmp_path):
    path = tmp_path / "n.jsonl"
    with JsonlWriter(path) as w:
        w.write({"prompt": "a", "reward": float("nan")})
    [(line, rec)] = list(iter_jsonl(path))
    assert line == 1 and math.isnan(rec["reward"])


def test_writer_repairs_a_cut_off_last_line(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_bytes(b'{"prompt": "done"}\n{"prompt": "half-wri')
    with pytest.warns(DataFormatWarning, match=r"pool\.jsonl:2: removed a truncated last line"):
        writer = JsonlWriter(path)
    with writer:
        writer.write({"prompt": "next"})
    assert [r["prompt"] for r in _lines(path)] == ["done", "next"]


def test_writer_repairs_a_line_cut_inside_a_utf8_character(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_bytes(b'{"prompt": "done"}\n{"prompt": "\xe7\x8a')  # half of "犬"
    with pytest.warns(DataFormatWarning):
        JsonlWriter(path).close()
    assert path.read_bytes() == b'{"prompt": "done"}\n'


def test_writer_terminates_a_complete_last_line_without_newline(tmp_path, recwarn):
    # A hand-written file often lacks the final newline: its last record is kept.
    path = tmp_path / "hand.jsonl"
    path.write_bytes(b'{"prompt": "a"}\n{"prompt": "b"}')
    with JsonlWriter(path) as w:
        w.write({"prompt": "c"})
    assert [r["prompt"] for r in _lines(path)] == ["a", "b", "c"]
    assert not [w for w in recwarn if issubclass(w.category, DataFormatWarning)]


def test_writer_repairs_a_file_that_is_only_a_partial_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"prom')
    with pytest.warns(DataFormatWarning, match=r"p\.jsonl:1:"):
        JsonlWriter(path).close()
    assert path.read_bytes() == b""


def test_reader_names_a_cut_off_last_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"prompt": "a"}\n{"prompt": "b')
    with pytest.raises(DataFormatError) as info:
        list(iter_jsonl(path))
    assert info.value.line == 2
    assert info.value.problem.startswith("truncated last line (a run killed mid-write?)")
    # The same text followed by a newline is an ordinary malformed line.
    path.write_bytes(b'{"prompt": "a"}\n{"prompt": "b\n')
    with pytest.raises(DataFormatError, match=r":2: not valid JSON"):
        list(iter_jsonl(path))


def test_reader_skips_blank_lines_and_a_bom_and_accepts_crlf(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "a"}\r\n\r\n   \n{"prompt": "b"}')
    assert list(iter_jsonl(path)) == [(1, {"prompt": "a"}), (4, {"prompt": "b"})]


def test_reader_fails_at_the_call_on_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl: not found"):
        iter_jsonl(tmp_path / "nope.jsonl")  # not iterated: fails where the path was given


def test_existing_keys_for_resume(tmp_path):
    path = tmp_path / "pool.jsonl"
    assert existing_keys(path) == set()  # nothing written yet
    with JsonlWriter(path) as w:
        w.write({"prompt": "a dog", "id": "p1"})
        w.write({"prompt": "a cat", "id": "p2"})
    with open(path, "ab") as f:
        f.write(b'{"prompt": "a co')  # the run was killed here
    assert existing_keys(path) == {"a dog", "a cat"}
    assert existing_keys(path, key="id") == {"p1", "p2"}


def test_existing_keys_rejects_damage_in_the_middle(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_bytes(b'{"prompt": "a"}\nnot json\n{"prompt": "b"}\n')
    with pytest.raises(DataFormatError, match=r"pool\.jsonl:2: not valid JSON"):
        existing_keys(path)
    path.write_bytes(b'{"prompt": "a"}\n{"other": 1}\n')
    with pytest.raises(DataFormatError, match=r":2: missing key 'prompt', needed to resume"):
        existing_keys(path)


def test_resume_workflow(tmp_path):
    """A killed run, then a rerun that skips what is done and repairs the tail."""
    path = tmp_path / "pool.jsonl"
    todo = ["a", "b", "c", "d"]
    with JsonlWriter(path) as w:
        for p in todo[:2]:
            w.write({"prompt": p})
    with open(path, "ab") as f:
        f.write(b'{"prompt": "c", "cand')  # killed mid-write of "c"
    done = existing_keys(path)
    with pytest.warns(DataFormatWarning), JsonlWriter(path) as w:
        for p in todo:
            if p not in done:
                w.write({"prompt": p})
    assert [r["prompt"] for _, r in iter_jsonl(path)] == todo


def test_data_format_error_pickles_with_its_fields(tmp_path):
    err = DataFormatError(tmp_path / "x.jsonl", 7, "empty prompt in field 'prompt'")
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.line, back.problem, str(back)) == (err.path, 7, err.problem, str(err))
    assert isinstance(back, ValueError)


def test_reader_names_a_line_cut_inside_a_utf8_character(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"prompt": "a"}\n{"prompt": "\xe7\x8a')
    with pytest.raises(DataFormatError, match=r"p\.jsonl:2: truncated last line .*inside a UTF-8 character"):
        list(iter_jsonl(path))
