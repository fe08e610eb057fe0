"""The user-facing `Refiner` (``from prompt_a_video import Refiner``) on an exported tiny
model, and the cheap parts of `pav refine`: its help, token limits and counting."""

import math
import subprocess
import sys

import pytest

from prompt_a_video.generators.targets import TARGETS, resolve_limit, token_counter

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = ["a dog running on the beach", "an old man reading a book in the rain"]


@pytest.fixture(scope="module")
def export_dir(tiny_refiner_export_dir):
    return tiny_refiner_export_dir


@pytest.fixture(scope="module")
def refiner(export_dir):
    from prompt_a_video import Refiner

    return Refiner(export_dir)


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_and_construction_load_no_torch(export_dir):
    proc = _python(
        "import sys; from prompt_a_video import Refiner; import prompt_a_video.refiner as m\n"
        f"r = Refiner({str(export_dir)!r}); assert Refiner is m.Refiner\n"
        "print('HEAVY', [x for x in ('torch', 'transformers', 'lightning') if x in sys.modules])")
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


def test_repr_names_the_folder_and_settings_come_from_refiner_json(export_dir):
    from prompt_a_video import Refiner

    fresh = Refiner.from_pretrained(export_dir)
    assert str(export_dir) in repr(fresh) and "not loaded" in repr(fresh)
    assert fresh.settings["user_template"] == "Prompt: {prompt}"
    assert not fresh.loaded


def test_greedy_is_deterministic_and_a_str_gives_a_flat_list(refiner):
    # Unguarded: guarded, the tiny model's answers fail the checks and come back as the
    # prompts themselves, which would make "the answer is the prompt's" below trivially true.
    one = refiner.refine(PROMPTS[0], temperature=0, max_new_tokens=8, guard=False)
    assert isinstance(one, list) and len(one) == 1 and isinstance(one[0], str) and one[0]
    assert one[0] != PROMPTS[0]
    assert refiner.refine(PROMPTS[0], temperature=0, max_new_tokens=8, guard=False) == one
    assert refiner.refine(PROMPTS[:1], temperature=0, max_new_tokens=8, guard=False) == [one]
    both = refiner.refine(PROMPTS, temperature=0, max_new_tokens=8, guard=False)
    assert len(both) == 2 and all(len(r) == 1 for r in both)
    assert both[0] != both[1]  # the answer is the prompt's, not a constant
    assert refiner.refine([]) == []
    assert "loaded" in repr(refiner) and "not loaded" not in repr(refiner)


def test_n_samples_are_seeded(refiner):
    # Unguarded: the tiny random model's samples all fail the guard, which would answer the
    # original prompt whatever the seed (the guard's own tests: test_refiner_guard.py).
    first = refiner.refine(PROMPTS, n=3, max_new_tokens=6, seed=1, guard=False)
    assert len(first) == 2 and all(len(r) == 3 and all(isinstance(t, str) for t in r) for r in first)
    assert refiner.refine(PROMPTS, n=3, max_new_tokens=6, seed=1, guard=False) == first
    assert refiner.refine(PROMPTS, n=3, max_new_tokens=6, seed=2, guard=False) != first
    assert len(refiner.refine(PROMPTS[0], n=3, max_new_tokens=6, guard=False)) == 3


def test_bad_arguments_fail_before_loading(export_dir):
    from prompt_a_video import Refiner

    fresh = Refiner(export_dir)
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        fresh.refine(["a dog", "  "])
    with pytest.raises(ValueError, match="n must be"):
        fresh.refine("a dog", n=0)
    with pytest.raises(TypeError, match="str or a list"):
        fresh.refine(42)
    assert not fresh.loaded


def test_missing_refiner_errors_name_it(tmp_path, monkeypatch):
    from prompt_a_video import Refiner
    from prompt_a_video.assets import AssetNotInstalledError

    with pytest.raises(FileNotFoundError, match=f"refiner folder not found: {tmp_path / 'nope'}.*pav export"):
        Refiner(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="is a file"):
        Refiner(tmp_path / "file.txt")
    monkeypatch.setenv("PAV_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(AssetNotInstalledError, match="pav assets install smollm2-135m-instruct"):
        Refiner("smollm2-135m-instruct")
    with pytest.raises(FileNotFoundError, match="no merged/ or adapter/"):
        Refiner(tmp_path).load()  # a folder that holds no model
    assert Refiner("org/some-model").path is None  # a hub id: looked up only when loading


def test_refine_help_lists_options_without_importing_torch():
    proc = _python(
        "import sys; from prompt_a_video.cli import main\n"
        "try:\n    main(['refine', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'transformers', 'lightning') if m in sys.modules])")
    for option in ("--model", "--prompt", "--prompts", "--n", "--json", "--target", "--token_limit",
                   "--target_tokenizer", "cogvideox"):
        assert option in proc.stdout, option
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_token_limit_precedence_and_recorded_target():
    assert resolve_limit("cogvideox", None, None)[:2] == (226, "cogvideox")
    assert resolve_limit("wan", 50, None)[:2] == (50, "wan")  # --token_limit overrides the family's
    assert resolve_limit(None, None, {"target": "ltx"})[0] == TARGETS["ltx"].token_limit
    assert resolve_limit(None, None, {"target": {"name": "mine", "prompt_token_limit": 99}})[0] == 99
    assert resolve_limit(None, None, {"system_prompt": "x"})[0] is None  # nothing recorded: no check
    assert resolve_limit("synthetic:short-strict", None, None)[0] == 60
    with pytest.raises(ValueError, match="unknown --target 'cogvideo'.*cogvideox"):
        resolve_limit("cogvideo", None, None)


def test_token_counts_exact_or_estimated(tiny_llama_dir):
    from transformers import AutoTokenizer

    from prompt_a_video.generators.synthetic import PRESETS, tokenize

    text = "A golden retriever sprints along a sunlit beach, slow motion, cinematic lighting."
    count, exact = token_counter("cogvideox", None)
    assert not exact and count(text) == math.ceil(1.3 * len(text.split()))
    count, exact = token_counter("synthetic:long-cinematic", None)
    assert exact and count(text) == len(tokenize(text))
    count, exact = token_counter("cogvideox", str(tiny_llama_dir))
    assert exact and count(text) == len(AutoTokenizer.from_pretrained(tiny_llama_dir)(text)["input_ids"])
    for name in PRESETS:  # every synthetic preset is a target
        assert resolve_limit(f"synthetic:{name}", None, None)[0] == PRESETS[name].token_limit
    with pytest.raises(FileNotFoundError, match="target_tokenizer .*folder not found"):
        token_counter(None, "/nonexistent/tokenizer")

