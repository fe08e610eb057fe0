"""The paper's refiner prompt format: no system turn, its task text, the prompt, "New prompt:".

The authors' released refiners (merged HF folders, no refiner.json) were trained and are
run with it (jiyt17/Prompt-A-Video, booster/finetuning/datasets/custom_dataset.py and
booster/inference/inference_chat.py), so `Refiner(..., prompt_format="paper")` and
`pav refine --format paper` must build exactly that chat.
"""

from __future__ import annotations

import pytest

from prompt_a_video.modules.backbone import PAPER_TASK_PROMPT, CausalLMBackbone

# The official task text as the official files write it (a triple-quoted string whose two
# line breaks are real ones and whose end is an escaped "\n"), typed here independently of
# the project's constant.
OFFICIAL_TASK_PROMPT = """You need to refine user's input prompt. The user's input prompt is used for video generation task. You need to refine the user's prompt to make it more suitable for the task.
You will be prompted by people looking to create detailed, amazing videos. The way to accomplish this is to take their short prompts and make them extremely detailed and descriptive. You will only ever output a single video description per user request.
You should refactor the entire description to integrate the suggestions. Original prompt:\n"""


def official_user_turn(prompt: str) -> str:
    """The user content of the official dataset and inference code."""
    return OFFICIAL_TASK_PROMPT + prompt + "\n" + "New prompt:\n"


def test_the_task_text_is_the_official_one_character_for_character():
    assert PAPER_TASK_PROMPT == OFFICIAL_TASK_PROMPT


def test_paper_format_has_no_system_turn_and_the_official_user_turn():
    backbone = CausalLMBackbone(model="any", prompt_format="paper", lora=None)
    assert backbone.messages("a dog running") == [{"role": "user", "content": official_user_turn("a dog running")}]
    assert backbone.messages("a dog", "A golden retriever")[-1] == {"role": "assistant", "content": "A golden retriever"}
    default = CausalLMBackbone(model="any", lora=None).messages("a dog")
    assert [m["role"] for m in default] == ["system", "user"] and default[1]["content"] == "a dog"


def test_a_format_and_a_custom_prompt_at_once_is_refused():
    with pytest.raises(ValueError, match="prompt_format 'paper' sets the system prompt"):
        CausalLMBackbone(model="any", prompt_format="paper", system_prompt="be brief", lora=None)
    with pytest.raises(ValueError, match="prompt_format must be one of"):
        CausalLMBackbone(model="any", prompt_format="llama-recipes", lora=None)


def test_a_released_refiner_folder_is_prompted_as_the_paper_trained_it(tiny_llama_dir):
    """A merged HF folder without refiner.json, as the authors release theirs."""
    from transformers import AutoTokenizer

    from prompt_a_video.refiner import Refiner
    from prompt_a_video.refiner.generation import encode_prompts

    assert not (tiny_llama_dir / "refiner.json").exists()
    _, tokenizer, backbone = Refiner(tiny_llama_dir, prompt_format="paper").load()
    prompts = ["a dog running on the beach", "a red car"]
    by_hand = AutoTokenizer.from_pretrained(tiny_llama_dir)
    expected = [by_hand.apply_chat_template([{"role": "user", "content": official_user_turn(p)}],
                                            add_generation_prompt=True, tokenize=True, return_dict=False)
                for p in prompts]
    assert encode_prompts(tokenizer, backbone, prompts) == expected
    _, _, default = Refiner(tiny_llama_dir).load()  # without the format: our own prompt
    assert default.system_prompt is not None and encode_prompts(tokenizer, default, prompts) != expected


def test_pav_refine_format_paper_runs_a_released_folder(tiny_llama_dir, capsys):
    from prompt_a_video import cli

    assert cli.main(["refine", "--model", str(tiny_llama_dir), "--format", "paper", "--guard", "false",
                     "--max_new_tokens", "4", "--temperature", "0", "a dog running"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="prompt_format must be one of"):
        from prompt_a_video.refiner import Refiner

        Refiner(tiny_llama_dir, prompt_format="llama")


# ------------------------------------------------------------------ the paper's DPO triplets
def official_dpo_prompt(prompt: str) -> str:
    """The "prompt" of a triplet as booster/dpo/inference.py builds it and filter.py copies it."""
    return ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n" + OFFICIAL_TASK_PROMPT + prompt + "\n"
            + "New prompt:<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_the_papers_dpo_triplets_are_read_as_the_users_prompt(tmp_path):
    import json

    from prompt_a_video.data import iter_pairs

    triplets = [{"prompt": official_dpo_prompt("a dog running on the beach"), "chosen": "A golden retriever sprints",
                 "rejected": "dog"},
                {"prompt": official_dpo_prompt("a red car"), "chosen": "A red sports car", "rejected": "car car"},
                {"prompt": "a cat on a sofa", "chosen": "A tabby cat", "rejected": "cat"}]  # our own triplet
    path = tmp_path / "dpo_dataset.json"
    path.write_text(json.dumps(triplets, indent=4))  # as filter.py dumps it
    pairs = list(iter_pairs(path))
    assert [p.prompt for p in pairs] == ["a dog running on the beach", "a red car", "a cat on a sofa"]
    assert pairs[0].chosen == "A golden retriever sprints" and pairs[0].chosen_reward is None


def test_a_chat_string_of_another_shape_is_left_as_written():
    from prompt_a_video.data.paper_chat import user_prompt_of

    other = "<|start_header_id|>user<|end_header_id|>\n\nrewrite: a dog<|eot_id|>"
    assert user_prompt_of(other) == "rewrite: a dog"  # a Llama-3 user turn without the task text
    assert user_prompt_of("a dog <|eot_id|> running") == "a dog <|eot_id|> running"
