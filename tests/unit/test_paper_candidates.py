"""The official DPO pipeline's candidate and score files read, and re-filtered into our pairs.

The files are built here in the structure the official scripts write (jiyt17/Prompt-A-Video:
booster/dpo/inference.py, rewards/{video_score,aes_predictor,mps}_dpo.py, and the merged
file booster/dpo/filter.py reads): a JSON list dumped with indent=4, values invented.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
from pathlib import Path

import pytest

from prompt_a_video.data import DataFormatError, iter_pairs
from prompt_a_video.data.paper_candidates import pairs_from_paper_candidates, read_paper_candidates
from prompt_a_video.evolution.pair_rules import BestVsWorstRule, PaperPairRule
from prompt_a_video.modules.backbone import PAPER_TASK_PROMPT

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "paper_candidates_to_pairs.py"
DOG, CAR = "a dog running on a beach", "a red car in the rain"


def chat(prompt: str) -> str:
    """The Llama-3 chat text inference.py samples with and stores as "user_prompts"."""
    return ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n" + PAPER_TASK_PROMPT + prompt
            + "\nNew prompt:<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


DOG_TEXTS = [
    "A golden dog running on a sunny beach, waves rolling in behind it, slow motion.",
    "A small brown dog running along a beach at dawn, sand flying from its paws.",
    "A dog running on a wide beach under grey clouds, wet sand shining.",
    "A black dog running across a beach at sunset, seagulls lifting off the shore.",
    "A playful dog running on a beach, chasing a ball near the water.",
]
CAR_TEXTS = [
    "Here is the refined prompt: A red car drives through heavy rain at night, headlights on the wet street.",
    "A red car in the rain, wipers sweeping, neon lights reflected on the glossy road.",
    "A red car parked in the rain, drops running down its windows.",
    "A red car speeding in the rain along a coastal road, spray behind the wheels.",
    "A red car waiting at a crossing in the rain, umbrellas passing by.",
]
BASE = {"VQ": 3.0, "TC": 3.0, "DD": 3.0, "TVA": 3.0, "FC": 3.0, "AES": 6.0, "MPS": 9.0}  # aggregate 24.0


def scores(**changes):
    return {**BASE, **changes}


# aggregate VQ + TC + FC + 1.1*DD + 1.3*TVA + 0.8*AES + MPS/3, worked out by hand
DOG_SCORES = [
    scores(),  # 24.0, clears every floor
    scores(MPS=6.0),  # 23.0, MPS 6.0 is not above the 8.5 floor
    scores(VQ=2.5, TC=2.5, FC=2.5, DD=2.5, TVA=2.5, AES=5.0, MPS=7.5),  # 20.0
    scores(MPS=5.7),  # 22.9
    scores(DD=1.5),  # 22.35
]
CAR_SCORES = [
    scores(AES=7.25),  # 25.0, but its text leaks "Here is the refined prompt"
    scores(),  # 24.0
    scores(MPS=3.0),  # 22.0
    scores(MPS=6.0),  # 23.0
    scores(AES=0.0),  # 19.2
]


def candidates_records():
    """prompts_candidates.json: index, the chat text, the user's prompt, 5 rewrites."""
    return [{"index": i, "user_prompts": chat(p), "org_prompt": p, "refined_prompts": list(texts)}
            for i, (p, texts) in enumerate([(DOG, DOG_TEXTS), (CAR, CAR_TEXTS)])]


def dump(tmp_path, name, records):
    path = tmp_path / name
    with open(path, "w") as f:
        json.dump(records, f, indent=4)
    return path


def per_reward_files(tmp_path):
    """The three scorers' files: each a copy of the candidates records plus one key."""
    all_scores = [DOG_SCORES, CAR_SCORES]
    video, aes, mps = candidates_records(), candidates_records(), candidates_records()
    for item, s in zip(video, all_scores):
        item["refined_scores"] = [{k: c[k] for k in ("VQ", "TC", "DD", "TVA", "FC")} for c in s]
    for item, s in zip(aes, all_scores):
        item["aes_scores"] = [c["AES"] for c in s]
    for item, s in zip(mps, all_scores):
        item["mps_scores"] = [c["MPS"] for c in s]
    return [dump(tmp_path, f"candidates_prompts_{n}.json", r)
            for n, r in (("videoscore", video), ("aes", aes), ("mps", mps))]


def merged_records():
    """prompts_candidates_scores.json as filter.py reads it: all seven keys per candidate."""
    records = candidates_records()
    for item, s in zip(records, [DOG_SCORES, CAR_SCORES]):
        item["refined_scores"] = copy.deepcopy(s)
    return records


def merged_file(tmp_path, records=None):
    return dump(tmp_path, "prompts_candidates_scores.json", merged_records() if records is None else records)


