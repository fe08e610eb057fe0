"""The answer-only repetition controls, by hand on tiny score tensors.

Every row is ``prompt (prompt_width columns) + answer so far``; only the answer counts:
transformers' own processors count the prompt too, which pushes a refiner away from the
user's words.
"""

import pytest
import torch
from transformers import NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor

from prompt_a_video.modules.answer_penalties import (
    AnswerNoRepeatNGram, AnswerRepetitionPenalty, AnswerTagRunCap, AnswerWordRepeatCap, answer_processors,
)
from prompt_a_video.rewards.text.tag_list import tag_run

NEG = float("-inf")


# ---------------------------------------------------------------------------- repetition penalty


def test_penalty_divides_positive_and_multiplies_negative_logits_of_answer_tokens_only():
    # prompt [5, 1], answer [1, 3]: tokens 1 and 3 were generated; 5 only sits in the prompt
    ids = torch.tensor([[5, 1, 1, 3]])
    scores = torch.tensor([[2.0, 4.0, -1.0, -3.0, 1.0, 6.0]])
    out = AnswerRepetitionPenalty(prompt_width=2, penalty=2.0)(ids, scores.clone())
    # token 1: 4.0 / 2 = 2.0; token 3: -3.0 * 2 = -6.0; token 5 (prompt only) keeps 6.0; others unchanged
    assert out.tolist() == [[2.0, 2.0, -1.0, -6.0, 1.0, 6.0]]


def test_penalty_applies_once_per_token_and_per_row():
    # (prompt id 9 is outside the 3-token vocabulary: the prompt's columns are never even looked up)
    ids = torch.tensor([[9, 0, 0, 0],    # prompt [9, 0], answer [0, 0]: token 0 twice, penalised once
                        [9, 9, 2, 1]])   # prompt [9, 9], answer [2, 1]
    scores = torch.tensor([[3.0, 3.0, 3.0], [3.0, -0.5, 3.0]])
    out = AnswerRepetitionPenalty(prompt_width=2, penalty=1.5)(ids, scores.clone())
    # row 0: 3.0 / 1.5 = 2.0 for token 0 only; row 1: token 1 -0.5 * 1.5 = -0.75, token 2 3.0 / 1.5 = 2.0
    torch.testing.assert_close(out, torch.tensor([[2.0, 3.0, 3.0], [3.0, -0.75, 2.0]]))


def test_penalty_equals_transformers_on_the_answer_alone():
    torch.manual_seed(0)
    scores = torch.randn(2, 12)
    ids = torch.tensor([[3, 4, 5, 6, 3, 7], [0, 1, 2, 11, 11, 4]])
    ours = AnswerRepetitionPenalty(prompt_width=3, penalty=1.3)(ids, scores.clone())
    theirs = RepetitionPenaltyLogitsProcessor(1.3)(ids[:, 3:], scores.clone())
    assert torch.equal(ours, theirs)
    full = RepetitionPenaltyLogitsProcessor(1.3)(ids, scores.clone())
    assert not torch.equal(ours, full)  # transformers' own also penalises the prompt's tokens 3, 4, 5 / 0, 1, 2
    assert torch.equal(ours[0, [4, 5]], scores[0, [4, 5]]) and torch.equal(ours[1, :3], scores[1, :3])


def test_penalty_no_op_cases_and_bad_values():
    scores = torch.tensor([[1.0, -1.0, 2.0]])
    ids = torch.tensor([[0, 1, 2]])
    assert torch.equal(AnswerRepetitionPenalty(3, 2.0)(ids, scores.clone()), scores)  # no answer yet
    assert torch.equal(AnswerRepetitionPenalty(1, 1.0)(ids, scores.clone()), scores)  # penalty 1: off
    # a penalty below 1 rewards repeats: 2.0 / 0.5 = 4.0 (token 2), -1.0 * 0.5 = -0.5 (token 1)
    assert AnswerRepetitionPenalty(1, 0.5)(ids, scores.clone()).tolist() == [[1.0, -0.5, 4.0]]
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="must be > 0"):
            AnswerRepetitionPenalty(1, bad)


