"""`pav refine --guard true|false --guard_samples N` on the tiny exported refiner, through
`prompt_a_video.cli.main` (its random-weight samples lose every content word: the default
guard prints the original prompts and says so on stderr)."""

import json

import pytest

from prompt_a_video.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = ["a dog running on the beach", "an old man reading a book in the rain"]
FAST = ["--max_new_tokens", "6", "--seed", "1"]


@pytest.fixture(scope="module")
def export_dir(tiny_refiner_export_dir):
    return tiny_refiner_export_dir


@pytest.fixture(scope="module")
def api(export_dir):
    from prompt_a_video import Refiner

    return Refiner(export_dir)


def run(capsys, *args):
    capsys.readouterr()
    main(["refine", *args])
    out = capsys.readouterr()
    return out.out, out.err


def test_default_guard_prints_the_originals_and_explains_on_stderr(capsys, export_dir, api):
    out, err = run(capsys, "--model", str(export_dir), "--prompt", json.dumps(PROMPTS), *FAST)
    assert out.splitlines() == PROMPTS
    assert out.splitlines() == [r[0] for r in api.refine(PROMPTS, max_new_tokens=6, seed=1)]
    lines = [line for line in err.splitlines() if line.startswith("pav refine: guard:")]
    assert len(lines) == 2
    assert lines[0].startswith("pav refine: guard: prompt 1 ('a dog running on the beach'): 1 of 1 answers are "
                               "the original prompt")
    assert "loses the user's content" in lines[0] and "--guard false shows what the model wrote" in lines[0]


def test_guard_false_prints_what_the_model_writes(capsys, export_dir, api):
    out, err = run(capsys, "--model", str(export_dir), "--prompt", json.dumps(PROMPTS), "--guard", "false",
                   "--n", "2", "--json", "true", *FAST)
    records = [json.loads(line) for line in out.splitlines()]
    expected = api.refine(PROMPTS, n=2, max_new_tokens=6, seed=1, guard=False)
    assert [r["refined"] for r in records] == expected
    assert all(p not in r for p, r in zip(PROMPTS, expected))  # not the originals
    assert "guard:" not in err


def test_guard_samples_is_passed_on_and_checked(capsys, monkeypatch, export_dir, api):
    from prompt_a_video.refiner import Refiner

    calls = []
    original = Refiner.refine_guarded

    def spy(self, prompts, n=1, **kwargs):
        calls.append((list(prompts), n, kwargs))
        return original(self, prompts, n, **kwargs)

    monkeypatch.setattr(Refiner, "refine_guarded", spy)
    out, _ = run(capsys, "--model", str(export_dir), "--prompt", PROMPTS[0], "--n", "2", "--guard_samples", "5",
                 "--json", "true", *FAST)
    assert calls == [([PROMPTS[0]], 2, dict(guard_samples=5, temperature=0.7, top_p=0.95, max_new_tokens=6,
                                            seed=1))]
    assert json.loads(out)["refined"] == api.refine(PROMPTS[0], n=2, guard_samples=5, max_new_tokens=6, seed=1)
    calls.clear()
    run(capsys, "--model", str(export_dir), "--prompt", PROMPTS[0], "--guard", "false", *FAST)
    assert calls == []  # unguarded: no guard at all
    capsys.readouterr()
    assert main(["refine", "--model", str(export_dir), "--prompt", PROMPTS[0], "--guard_samples", "0", *FAST]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "pav refine: guard_samples must be an int >= 1, got 0"


def test_help_lists_the_guard_options(capsys):
    with pytest.raises(SystemExit):
        main(["refine", "--help"])
    help_text = capsys.readouterr().out
    assert "--guard" in help_text and "--guard_samples" in help_text