def test_reads_the_merged_file(tmp_path):
    dog, car = read_paper_candidates(merged_file(tmp_path))
    assert (dog.prompt, car.prompt) == (DOG, CAR)
    assert dog.chat == chat(DOG)
    assert [c.text for c in dog.candidates] == DOG_TEXTS
    assert [(c.index, c.position, c.item) for c in car.candidates] == [(1, i, 1) for i in range(5)]
    assert car.candidates[0].scores == {"VQ": 3.0, "TC": 3.0, "DD": 3.0, "TVA": 3.0, "FC": 3.0,
                                        "AES": 7.25, "MPS": 9.0}


def test_candidates_only_file_has_no_scores(tmp_path):
    dog, car = read_paper_candidates(dump(tmp_path, "prompts_candidates.json", candidates_records()))
    assert [c.text for c in car.candidates] == CAR_TEXTS
    assert all(c.scores == {} for c in dog.candidates + car.candidates)


def test_per_reward_files_are_joined_by_index(tmp_path):
    base = dump(tmp_path, "prompts_candidates.json", candidates_records())
    dog, car = read_paper_candidates(base, *per_reward_files(tmp_path))
    assert [c.scores for c in dog.candidates] == DOG_SCORES
    assert [c.scores for c in car.candidates] == CAR_SCORES


def test_a_record_a_scorer_left_out_is_dropped(tmp_path, caplog):
    video, aes, mps = per_reward_files(tmp_path)
    records = json.loads(aes.read_text())
    dump(tmp_path, aes.name, records[:1])  # the scorer found a video of index 1 missing
    with caplog.at_level(logging.WARNING):
        prompts = read_paper_candidates(video, aes, mps)
    assert [p.prompt for p in prompts] == [DOG]
    assert "1 record(s)" in caplog.text and "index 1" in caplog.text


def test_a_repeated_prompt_pools_its_candidates(tmp_path):
    records = candidates_records()
    records.append({**records[0], "index": 2, "refined_prompts": ["A dog running on a beach, 4k."]})
    (dog, car) = read_paper_candidates(dump(tmp_path, "prompts_candidates.json", records))
    assert [(c.index, c.text) for c in dog.candidates][-2:] == [
        (0, DOG_TEXTS[-1]), (2, "A dog running on a beach, 4k.")]


def test_the_chat_text_alone_gives_the_users_prompt(tmp_path):
    records = candidates_records()
    del records[0]["org_prompt"]
    dog, _ = read_paper_candidates(dump(tmp_path, "prompts_candidates.json", records))
    assert dog.prompt == DOG


def test_pairs_from_the_merged_file(tmp_path):
    pairs = pairs_from_paper_candidates(merged_file(tmp_path), PaperPairRule(floors={
        "VQ": 2.6, "TC": 2.6, "FC": 2.55, "AES": 5.5, "TVA": 2.9, "MPS": 8.5, "DD": 2.65,
        "REP": 0.75, "LEAK": 0.8, "INT": 0.7, "LEX": 0.5, "TAG": 0.5}))
    got = [(p.prompt, p.chosen, p.rejected) for p in pairs]
    # dog: top-1 (24.0) clears the floors, beats 22.35 and 20.0 by more than 1.4 (not 23.0,
    # 22.9); top-2 (23.0) fails MPS > 8.5.
    # car: top-1 (25.0) leaks its instructions; top-2 (24.0) beats 22.0 and 19.2 (not 23.0).
    assert got == [
        (DOG, DOG_TEXTS[0], DOG_TEXTS[4]), (DOG, DOG_TEXTS[0], DOG_TEXTS[2]),
        (CAR, CAR_TEXTS[1], CAR_TEXTS[2]), (CAR, CAR_TEXTS[1], CAR_TEXTS[4]),
    ]
    assert [p.chosen_reward for p in pairs] == pytest.approx([24.0, 24.0, 24.0, 24.0])
    assert [p.rejected_reward for p in pairs] == pytest.approx([22.35, 20.0, 22.0, 19.2])
    first = pairs[0]
    assert {d: first.chosen_scores[d] for d in BASE} == BASE
    assert first.rejected_scores["DD"] == 1.5
    assert set(first.chosen_scores) == set(BASE) | {"REP", "LEAK", "INT", "LEX", "TAG"}
    assert pairs[2].chosen_scores["LEAK"] > 0.8


def test_default_rule_is_the_paper_filter_and_text_floors(tmp_path):
    path = merged_file(tmp_path)
    explicit = pairs_from_paper_candidates(path, PaperPairRule(floors={
        "VQ": 2.6, "TC": 2.6, "FC": 2.55, "AES": 5.5, "TVA": 2.9, "MPS": 8.5, "DD": 2.65,
        "REP": 0.75, "LEAK": 0.8, "INT": 0.7, "LEX": 0.5, "TAG": 0.5}))
    assert pairs_from_paper_candidates(path) == explicit  # FLU needs an LM: not applied


