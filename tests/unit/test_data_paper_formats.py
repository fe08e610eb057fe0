"""The paper's released data reads into our records."""

from __future__ import annotations

import json

import pytest

from prompt_a_video.data import DataFormatError, PreferencePair, iter_pairs, iter_pool, sft_pairs

REFINED = "A golden retriever sprints across a sunlit beach, waves breaking behind it, slow motion"


def _write(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def test_sft_pairs_file(tmp_path):
    path = _write(tmp_path, "sft.json", [["a dog running", REFINED], ["a red car", "A red sports car drifts on wet asphalt"]])
    records = list(iter_pool(path))
    assert [r.prompt for r in records] == ["a dog running", "a red car"]
    first = records[0]
    assert first.backbone is None
    assert [c.prompt for c in first.candidates] == [REFINED]
    assert first.best is first.candidates[0]
    assert (first.best.iteration, first.best.scores, first.best.reward) == (None, {}, None)
    assert list(sft_pairs(records))[0] == ("a dog running", REFINED)


LOG = [
    [  # one source prompt
        [  # iteration 0: the original first, then the first paraphrases
            {"prompt": "a dog running", "scores": {"VQ": 2.0, "TVA": 4.0}},
            {"prompt": "a dog running on grass", "scores": {"VQ": 3.0, "TVA": 3.0}},
        ],
        [  # iteration 1
            {"prompt": REFINED, "scores": {"VQ": 3.5, "TVA": 3.7}},
            {"prompt": "a dog running", "scores": {"VQ": 9.0, "TVA": 9.0}},  # the original again
        ],
    ],
    [  # a source whose paraphrases never got scored higher than NaN
        [{"prompt": "a cat", "scores": {"VQ": 3.0}}],
        [{"prompt": "a cat, 4k", "scores": {"VQ": float("nan")}}],
    ],
]


def test_evolution_log(tmp_path):
    path = _write(tmp_path, "log.json", LOG)
    dog, cat = iter_pool(path)
    assert dog.prompt == "a dog running" and dog.backbone is None
    assert [(c.prompt, c.iteration, c.reward) for c in dog.candidates] == [
        ("a dog running", 0, 3.0),
        ("a dog running on grass", 0, 3.0),
        (REFINED, 1, 3.6),
        ("a dog running", 1, 9.0),
    ]
    assert dog.candidates[2].scores == {"VQ": 3.5, "TVA": 3.7}
    # The best is the top reward among candidates that are not the original text.
    assert dog.best.prompt == REFINED
    # NaN rewards are never best, and the original is excluded: no best at all.
    assert cat.prompt == "a cat" and cat.best is None


def test_evolution_log_as_the_official_logger_writes_it(tmp_path):
    """Each logged ``scores`` also holds the candidate's ``index`` (rewards/video_score_pipe.py):
    not a dimension; and a rewrite below the original is no best (as EvolutionLoop decides)."""
    log = [[[{"prompt": "a dog running", "scores": {"VQ": 3.0, "TVA": 3.0, "index": 0}},
             {"prompt": "a dog running fast", "scores": {"VQ": 2.0, "TVA": 2.5, "index": 1}}]],
           [[{"prompt": "a cat", "scores": {"VQ": 2.0, "index": 0}},
             {"prompt": "a cat napping", "scores": {"VQ": 2.5, "index": 1}}]]]
    dog, cat = iter_pool(_write(tmp_path, "log.json", log))
    assert dog.candidates[1].scores == {"VQ": 2.0, "TVA": 2.5} and dog.candidates[0].reward == 3.0
    assert dog.best is None  # its only rewrite scores 2.25 < 3.0
    assert cat.best.prompt == "a cat napping"


def test_evolution_log_custom_aggregate(tmp_path):
    path = _write(tmp_path, "log.json", LOG[:1])
    [dog] = iter_pool(path, aggregate=lambda s: s["VQ"])
    assert [c.reward for c in dog.candidates] == [2.0, 3.0, 3.5, 9.0]
    assert dog.best.prompt == REFINED
    [dog] = iter_pool(path, aggregate=lambda s: -s["VQ"])
    assert dog.best is None  # under this aggregate every rewrite scores below the original (-2.0)
    [dog] = iter_pool(path, aggregate=lambda s: s["TVA"] if s["VQ"] > 2.0 else 0.0)
    assert dog.best.prompt == REFINED  # 3.7 beats the original (0.0) and grass (3.0)


def test_pool_json_list_of_our_records(tmp_path):
    rec = {"prompt": "a dog", "backbone": None, "candidates": [{"prompt": REFINED}], "best": {"prompt": REFINED}}
    [back] = iter_pool(_write(tmp_path, "pool.json", [rec]))
    assert back.best.prompt == REFINED


def test_pool_json_shape_comes_from_the_first_recognisable_item(tmp_path):
    # A bad first item does not make a whole SFT file unreadable.
    path = _write(tmp_path, "sft.json", [42, ["a dog", REFINED]])
    with pytest.raises(DataFormatError, match=r"sft\.json:item 0: expected an \[original, refined\] pair"):
        list(iter_pool(path))
    skipped = []
    with pytest.warns(UserWarning):
        assert [r.prompt for r in iter_pool(path, errors="skip", skipped=skipped)] == ["a dog"]
    assert len(skipped) == 1


@pytest.mark.parametrize("value, problem", [
    ([1, 2, 3], r"unrecognised pool shape \(item 0 is 1\); accepted: a JSON list of \[original, refined\]"),
    ({"data": []}, r"expected a JSON list of pool items; accepted shapes"),
])
def test_pool_json_unrecognised_shape(tmp_path, value, problem):
    path = _write(tmp_path, "weird.json", value)
    with pytest.raises(DataFormatError, match=problem) as info:
        iter_pool(path)  # the document is parsed at the call
    assert info.value.line == 1


def test_pool_json_empty_list_is_empty(tmp_path):
    assert list(iter_pool(_write(tmp_path, "empty.json", []))) == []


def test_syntax_error_line_in_pretty_printed_json(tmp_path):
    path = tmp_path / "sft.json"
    path.write_text('[\n  ["a dog", "x"],\n  ["a cat" "y"]\n]\n')
    with pytest.raises(DataFormatError, match=r"sft\.json:3: not valid JSON: Expecting ',' delimiter at column 12"):
        iter_pool(path)


def test_triplet_file(tmp_path):
    path = _write(tmp_path, "triplets.json", [
        {"prompt": "a dog", "chosen": REFINED, "rejected": "a dog, blurry"},
    ])
    assert list(iter_pairs(path)) == [PreferencePair("a dog", REFINED, "a dog, blurry")]


@pytest.mark.parametrize("reader", [iter_pool, iter_pairs])
def test_unknown_suffix_and_missing_file(tmp_path, reader):
    with pytest.raises(ValueError, match=r"data\.csv: not an? .*expected \.jsonl"):
        reader(tmp_path / "data.csv")
    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl: not found"):
        reader(tmp_path / "missing.jsonl")


def test_evolution_log_failing_aggregate_is_located(tmp_path):
    path = _write(tmp_path, "log.json", LOG)
    with pytest.raises(DataFormatError, match=r"log\.json:item 0: \[0\]\[0\]\.scores: aggregate\(scores\) failed: KeyError\('AES'\)"):
        list(iter_pool(path, aggregate=lambda s: s["AES"]))


def _official_log(tmp_path):
    """One source prompt as booster/finetuning/gpt_boost.py logs it: AES and MPS already
    weighted (AES*5/8, MPS/4, rounded to 2 decimals), and the candidate's index."""
    def logged(vq, aes, mps, index):
        return {"VQ": vq, "TC": 2.0, "DD": 2.0, "TVA": 2.0, "FC": 2.0,
                "AES": round(aes * 5 / 8, 2), "MPS": round(mps / 4, 2), "index": index}

    log = [[{"prompt": "a dog", "scores": logged(2.0, 4.8, 8.0, 0)}],
           [{"prompt": "a dog runs on a beach", "scores": logged(4.0, 5.6, 10.0, 0)},
            {"prompt": "a dog on grass", "scores": logged(2.2, 6.4, 12.0, 1)}]]
    path = tmp_path / "log.json"
    path.write_text(json.dumps([log]))
    return path


def test_logged_aes_and_mps_are_read_back_on_their_raw_scales(tmp_path):
    from prompt_a_video.datamodules.sft import preset_sum

    (record,) = iter_pool(_official_log(tmp_path), aggregate=preset_sum("evolution"))
    scores = [c.scores for c in record.candidates]
    assert [s["AES"] for s in scores] == pytest.approx([4.8, 5.6, 6.4])  # 3.0 / (5/8) ...
    assert [s["MPS"] for s in scores] == pytest.approx([8.0, 10.0, 12.0])  # 2.0 * 4 ...
    # the evolution preset now gives the official score_overall, weighing AES and MPS once:
    # VQ + TC + 0.5*DD + FC + TVA + AES*5/8 + MPS/4
    # 9 + 3.0 + 2.0; 11 + 3.5 + 2.5; 9.2 + 4.0 + 3.0 (VQ + TC + 0.5*DD + FC + TVA = 9, 11, 9.2)
    assert [c.reward for c in record.candidates] == pytest.approx([14.0, 17.0, 16.2])
    assert record.best.prompt == "a dog runs on a beach"


def test_sft_data_from_the_papers_logs_ranks_by_the_preset_the_yaml_names(tmp_path):
    from prompt_a_video.datamodules.sft import SFTDataModule

    path = _official_log(tmp_path)
    by_mean = SFTDataModule(pools=[str(path)], val_fraction=0.0, batch_size=1)
    by_paper = SFTDataModule(pools=[str(path)], val_fraction=0.0, batch_size=1, paper_log_aggregate="evolution")
    targets = [[example["target"] for example in module._dataset("train", None, None)] for module in (by_mean, by_paper)]
    # the plain mean favours the raw MPS of 12 ("on grass"); the paper's formula the beach
    assert targets == [["a dog on grass"], ["a dog runs on a beach"]]
    with pytest.raises(ValueError, match="unknown composite reward preset 'evolutoin'"):
        SFTDataModule(pools=[str(path)], paper_log_aggregate="evolutoin")