# ---------------------------------------------------------------------------- no-repeat n-gram


def test_an_answer_bigram_is_banned_once_its_prefix_reappears():
    # prompt [7, 8], answer [1, 2, 1]: the answer holds (1, 2) and ends in 1 -> token 2 banned
    ids = torch.tensor([[7, 8, 1, 2, 1]])
    out = AnswerNoRepeatNGram(prompt_width=2, size=2)(ids, torch.zeros(1, 10))
    assert out[0].tolist() == [0, 0, NEG, 0, 0, 0, 0, 0, 0, 0]


def test_the_prompts_ngrams_are_never_banned():
    # prompt [7, 8], answer [3, 7]: the answer ends in 7 and the PROMPT holds (7, 8), the answer does not
    ids = torch.tensor([[7, 8, 3, 7]])
    ours = AnswerNoRepeatNGram(prompt_width=2, size=2)(ids, torch.zeros(1, 10))
    assert torch.equal(ours, torch.zeros(1, 10))  # the user's "7 8" may be copied
    theirs = NoRepeatNGramLogitsProcessor(2)(ids, torch.zeros(1, 10))
    assert theirs[0, 8] == NEG  # transformers' own bans it: it counts the prompt


def test_trigrams_ban_every_continuation_seen_after_the_same_two_tokens():
    # answer [1, 2, 3, 1, 2, 4, 1, 2]: prefix (1, 2) was followed by 3 and by 4 -> both banned
    ids = torch.tensor([[0, 0, 0, 1, 2, 3, 1, 2, 4, 1, 2]])
    out = AnswerNoRepeatNGram(prompt_width=3, size=3)(ids, torch.zeros(1, 6))
    assert out[0].tolist() == [0, 0, 0, NEG, NEG, 0]
    # answer [1, 2, 3, 1]: the tail (3, 1) never occurred before -> nothing banned
    ids = torch.tensor([[0, 0, 0, 1, 2, 3, 1]])
    assert torch.equal(AnswerNoRepeatNGram(3, 3)(ids, torch.zeros(1, 6)), torch.zeros(1, 6))


def test_ngram_rows_are_independent_and_short_answers_ban_nothing():
    ids = torch.tensor([[5, 1, 2, 1],   # answer [1, 2, 1] with size 2: bans 2
                        [5, 1, 1, 2]])  # answer [1, 1, 2]: ends in 2, never before -> nothing
    out = AnswerNoRepeatNGram(prompt_width=1, size=2)(ids, torch.zeros(2, 4))
    assert out.tolist() == [[0, 0, NEG, 0], [0, 0, 0, 0]]
    # answer [4] is shorter than a trigram: nothing to ban
    assert torch.equal(AnswerNoRepeatNGram(3, 3)(torch.tensor([[1, 2, 3, 4]]), torch.zeros(1, 6)), torch.zeros(1, 6))


def test_unigrams_ban_every_answer_token_and_bad_sizes_fail():
    ids = torch.tensor([[4, 5, 4, 1]])  # prompt [4, 5], answer [4, 1]
    out = AnswerNoRepeatNGram(prompt_width=2, size=1)(ids, torch.zeros(1, 6))
    assert out[0].tolist() == [0, NEG, 0, 0, NEG, 0]  # 5 (prompt only) stays allowed
    with pytest.raises(ValueError, match="must be >= 1"):
        AnswerNoRepeatNGram(2, 0)


# ---------------------------------------------------------------------------- word-use cap


