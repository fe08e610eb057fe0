"""Assistant-only labels and the overlong policy of SFT examples."""

import pytest

from prompt_a_video.modules.backbone import CausalLMBackbone
from prompt_a_video.modules.chat_encoding import IGNORE_INDEX, TruncationCounts, encode_chat, pad_batch


@pytest.fixture(scope="module")
def tokenizer(tiny_chat_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_chat_tokenizer_dir)


def _labelled_text(tokenizer, ids, labels):
    return tokenizer.decode([t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX])


def test_labels_cover_exactly_the_answer_and_end_of_turn(tokenizer):
    backbone = CausalLMBackbone(model="unused", system_prompt="Rewrite the prompt.")
    answer = "A golden retriever runs along the beach at sunset."
    ids, labels = encode_chat(tokenizer, backbone.messages("a dog running"), answer, max_length=512)
    assert len(ids) == len(labels)
    labelled = _labelled_text(tokenizer, ids, labels)
    assert labelled.startswith(answer)
    assert labelled[len(answer):].strip() in ("<|im_end|>", tokenizer.eos_token)
    # everything before the answer is the prompt as the model sees it at inference
    prompt_ids = [t for t, lab in zip(ids, labels) if lab == IGNORE_INDEX]
    expected = tokenizer.apply_chat_template(backbone.messages("a dog running"), tokenize=False,
                                             add_generation_prompt=True)
    assert tokenizer.decode(prompt_ids) == expected


def test_overlong_example_cuts_the_prompt_side_and_keeps_the_answer(tokenizer):
    backbone = CausalLMBackbone(model="unused", system_prompt="word " * 300)
    answer = "A red car drives through the rain."
    counts = TruncationCounts()
    ids, labels = encode_chat(tokenizer, backbone.messages("a car"), answer, max_length=64, counts=counts)
    assert len(ids) == 64
    assert _labelled_text(tokenizer, ids, labels).startswith(answer)
    assert counts.prompt_cut == 1 and counts.answer_cut == 0


def test_answer_longer_than_the_budget_is_cut_and_counted(tokenizer):
    backbone = CausalLMBackbone(model="unused", system_prompt="Rewrite.")
    counts = TruncationCounts()
    ids, labels = encode_chat(tokenizer, backbone.messages("a car"), "very long " * 200, max_length=48,
                              counts=counts)
    assert len(ids) == 48 and counts.answer_cut == 1


def test_pad_batch_right_pads_with_masked_labels():
    batch = pad_batch([([1, 2, 3], [IGNORE_INDEX, 2, 3]), ([4], [4])], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 2, 3], [4, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_backbone_validates_its_config():
    with pytest.raises(ValueError, match="dtype"):
        CausalLMBackbone(model="x", dtype="float64")
    with pytest.raises(ValueError, match="{prompt}"):
        CausalLMBackbone(model="x", user_template="Refine this")
