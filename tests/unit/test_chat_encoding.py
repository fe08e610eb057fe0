"""Assistant-only labels and the overlong policy of SFT examples."""

import pytest

from prompt_a_video.modules.backbone import CausalLMBackbone
from prompt_a_video.modules.chat_encoding import (
    IGNORE_INDEX,
    ExampleTooLongError,
    check_examples_fit,
    encode_chat,
    pad_batch,
)


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


def test_overlong_example_is_refused_never_cut(tokenizer):
    """A prompt cut from the left loses its chat header: the model would train on a prompt it never sees."""
    backbone = CausalLMBackbone(model="unused", system_prompt="word " * 300)
    with pytest.raises(ExampleTooLongError, match=r"max_length=64 is too short .*'a car'.*raise model.init_args.max_length"):
        encode_chat(tokenizer, backbone.messages("a car"), "A red car drives through the rain.", max_length=64)


def test_an_answer_longer_than_max_length_is_refused_too(tokenizer):
    backbone = CausalLMBackbone(model="unused", system_prompt="Rewrite.")
    with pytest.raises(ExampleTooLongError):
        encode_chat(tokenizer, backbone.messages("a car"), "very long " * 200, max_length=48)


def test_an_example_that_fits_exactly_is_kept_whole(tokenizer):
    backbone = CausalLMBackbone(model="unused", system_prompt="Rewrite.")
    ids, _ = encode_chat(tokenizer, backbone.messages("a car"), "A red car.", max_length=10_000)
    exact, labels = encode_chat(tokenizer, backbone.messages("a car"), "A red car.", max_length=len(ids))
    assert exact == ids


def test_check_examples_fit_names_the_setting_and_the_longest_prompt(tokenizer):
    backbone = CausalLMBackbone(model="unused", system_prompt="Rewrite.")
    examples = [{"prompt": "a car", "target": "A red car."},
                {"prompt": "a very long prompt " * 20, "target": "An answer."},
                {"prompt": "a dog", "target": "A dog."}]
    longest = check_examples_fit(tokenizer, backbone, examples[:1], ("target",), 10_000, "train data")
    with pytest.raises(ExampleTooLongError) as info:
        check_examples_fit(tokenizer, backbone, examples, ("target",), longest + 1, "train data")
    message = str(info.value)
    assert f"model.init_args.max_length={longest + 1} is too short for the train data" in message
    assert "'a very long prompt a very long prompt" in message and "set max_length >= " in message
    needed = int(message.split("set max_length >= ")[1].split()[0])
    assert check_examples_fit(tokenizer, backbone, examples, ("target",), needed, "train data") == needed


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