class WordTokenizer:
    """A byte-level-BPE-like vocabulary whose word-start tokens decode with their leading space."""

    VOCAB = ["<pad>", " dog", " dogs", " detail", " details", " detailed", " the", " cat", "s", " a", "dog", ","]

    def __len__(self):
        return len(self.VOCAB)

    def decode(self, ids):
        return "".join(self.VOCAB[i] for i in ids)

    def convert_ids_to_tokens(self, ids):  # byte-level BPE spells the leading space "Ġ"
        return [self.VOCAB[i].replace(" ", "\u0120") for i in ids]

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens).replace("\u0120", " ")

    def batch_decode(self, rows, skip_special_tokens=True):
        return [self.decode([i for i in row if not (skip_special_tokens and i == 0)]) for row in rows.tolist()]

    def encode(self, text, add_special_tokens=False):  # greedy longest match
        ids = []
        while text:
            i = max((i for i, piece in enumerate(self.VOCAB) if piece and text.startswith(piece)),
                    key=lambda i: len(self.VOCAB[i]))
            ids.append(i)
            text = text[len(self.VOCAB[i]):]
        return ids


TOK = WordTokenizer()


class PiecesTokenizer(WordTokenizer):
    """SmolLM2's spellings: "lifelike" is ``Ġlif`` + ``elike``, "sunlight" ``Ġsun`` + ``light``."""

    VOCAB = ["<pad>", " lif", "elike", "eless", "ely", " sun", "light", ",", " crisp", " cat"]


LIF, ELIKE, ELESS, ELY, SUN, LIGHT, COMMA, CRISP, CAT = range(1, 10)


def test_ngram_ban_never_falls_inside_a_word():
    # answer ", lifelike, crisp, lif": the trigram (",", " lif") -> "elike" is seen before; without the
    # tokenizer "elike" is banned and the model must end the word otherwise ("lifely"); with it, not
    ids = torch.tensor([[0, COMMA, LIF, ELIKE, COMMA, CRISP, COMMA, LIF]])
    assert AnswerNoRepeatNGram(1, 2)(ids.clone(), torch.zeros(1, 10))[0, ELIKE] == NEG
    pieces = PiecesTokenizer()
    out = AnswerNoRepeatNGram(1, 2, pieces)(ids.clone(), torch.zeros(1, 10))
    assert out[0, ELIKE] == 0
    # a word start is still banned: after ", crisp" then "," the bigram (",", " lif") and (",", " crisp")
    # are both seen -> " lif" and " crisp" banned, "elike" is not a word start and never followed ","
    out = AnswerNoRepeatNGram(1, 2, pieces)(torch.tensor([[0, COMMA, LIF, ELIKE, COMMA, CRISP, COMMA]]),
                                            torch.zeros(1, 10))
    assert [i for i, v in enumerate(out[0].tolist()) if v == NEG] == [LIF, CRISP]


def test_word_cap_bans_a_word_of_several_tokens_at_its_first_piece():
    # answer " lifelike, sunlight,": both used once (max_uses 1). "lifelike" starts with " lif", no word:
    # banned, and with it "lifeless" and "lifely"; "sunlight" starts with " sun", a word of its own: free
    cap = AnswerWordRepeatCap(prompt_width=1, tokenizer=PiecesTokenizer(), max_uses=1)
    out = cap(torch.tensor([[CAT, LIF, ELIKE, COMMA, SUN, LIGHT, COMMA]]), torch.zeros(1, 10))
    assert [i for i, v in enumerate(out[0].tolist()) if v == NEG] == [LIF]


def test_word_cap_finds_the_tokens_that_start_each_content_word():
    cap = AnswerWordRepeatCap(prompt_width=2, tokenizer=TOK, max_uses=2)
    # a space then 3+ letters, stopwords dropped ("the"), inflections merged by lemma; "s", " a", "dog"
    # (no space: inside a word) and "," start no word
    assert cap.starts == {"dog": [1, 2], "detail": [3, 4, 5], "cat": [7]}