def test_without_text_checks_the_official_filter_picks_the_leaked_text(tmp_path):
    pairs = pairs_from_paper_candidates(merged_file(tmp_path), text_checks=False)
    car = [(p.chosen, p.rejected) for p in pairs if p.prompt == CAR]
    # as booster/dpo/filter.py would: top-1 (25.0) beats 23.0, 22.0, 19.2; top-2 (24.0) 22.0, 19.2
    assert car == [(CAR_TEXTS[0], CAR_TEXTS[3]), (CAR_TEXTS[0], CAR_TEXTS[2]), (CAR_TEXTS[0], CAR_TEXTS[4]),
                   (CAR_TEXTS[1], CAR_TEXTS[2]), (CAR_TEXTS[1], CAR_TEXTS[4])]
    assert set(pairs[0].chosen_scores) == set(BASE)


def test_per_reward_files_give_the_same_pairs(tmp_path):
    base = dump(tmp_path, "prompts_candidates.json", candidates_records())
    joined = pairs_from_paper_candidates(base, score_files=per_reward_files(tmp_path))
    assert joined == pairs_from_paper_candidates(merged_file(tmp_path))


def test_other_rules(tmp_path):
    pairs = pairs_from_paper_candidates(merged_file(tmp_path), BestVsWorstRule(margin=1.0, require_floors=True))
    # the best that clears every floor against the worst
    assert [(p.chosen, p.rejected) for p in pairs] == [(DOG_TEXTS[0], DOG_TEXTS[2]), (CAR_TEXTS[1], CAR_TEXTS[4])]
    with pytest.raises(ValueError, match="FLU"):  # the default floors include FLU, which needs an LM
        pairs_from_paper_candidates(merged_file(tmp_path), PaperPairRule())


def test_the_script_writes_pairs_jsonl(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("paper_candidates_to_pairs", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    main = script.main
    out = tmp_path / "pairs.jsonl"
    assert main(["--candidates", str(merged_file(tmp_path)), "--out", str(out)]) == 0
    assert list(iter_pairs(out)) == pairs_from_paper_candidates(merged_file(tmp_path))
    assert "4 pairs of 2 prompts" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "prompts_candidates_scores.json" in capsys.readouterr().out


# --- malformed records name the file and the record -------------------------------------------

def _broken(records, item, change):
    change(records[item])
    return records


@pytest.mark.parametrize("change, problem", [
    (lambda r: r["refined_scores"].pop(), "index 1: refined_scores: expected a list of 5"),
    (lambda r: r["refined_scores"][2].update(TVA="high"), 'index 1: refined_scores[2].TVA: expected a number'),
    (lambda r: r.update(refined_prompts="one prompt"), "index 1: refined_prompts: expected a non-empty list"),
    (lambda r: r.update(org_prompt="a blue car"), "index 1: org_prompt \"a blue car\" is not in user_prompts"),
    (lambda r: r.update(index="1"), "index: expected an int >= 0"),
    (lambda r: r.update(aes_scores=[1.0] * 5), "index 1: aes_scores[0]: AES 1.0 disagrees with AES 7.25"),
    (lambda r: r.pop("org_prompt") and r.pop("user_prompts"), "missing key 'org_prompt'"),
])
def test_a_malformed_record_names_the_file_and_record(tmp_path, change, problem):
    path = merged_file(tmp_path, _broken(merged_records(), 1, change))
    with pytest.raises(DataFormatError) as err:
        read_paper_candidates(path)
    assert (err.value.path, err.value.line) == (path, "item 1")
    assert problem in err.value.problem
    assert str(err.value).startswith(f"{path}:item 1: ")


def test_a_bad_record_can_be_skipped(tmp_path):
    path = merged_file(tmp_path, _broken(merged_records(), 0, lambda r: r["refined_scores"][0].update(VQ=True)))
    skipped = []
    with pytest.warns(UserWarning, match="item 0"):
        prompts = read_paper_candidates(path, errors="skip", skipped=skipped)
    assert [p.prompt for p in prompts] == [CAR] and len(skipped) == 1


def test_a_scorer_file_of_other_candidates_is_named(tmp_path):
    base = dump(tmp_path, "prompts_candidates.json", candidates_records())
    video, aes, mps = per_reward_files(tmp_path)
    dump(tmp_path, aes.name, _broken(json.loads(aes.read_text()), 1, lambda r: r.update(refined_prompts=["x"] * 5)))
    with pytest.raises(DataFormatError, match="index 1: its org_prompt or refined_prompts differ") as err:
        read_paper_candidates(base, video, aes, mps)
    assert (err.value.path, err.value.line) == (aes, "item 1")


def test_scores_missing_for_the_aggregate_name_the_record(tmp_path):
    path = dump(tmp_path, "prompts_candidates.json", candidates_records())
    no_scores = r"index 0, refined_prompts\[0\]: no AES/DD/FC/MPS/TC/TVA/VQ score"
    with pytest.raises(DataFormatError, match=no_scores) as err:
        pairs_from_paper_candidates(path)
    assert (err.value.path, err.value.line) == (path, "item 0")
