"""`pav refine` on an exported tiny refiner: plain and JSON output, prompts from options,
files and stdin, token-limit warnings on stderr, clear errors."""

import io
import json
import shutil

import pytest

from prompt_a_video.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]

PROMPTS = ["a dog running on the beach", "an old man reading a book in the rain", "a red car at night"]
# Unguarded: these tests compare what the model writes (the guard has tests of its own).
FAST = ["--max_new_tokens", "6", "--guard", "false"]


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


def test_plain_output_is_the_api_output_one_line_per_prompt(capsys, export_dir, api):
    out, _ = run(capsys, "--model", str(export_dir), "--prompt", PROMPTS[0], "--temperature", "0", *FAST)
    expected = api.refine(PROMPTS[0], temperature=0, max_new_tokens=6, guard=False)
    assert out.splitlines() == [" ".join(expected[0].split())]

    out, _ = run(capsys, "--model", str(export_dir), "--prompt+", PROMPTS[0], "--prompt+", PROMPTS[1],
                 "--n", "2", "--seed", "3", *FAST)
    expected = api.refine(PROMPTS[:2], n=2, max_new_tokens=6, seed=3, guard=False)
    blocks = out.rstrip("\n").split("\n\n")  # n > 1: a block of n lines per prompt
    assert [b.splitlines() for b in blocks] == [[" ".join(t.split()) for t in r] for r in expected]


def test_json_lines_keep_the_exact_rewrites(capsys, export_dir, api):
    out, _ = run(capsys, "--model", str(export_dir), "--prompt", json.dumps(PROMPTS), "--n", "3", "--json", "true",
                 *FAST)
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["prompt"] for r in records] == PROMPTS
    assert [r["refined"] for r in records] == api.refine(PROMPTS, n=3, max_new_tokens=6, guard=False)


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_prompts_file(capsys, tmp_path, export_dir, suffix):
    path = tmp_path / f"prompts{suffix}"
    lines = PROMPTS if suffix == ".txt" else [json.dumps({"prompt": p, "id": i}) for i, p in enumerate(PROMPTS)]
    path.write_text("\n".join(lines) + "\n")
    out, _ = run(capsys, "--model", str(export_dir), "--prompts", str(path), "--json", "true", *FAST)
    assert [json.loads(line)["prompt"] for line in out.splitlines()] == PROMPTS


def test_stdin_when_no_prompt_or_dash(capsys, monkeypatch, export_dir):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PROMPTS[0]}\n\n{PROMPTS[1]}\n"))
    out, _ = run(capsys, "--model", str(export_dir), "--json", "true", *FAST)
    assert [json.loads(line)["prompt"] for line in out.splitlines()] == PROMPTS[:2]

    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PROMPTS[1]}\n"))
    out, _ = run(capsys, "--model", str(export_dir), "--prompt+", PROMPTS[0], "--prompt+", "-", "--json", "true",
                 *FAST)
    assert [json.loads(line)["prompt"] for line in out.splitlines()] == PROMPTS[:2]


def test_no_prompt_and_missing_model_are_clear_errors(capsys, monkeypatch, tmp_path, export_dir):
    def last_line(*args):  # a user error: exit status 2 and one line, the last on stderr
        capsys.readouterr()
        assert main(["refine", *args]) == 2
        return capsys.readouterr().err.strip().splitlines()[-1]

    monkeypatch.setattr("sys.stdin", io.StringIO("\n \n# only a comment\n"))
    assert "no prompt given" in last_line("--model", str(export_dir))
    assert f"refiner folder not found: {tmp_path / 'nope'}" in last_line("--model", str(tmp_path / "nope"),
                                                                          "--prompt", "a dog")
    assert "needs sampling" in last_line("--model", str(export_dir), "--prompt", "a dog", "--n", "2",
                                         "--temperature", "0")


def test_token_limit_warning_on_stderr(capsys, tmp_path, export_dir, tiny_llama_dir, api):
    # --budget false: the rewrite is printed whole, and a warning says it is too long
    base = ["--model", str(export_dir), "--prompt", PROMPTS[0], "--temperature", "0", *FAST, "--budget", "false"]
    refined = api.refine(PROMPTS[0], temperature=0, max_new_tokens=6, guard=False)[0]
    words = len(refined.split())
    assert words >= 2

    out, err = run(capsys, *base, "--token_limit", "1")
    assert out.strip() and "pav refine: warning: the refined prompt of prompt 1" in err
    assert "about" in err and "(estimate" in err
    _, err = run(capsys, *base, "--token_limit", "1000")
    assert "warning" not in err

    from transformers import AutoTokenizer

    exact = len(AutoTokenizer.from_pretrained(tiny_llama_dir)(refined)["input_ids"])
    _, err = run(capsys, *base, "--token_limit", str(exact - 1), "--target_tokenizer", str(tiny_llama_dir))
    assert f"is {exact} tokens, over the {exact - 1}-token limit" in err
    _, err = run(capsys, *base, "--token_limit", str(exact), "--target_tokenizer", str(tiny_llama_dir))
    assert "warning" not in err
    # the default budget cuts it instead: within the limit, a prefix of the rewrite, no warning
    out, err = run(capsys, *base[:-2], "--json", "--token_limit", str(exact - 1), "--target_tokenizer",
                   str(tiny_llama_dir))
    (cut,) = json.loads(out)["refined"]
    assert cut and refined.startswith(cut) and cut != refined and "warning" not in err
    assert len(AutoTokenizer.from_pretrained(tiny_llama_dir)(cut)["input_ids"]) <= exact - 1

    # An export that records its target is checked without any option.
    recorded = tmp_path / "export"
    shutil.copytree(export_dir, recorded)
    settings = json.loads((recorded / "refiner.json").read_text())
    settings["target"] = {"name": "tiny-video", "prompt_token_limit": 1}
    (recorded / "refiner.json").write_text(json.dumps(settings))
    _, err = run(capsys, "--model", str(recorded), "--prompt", PROMPTS[0], "--temperature", "0", *FAST,
                 "--budget", "false")
    assert "over the 1-token limit of tiny-video (refiner.json)" in err
    # with the budget, refiner.json's limit cuts the rewrite: to its first word (1 token holds none)
    out, _ = run(capsys, "--model", str(recorded), "--prompt", PROMPTS[0], "--temperature", "0", *FAST)
    assert out.strip() == refined.split()[0].rstrip(",;:")
