"""Prompt sets: .txt and .jsonl files, and VBench's named set."""

from __future__ import annotations

import json
import sys
import types

import pytest

from prompt_a_video.data import DataFormatError, load_prompts


def test_txt_skips_blank_lines_and_keeps_each_prompt_s_line(tmp_path):
    # the one rule of line files (tests/unit/test_line_files.py): blank lines are skipped anywhere
    path = tmp_path / "p.txt"
    path.write_bytes(b"a dog running\r\n  a cat  \n\n\n  \n")
    items = load_prompts(path)
    assert [(i.prompt, i.line) for i in items] == [("a dog running", 1), ("a cat", 2)]
    path.write_bytes(b"a dog\n\n\na cat\n")
    assert [(i.prompt, i.line) for i in load_prompts(path)] == [("a dog", 1), ("a cat", 4)]


def test_txt_with_bom_and_str_path(tmp_path):
    path = tmp_path / "p.txt"
    path.write_bytes(b"\xef\xbb\xbfa dog\n")
    assert [i.prompt for i in load_prompts(str(path))] == ["a dog"]


def test_jsonl_other_keys_go_to_meta(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": " a dog ", "category": "animal", "id": 7}) + "\n")
    [item] = load_prompts(path)
    assert (item.prompt, item.meta, item.source, item.line) == ("a dog", {"category": "animal", "id": 7}, str(path), 1)


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"p\.csv: not a prompt set; expected a \.txt .*'vbench'"):
        load_prompts(tmp_path / "p.csv")
    with pytest.raises(FileNotFoundError, match=r"nope\.txt: prompt file not found"):
        load_prompts(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="only the named set 'vbench'"):
        load_prompts(tmp_path / "p.txt", dimensions=["scene"])


# -- VBench, from a hand-written asset (no install needed) --------------------------

FAKE_VBENCH = [
    {"prompt_en": "alley", "dimension": ["scene", "background_consistency"],
     "auxiliary_info": {"scene": {"scene": {"scene": "alley"}}}},
    {"prompt_en": "a cat and a dog", "dimension": ["multiple_objects"]},
    {"prompt_en": "a red bicycle", "dimension": ["color"], "auxiliary_info": {"color": {"color": "red"}}},
]


@pytest.fixture
def fake_vbench(tmp_path, monkeypatch):
    """Stand in for prompt_a_video.assets with a folder holding a small VBench file."""
    folder = tmp_path / "vbench"
    folder.mkdir()
    (folder / "VBench_full_info.json").write_text(json.dumps(FAKE_VBENCH))
    fake = types.ModuleType("prompt_a_video.assets")
    fake.require_asset = lambda name: folder
    monkeypatch.setitem(sys.modules, "prompt_a_video.assets", fake)
    return folder


def test_vbench_items_and_meta(fake_vbench):
    items = load_prompts("vbench")
    assert [i.prompt for i in items] == ["alley", "a cat and a dog", "a red bicycle"]
    assert items[0].meta == {"dimensions": ["scene", "background_consistency"],
                             "auxiliary_info": {"scene": {"scene": {"scene": "alley"}}}}
    assert items[1].meta == {"dimensions": ["multiple_objects"]}
    assert items[2].line == "item 2" and items[2].source.endswith("VBench_full_info.json")


def test_vbench_dimension_filters_combine(fake_vbench):
    assert [i.prompt for i in load_prompts("vbench:color, scene")] == ["alley", "a red bicycle"]
    assert [i.prompt for i in load_prompts("vbench", dimensions=["color"])] == ["a red bicycle"]
    assert [i.prompt for i in load_prompts("vbench:scene", dimensions=["color"])] == ["alley", "a red bicycle"]
    with pytest.raises(ValueError, match="no dimension after ':'"):
        load_prompts("vbench:")


def test_vbench_bad_asset_is_located(fake_vbench):
    (fake_vbench / "VBench_full_info.json").write_text(json.dumps([{"prompt_en": "a", "dimension": "scene"}]))
    with pytest.raises(DataFormatError, match=r"VBench_full_info\.json:item 0: dimension: expected a list of strings"):
        load_prompts("vbench")


# -- VBench, the real installed asset ---------------------------------------------


def test_vbench_real_asset(vbench_installed):
    full = load_prompts("vbench")
    assert len(full) == 946
    assert all(isinstance(i.meta["dimensions"], list) and i.meta["dimensions"] for i in full)
    scene = load_prompts("vbench:scene")
    assert len(scene) == 86
    assert all("scene" in i.meta["dimensions"] for i in scene)


def test_vbench_unknown_dimension_lists_valid_ones(vbench_installed):
    with pytest.raises(ValueError) as info:
        load_prompts("vbench:scenery")
    message = str(info.value)
    assert "unknown VBench dimension(s) 'scenery'" in message
    for dim in ("scene", "color", "human_action", "temporal_flickering"):
        assert dim in message
