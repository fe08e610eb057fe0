"""`pav refine --budget`, `--show` and `--interactive` on the tiny exported refiner (its
random-weight samples are gibberish words: unguarded, they are what the model writes), and
the review loop on scripted answers."""

import io
import json
import math
import sys

import pytest

from prompt_a_video.cli import main
from prompt_a_video.commands import refine_review
from prompt_a_video.refiner.guard import GuardedRewrite

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = ["a dog running on the beach", "an old man reading a book in the rain", "a red car in the snow"]
FAST = ["--max_new_tokens", "30", "--seed", "1", "--guard", "false"]
LIMIT = 5  # estimated tokens: ceil(1.3 x words) <= 5 holds 3 words


def estimate(text: str) -> int:
    return math.ceil(1.3 * len(text.split()))


@pytest.fixture(scope="module")
def export_dir(tiny_refiner_export_dir):
    return tiny_refiner_export_dir


@pytest.fixture(scope="module")
def uncut(export_dir):
    from prompt_a_video import Refiner

    return [r[0] for r in Refiner(export_dir).refine(PROMPTS, max_new_tokens=30, seed=1, guard=False)]


def run(capsys, *args):
    capsys.readouterr()
    status = main(["refine", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_budget_cuts_every_rewrite_and_false_prints_them_whole_with_a_warning(capsys, export_dir, uncut):
    assert any(estimate(t) > LIMIT for t in uncut)  # the tiny model writes past the budget
    budget = ["--model", str(export_dir), "--prompt", json.dumps(PROMPTS), "--target", "cogvideox",
              "--token_limit", str(LIMIT), "--json", *FAST]
    _, out, err = run(capsys, *budget)
    lines = [json.loads(line)["refined"][0] for line in out.splitlines()]  # exactly as cut (no line joining)
    assert len(lines) == 3 and "warning" not in err
    for line, whole in zip(lines, uncut):
        assert estimate(line) <= LIMIT and line and whole.startswith(line)  # a prefix, cut between words
        assert line == whole or (len(line.split()) < len(whole.split()) and (whole[len(line)].isspace()
                                                                           or whole[len(line)] in ",;-\u2013\u2014"))
    _, out, err = run(capsys, *budget, "--budget", "false")
    assert [json.loads(line)["refined"][0] for line in out.splitlines()] == uncut
    warnings = [w for w in err.splitlines() if w.startswith("pav refine: warning:")]
    assert len(warnings) == sum(estimate(t) > LIMIT for t in uncut)
    assert f"over the {LIMIT}-token limit of cogvideox" in warnings[0]


def test_show_prints_rewrites_tokens_and_verdicts_on_stderr_and_leaves_stdout_alone(capsys, export_dir, uncut):
    args = ["--model", str(export_dir), "--prompt", json.dumps(PROMPTS), "--target", "cogvideox",
            "--token_limit", str(LIMIT), *FAST]
    _, plain, _ = run(capsys, *args)
    _, out, err = run(capsys, *args, "--show")
    assert out == plain
    lines = err.splitlines()
    start = lines.index(f"pav refine: prompt 1 of 3: {PROMPTS[0]!r}")
    rewrite, tokens, verdict = lines[start + 1:start + 4]
    first = plain.splitlines()[0]
    assert rewrite == f"  {first}"
    assert tokens.startswith(f"    about {estimate(first)}/{LIMIT} tokens (estimate: 1.3 per word)")
    if first != " ".join(uncut[0].split()):  # the same batch as `uncut`: the same samples
        assert f"(the model's rewrite was {estimate(uncut[0])} tokens)" in tokens
    # unguarded: the checks' verdict is shown for information (the gibberish loses the prompt's words)
    assert verdict.startswith("    guard: off, the checks would say: fails: ")
    assert "loses the user's content" in verdict
    assert lines[start + 4] == f"pav refine: prompt 2 of 3: {PROMPTS[1]!r}"
    # guarded: the fallback says so
    _, out, err = run(capsys, "--model", str(export_dir), "--prompt", PROMPTS[0], "--max_new_tokens", "6",
                      "--show")
    assert out.splitlines() == [PROMPTS[0]]
    assert f"  {PROMPTS[0]}" in err.splitlines()
    assert "    no token budget (no --target, and refiner.json records none)" in err.splitlines()
    assert any(line.startswith("    guard: no sample passed, the original prompt is given back (e.g. ")
               for line in err.splitlines())


class Script:
    """Scripted answers for the terminal: records each question."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.questions = []

    def __call__(self, question):
        self.questions.append(question)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


def test_interactive_resample_edit_original_through_the_command(capsys, monkeypatch, export_dir, uncut):
    from prompt_a_video import Refiner

    script = Script("r", "a", "e", "a fox in the snow at dawn", "a", "o")
    monkeypatch.setattr(refine_review, "terminal_input", lambda: script)
    _, out, err = run(capsys, "--model", str(export_dir), "--prompt", json.dumps(PROMPTS), "--interactive", *FAST)
    # the resample draws prompt 1 alone with the next seed (2): a different sample from the first
    resampled = Refiner(export_dir).refine(PROMPTS[0], max_new_tokens=30, seed=2, guard=False)[0]
    assert resampled != uncut[0]
    assert out.splitlines() == [resampled, "a fox in the snow at dawn", PROMPTS[2]]
    assert script.questions.count(refine_review.MENU) == 5 and not script.answers
    shown = err.splitlines()
    assert f"  {' '.join(uncut[0].split())}" in shown and f"  {resampled}" in shown
    assert "  a fox in the snow at dawn" in shown  # the edit is shown before it is accepted
    # unguarded, each of the 5 texts shown (3 first rewrites, the resample, the edit) comes with what the
    # checks would say
    assert sum(line.startswith("    guard: off, the checks would say: ") for line in shown) == 5


def test_interactive_quit_prints_only_the_prompts_answered(capsys, monkeypatch, export_dir, uncut):
    monkeypatch.setattr(refine_review, "terminal_input", lambda: Script("a", "q"))
    status, out, err = run(capsys, "--model", str(export_dir), "--prompt", json.dumps(PROMPTS), "--interactive",
                           "--json", *FAST)
    assert status == 0
    assert [json.loads(line) for line in out.splitlines()] == [{"prompt": PROMPTS[0], "refined": [uncut[0]]}]
    assert "pav refine: quit at prompt 2 of 3: printing the 1 answered" in err.splitlines()


def test_interactive_is_refused_without_a_terminal_or_with_n_above_one(capsys, monkeypatch, tmp_path, export_dir):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal
    monkeypatch.setattr(refine_review, "TTY", str(tmp_path / "no-tty"))
    status, out, err = run(capsys, "--model", str(export_dir), "--prompt", PROMPTS[0], "--interactive")
    assert status == 2 and out == ""
    assert err.strip().splitlines()[-1] == (
        f"pav refine: --interactive needs a terminal to ask on: stdin is not one and {tmp_path / 'no-tty'} cannot "
        "be opened (run it in a terminal, or use --show to see the rewrites without being asked)")
    status, _, err = run(capsys, "--model", str(export_dir), "--prompt", PROMPTS[0], "--interactive", "--n", "2")
    assert status == 2
    assert err.strip().splitlines()[-1] == ("pav refine: --interactive reviews one rewrite per prompt: give --n 1, "
                                            "not --n 2")


def test_terminal_input_reads_stdin_when_it_is_a_terminal_and_asks_on_stderr(capsys, monkeypatch):
    class FakeTTY(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", FakeTTY("e\nmy prompt\n"))
    ask = refine_review.terminal_input()
    assert ask("menu? ") == "e" and ask("new? ") == "my prompt"
    with pytest.raises(EOFError):
        ask("more? ")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "menu? new? more? "


def test_help_lists_the_new_options(capsys):
    with pytest.raises(SystemExit):
        main(["refine", "--help"])
    help_text = capsys.readouterr().out
    for option in ("--budget", "--language", "--show", "--interactive"):
        assert option in help_text


# ---------------------------------------------------------------------------- the loop, with a fake sampler


def answer(text):
    return GuardedRewrite(text, False, None, ())


def run_review(script, seed=7, greedy=False, texts=("p1", "p2")):
    drawn = []

    def resample(original, new_seed):
        drawn.append((original, new_seed))
        return answer(f"{original} sample seed {new_seed}")

    chosen, quit_ = refine_review.review(list(texts), [[answer(f"{t} first")] for t in texts], ask=script,
                                         resample=resample, check=None, budget=None, guarded=False, cutting=False,
                                         seed=seed, greedy=greedy)
    return chosen, quit_, drawn


def test_each_resample_takes_the_next_seed_and_enter_accepts(capsys):
    chosen, quit_, drawn = run_review(Script("r", "r", "", "a"))
    assert chosen == ["p1 sample seed 9", "p2 first"] and not quit_
    assert drawn == [("p1", 8), ("p1", 9)]
    chosen, _, drawn = run_review(Script("r", "a", "r", "a"), seed=None)
    assert drawn == [("p1", None), ("p2", None)]  # unseeded stays unseeded


def test_edit_replaces_the_text_and_an_empty_edit_keeps_it(capsys):
    chosen, _, _ = run_review(Script("e", "my own words", "e", "", "a", "o"))
    assert chosen == ["my own words", "p2"]


def test_greedy_refuses_to_resample_and_unknown_answers_are_asked_again(capsys):
    chosen, _, drawn = run_review(Script("r", "x", "a", "a"), greedy=True)
    assert chosen == ["p1 first", "p2 first"] and drawn == []
    err = capsys.readouterr().err
    assert "greedy decoding (temperature 0) has one answer: give --temperature > 0 to resample" in err
    assert "answer a, e, r, o or q, not 'x'" in err


def test_end_of_input_quits(capsys):
    chosen, quit_, _ = run_review(Script("a"))
    assert chosen == ["p1 first"] and quit_
