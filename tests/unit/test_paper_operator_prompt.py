"""The paper's operator prompt (booster/finetuning/gpt4o_pipe.py, gpt_boost.py): the
original always shown as number 0, then the best three others, AES and MPS as the paper
weighs them, no aggregate, few-shot examples, and ChatAPIOperator sending it."""

import pytest

from prompt_a_video.evolution.base import Scored
from prompt_a_video.evolution.chat_api_operator import ChatAPIOperator
from prompt_a_video.evolution.paper_operator_prompt import paper_messages


def scored(prompt, vq, reward, aes=4.8, mps=8.0):
    return Scored(prompt, {"VQ": vq, "TC": 2.0, "DD": 1.0, "TVA": 2.5, "FC": 2.25, "AES": aes, "MPS": mps,
                           "REP": 1.0, "LEAK": 1.0}, reward, 1)


ORIGINAL = "a dog running"
HISTORY = [scored("a golden dog runs across a beach", 3.0, 15.0), scored("a dog sprints on grass", 2.9, 14.5),
           scored(ORIGINAL, 2.0, 14.0), scored("a puppy running in a park", 2.8, 13.0),
           scored("a dog runs", 2.1, 12.0)]  # best first, as EvolutionLoop.history gives it


def test_the_user_message_shows_the_original_first_then_the_best_three_with_the_papers_scales():
    system, user = paper_messages(ORIGINAL, HISTORY, 3, ["A refined example one.", "A refined example two."])
    lines = user["content"].splitlines()
    # AES 4.8 * 5/8 = 3.0 and MPS 8.0 / 4 = 2.0, as gpt_boost.py shows them; no REP/LEAK, no aggregate
    assert lines == [
        "0. a dog running (score, VQ: 2.0, TC: 2.0, DD: 1.0, TVA: 2.5, FC: 2.25, AES: 3.0, MPS: 2.0)",
        "1. a golden dog runs across a beach (score, VQ: 3.0, TC: 2.0, DD: 1.0, TVA: 2.5, FC: 2.25, AES: 3.0, MPS: 2.0)",
        "2. a dog sprints on grass (score, VQ: 2.9, TC: 2.0, DD: 1.0, TVA: 2.5, FC: 2.25, AES: 3.0, MPS: 2.0)",
        "3. a puppy running in a park (score, VQ: 2.8, TC: 2.0, DD: 1.0, TVA: 2.5, FC: 2.25, AES: 3.0, MPS: 2.0)",
    ]
    assert system["role"] == "system" and user["role"] == "user"
    text = system["content"]
    assert "A refined example one.\nA refined example two." in text
    assert "six sentences" in text and "English" in text and "Write 3 paraphrases" in text
    assert all(name in text for name in ("(VQ)", "(TC)", "(DD)", "(TVA)", "(FC)", "(AES)", "(MPS)"))
    assert "reward" not in user["content"] and "aggregate" not in text


def test_before_any_rewrite_only_the_original_is_shown_and_examples_are_required():
    _, user = paper_messages(ORIGINAL, [scored(ORIGINAL, 2.0, 14.0)], 3, ["An example."])
    assert user["content"].splitlines() == [
        "0. a dog running (score, VQ: 2.0, TC: 2.0, DD: 1.0, TVA: 2.5, FC: 2.25, AES: 3.0, MPS: 2.0)"]
    with pytest.raises(ValueError, match="example refined prompts"):
        paper_messages(ORIGINAL, HISTORY, 3, [])


def test_chat_api_operator_sends_the_papers_prompt_and_reads_its_three_paraphrases(tmp_path, monkeypatch):
    examples = tmp_path / "examples.txt"
    examples.write_text("# refined prompts\nA refined example one.\n\nA refined example two.\n")
    operator = ChatAPIOperator("gpt-4o", api_key="sk-test", prompt_style="paper", examples=str(examples), top_k=25)
    sent = []

    def complete(messages, seed):
        sent.append(messages)
        return "".join(f"<PROMPT>a dog running fast along the shore, take {i}</PROMPT>" for i in range(3))

    monkeypatch.setattr(operator, "_complete", complete)
    proposals = operator.propose(ORIGINAL, HISTORY, 3, seed=0)

    assert proposals == [f"a dog running fast along the shore, take {i}" for i in range(3)]
    assert sent[0] == paper_messages(ORIGINAL, HISTORY, 3, ["A refined example one.", "A refined example two."])
    default = ChatAPIOperator("gpt-4o", api_key="sk-test", top_k=25)
    assert "prompt=paper-" in operator.fingerprint and operator.fingerprint != default.fingerprint
    with pytest.raises(ValueError, match="examples must be a line file of refined example prompts"):
        ChatAPIOperator("gpt-4o", prompt_style="paper")