def sentencepiece_tokenizer():
    """A tiny SentencePiece-style tokenizer trained on the spot: WordLevel over a Metaspace
    pre-tokenizer (a word start is spelt "▁word") that also splits off punctuation, wrapped in
    transformers' PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    core.decoder = decoders.Metaspace()
    core.train_from_iterator(["a dog and two dogs", "detail, details, detailed", "the dog-friendly cat"],
                             trainers.WordLevelTrainer(special_tokens=["<unk>", "<pad>"]))
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>")


def test_word_cap_finds_sentencepiece_word_starts():
    tok = sentencepiece_tokenizer()
    # the vocabulary: 2 special tokens, "," and "-" (punctuation split off), "friendly" (after "dog-": no
    # "▁", inside a word), and 11 "▁" word starts
    pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
    assert sorted(pieces) == sorted(["<unk>", "<pad>", ",", "-", "friendly", "\u2581a", "\u2581and", "\u2581cat",
                                     "\u2581detail", "\u2581detailed", "\u2581details", "\u2581dog", "\u2581dogs",
                                     "\u2581the", "\u2581two"])
    ids = dict(zip(pieces, range(len(pieces))))
    # decoding one SentencePiece token alone drops its space: decode() cannot tell a word start
    assert tok.decode([ids["\u2581dog"]]) == "dog"
    cap = AnswerWordRepeatCap(prompt_width=1, tokenizer=tok, max_uses=1)
    # word starts: "▁" then 3+ letters, stopwords dropped (▁a, ▁and, ▁the), by canonical lemma (dogs -> dog,
    # details/detailed -> detail, two -> 2); ",", "-", "friendly" (no "▁") and the special tokens start none
    assert cap.starts == {"dog": sorted([ids["\u2581dog"], ids["\u2581dogs"]]), "cat": [ids["\u2581cat"]],
                          "detail": sorted([ids["\u2581detail"], ids["\u2581detailed"], ids["\u2581details"]]),
                          "2": [ids["\u2581two"]]}
    # prompt "▁a", answer "▁dog ,": decoded "dog," -> dog used once, max_uses 1 -> ▁dog and ▁dogs banned
    out = cap(torch.tensor([[ids["\u2581a"], ids["\u2581dog"], ids[","]]]), torch.zeros(1, len(tok)))
    banned = sorted(i for i, v in enumerate(out[0].tolist()) if v == NEG)
    assert banned == sorted([ids["\u2581dog"], ids["\u2581dogs"]])


def test_the_users_prompt_raises_a_words_cap_to_its_own_count():
    """Copying the prompt is always possible: a word the user wrote twice may be written twice."""
    cap = AnswerWordRepeatCap(prompt_width=2, tokenizer=TOK, max_uses=1, originals=["a dog and a dog", "a dog"])
    ids = torch.tensor([[1, 1, 1, 11], [1, 1, 1, 11]])  # answers " dog,": dog used once in each
    out = cap(ids, torch.zeros(2, len(TOK)))
    assert out[0, [1, 2]].tolist() == [0.0, 0.0]  # row 0: the user wrote "dog" twice: a second use is free
    assert out[1, [1, 2]].tolist() == [float("-inf")] * 2  # row 1: once, and the answer has used it


def test_word_cap_bans_every_start_of_a_word_used_max_uses_times_in_the_answer():
    cap = AnswerWordRepeatCap(prompt_width=2, tokenizer=TOK, max_uses=2)
    # prompt " dog dog" (not counted), answer " detail, details": detail used 2 times -> its three
    # start tokens banned; dog (twice in the prompt, never in the answer) stays free
    ids = torch.tensor([[1, 1, 3, 11, 4],
                        [1, 1, 3, 11, 7]])  # answer " detail, cat": every word used once -> nothing
    out = cap(ids, torch.zeros(2, len(TOK)))
    assert out[0].tolist() == [0, 0, 0, NEG, NEG, NEG, 0, 0, 0, 0, 0, 0]
    assert torch.equal(out[1], torch.zeros(len(TOK)))
    # max_uses 1: " cat" once bans " cat" only
    once = AnswerWordRepeatCap(prompt_width=1, tokenizer=TOK, max_uses=1)(torch.tensor([[9, 7]]), torch.zeros(1, 12))
    assert once[0].tolist() == [0, 0, 0, 0, 0, 0, 0, NEG, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="must be >= 1"):
        AnswerWordRepeatCap(2, TOK, 0)


# ---------------------------------------------------------------------------- tag-run cap


class ListTokenizer(WordTokenizer):
    VOCAB = ["<pad>", " soft", " warm", " crisp", " calm", " vivid", " a", " dog", " runs", " on", " the",
             " beach", ",", ".", ' ,"', " and"]


LIST = ListTokenizer()
L_SOFT, L_WARM, L_CRISP, L_CALM, L_VIVID, L_A, L_DOG, L_RUNS, L_ON, L_THE, L_BEACH, L_COMMA, L_STOP, L_COMMA_QUOTE, L_AND = range(1, 16)


def banned_commas(max_run, answer, originals=None, max_items=0):
    ids = torch.tensor([[0] + answer])  # prompt [<pad>], then the answer
    out = AnswerTagRunCap(prompt_width=1, tokenizer=LIST, max_run=max_run, originals=originals,
                          max_items=max_items)(ids, torch.zeros(1, len(LIST)))
    banned = [i for i, v in enumerate(out[0].tolist()) if v == NEG]
    assert banned in ([], [L_COMMA, L_COMMA_QUOTE])  # only tokens holding a comma, all of them
    return bool(banned)


def test_tag_cap_bans_every_comma_once_the_run_reaches_max_run_worked_by_hand():
    # "a dog runs on the beach, soft, warm, crisp": the subject (6 words) is no tag; then 3 tags,
    # the unfinished "crisp" counted
    answer = [L_A, L_DOG, L_RUNS, L_ON, L_THE, L_BEACH, L_COMMA, L_SOFT, L_COMMA, L_WARM, L_COMMA, L_CRISP]
    assert banned_commas(3, answer) and not banned_commas(4, answer)
    assert not banned_commas(3, answer[:-1])  # "..., soft, warm," : the open item is empty, run 2
    assert banned_commas(3, answer + [L_AND, L_CALM])  # "crisp and calm" is still one tag
    # an item of 4+ words ends the run; so does a sentence end
    assert not banned_commas(3, answer + [L_A, L_DOG, L_RUNS, L_ON])
    # "crisp. calm": a new sentence, its run is 1
    assert banned_commas(1, answer + [L_STOP, L_CALM]) and not banned_commas(2, answer + [L_STOP, L_CALM])
    # the user's own items are free: copying their list of three costs no run
    copied = [L_SOFT, L_COMMA, L_WARM, L_COMMA, L_CRISP, L_COMMA, L_CALM]
    assert banned_commas(1, copied, ["soft, warm, crisp"]) and not banned_commas(2, copied, ["soft, warm, crisp"])
    with pytest.raises(ValueError, match="one of them >= 1"):
        AnswerTagRunCap(1, LIST, 0)


def test_tag_cap_also_ends_a_sentence_of_max_items_items_of_any_length():
    # "a dog runs on the beach, the dog runs on, a dog runs on the beach": items of 4+ words, no tag run
    long_item = [L_A, L_DOG, L_RUNS, L_ON, L_THE, L_BEACH]
    answer = long_item + [L_COMMA] + [L_THE, L_DOG, L_RUNS, L_ON] + [L_COMMA] + long_item
    assert not banned_commas(0, answer, max_items=4) and banned_commas(0, answer, max_items=3)
    assert banned_commas(0, answer + [L_COMMA, L_SOFT], max_items=4)  # the open item is the 4th
    assert not banned_commas(0, answer + [L_STOP, L_SOFT], max_items=2)  # a new sentence, 1 item
    assert not banned_commas(6, answer, max_items=0)  # items off, the run alone (0 here)

def test_a_greedy_list_writer_under_the_tag_cap_ends_its_list_at_max_run():
    """Scores that always prefer ", <next tag>" write an endless tag list; under the cap the
    comma after the third tag is banned and the writer takes its next choice, the full stop."""
    tags = [L_SOFT, L_WARM, L_CRISP, L_CALM, L_VIVID]
    prefs = []
    for t in tags:  # step by step: a tag, then ",", "." as second choice
        prefs += [{t: 2.0}, {L_COMMA: 2.0, L_STOP: 1.0}]
    cap = AnswerTagRunCap(prompt_width=1, tokenizer=LIST, max_run=3)
    ids = [0]
    for pref in prefs:
        scores = torch.zeros(1, len(LIST))
        for token, value in pref.items():
            scores[0, token] = value
        scores = cap(torch.tensor([ids]), scores)
        ids.append(int(scores.argmax()))
        if ids[-1] == L_STOP:
            break
    assert LIST.decode(ids[1:]) == " soft, warm, crisp."
    assert tag_run("", LIST.decode(ids[1:])) == 3


def test_answer_processors_builds_only_what_is_on():
    assert answer_processors(4) == [] and answer_processors(4, 1.0, 0) == []
    rep, ngram = answer_processors(7, 1.2, 3)
    assert isinstance(rep, AnswerRepetitionPenalty) and (rep.prompt_width, rep.penalty) == (7, 1.2)
    assert isinstance(ngram, AnswerNoRepeatNGram) and (ngram.prompt_width, ngram.size) == (7, 3)
    (cap,) = answer_processors(7, max_word_uses=2, tokenizer=TOK)
    assert isinstance(cap, AnswerWordRepeatCap) and (cap.prompt_width, cap.max_uses) == (7, 2)
    assert cap.allowed == []  # no originals: max_uses alone
    (cap,) = answer_processors(7, max_word_uses=1, tokenizer=TOK, originals=["a dog and a dog", "a cat"])
    assert [dict(a) for a in cap.allowed] == [{"dog": 2}, {"cat": 1}]  # each row's own counts
    with pytest.raises(ValueError, match="max_word_uses needs the tokenizer"):
        answer_processors(7, max_word_uses=2)
    (tags,) = answer_processors(7, max_tag_run=6, tokenizer=LIST, originals=["a dog"])
    assert isinstance(tags, AnswerTagRunCap)
    assert (tags.prompt_width, tags.max_run, tags.originals) == (7, 6, ["a dog"])
    assert tags.commas == [L_COMMA, L_COMMA_QUOTE]
    with pytest.raises(ValueError, match="max_tag_run and max_list_items need the tokenizer"):
        answer_processors(7, max_tag_run=6)
    (tags,) = answer_processors(7, max_list_items=8, tokenizer=LIST)
    assert (tags.max_run, tags.max_items) == (0, 8)


def test_generate_with_the_processor_never_repeats_an_answer_token(tiny_llama_dir):
    """The kit's random Llama greedily repeats one token whatever the prompt; with the
    answer-only unigram ban every generated token differs, the prompt untouched."""
    from transformers import AutoModelForCausalLM, LogitsProcessorList

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    kwargs = dict(max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0,
                  attention_mask=torch.ones_like(ids))
    with torch.no_grad():
        plain = model.generate(ids, **kwargs)[0, 6:].tolist()
        banned = model.generate(ids, logits_processor=LogitsProcessorList([AnswerNoRepeatNGram(6, 1)]),
                                **kwargs)[0, 6:].tolist()
    assert len(set(plain)) < len(plain)  # it does repeat without the ban
    assert len(banned) == 12 and len(set(banned)) == 12


class LineTokenizer:
    """Four tokens: two words, a line break, and a special end-of-text token."""

    VOCAB = [" dog", " cat", "\n\n", "<eos>"]
    all_special_ids = [3]

    def __len__(self):
        return len(self.VOCAB)

    def decode(self, ids):
        return "".join(self.VOCAB[i] for i in ids)


def test_single_line_bans_line_breaks_and_keeps_the_end_of_text():
    from prompt_a_video.modules.answer_penalties import SingleLineAnswer

    out = SingleLineAnswer(LineTokenizer())(torch.tensor([[0, 1]]), torch.zeros(1, 4))
    # "\n\n" (id 2) is banned; the words and the special end-of-text token (id 3) are not
    assert out.tolist() == [[0.0, 0.0, float("-inf"), 0.0]]
