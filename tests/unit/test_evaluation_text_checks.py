"""The evaluation reads its rewrites as text: degenerate / intent-kept / leakage rates,
the win rule (a failing rewrite never wins), target-token lengths, tables and report badges,
worked out by hand on a few tiny rewrites."""

from __future__ import annotations

import html
import json
import math

import pytest
import torch

from prompt_a_video.evaluation.statistics import compute_metrics
from prompt_a_video.evaluation.tables import markdown_table
from prompt_a_video.generators.targets import TokenCounter, estimate_counter, token_counter_for
from prompt_a_video.evaluation.text_checks import (check_rates, default_text_checks, failing_prompts,
                                                   rewrite_verdicts)
from prompt_a_video.rewards.text import TEXT_FLOORS
from prompt_a_video.rewards.text.checks import TextChecks

DOG = "a dog running on the beach"  # content words: dog, running, beach
CAR = "a red car in the rain"
SEEDS = [0]

# One rewrite of DOG for each verdict (scores checked in the first test).
FLUENT = "a dog running on the beach at sunset, golden light, slow motion"
REPEATED = "a dog running on the beach, detail, detail, detail, detail, detail"  # 5 x detail
DROPPED = "a cat on the beach at sunset"  # dog and running lost: INT = 1/3
LEAKED = "Here is the refined prompt: a dog running on the beach"  # assistant talk


def rewrite(method, prompt, text, sample=0):
    return {"method": method, "prompt": prompt, "sample": sample, "text": text}


def record(method, prompt, text, reward, sample=0, failure=None):
    return {"method": method, "prompt": prompt, "sample": sample, "seed": sample, "text": text,
            "scores": {"VQ": reward}, "reward": reward, "failure": failure, "video": None}


def test_each_tiny_rewrite_gets_the_verdict_worked_out_by_hand():
    checks = TextChecks(fluency=None)
    fluent, repeated, dropped, leaked = checks([DOG] * 4, [FLUENT, REPEATED, DROPPED, LEAKED])
    assert fluent.passes and fluent.reasons == ()
    # 8 content words (dog, run, beach, detail x5), allowed 2 + 8 // 25 = 2: "detail" 3 uses over ->
    # 1 - 3/8 = 0.625; distinct-2 4/7, distinct-3 4/6; "detail, detail, detail, detail, detail" holds 4
    # stutters -> 1 - 0.5 * 4 = -1: REP = max(0, min(0.625, 4/7, 2/3, -1)) = 0, below the floor (the
    # measure itself is rewards.text.repetition's)
    assert repeated.scores["REP"] == 0.0 < TEXT_FLOORS["REP"] and repeated.degenerate and not repeated.passes
    assert dropped.scores["INT"] == pytest.approx(1 / 3) and not dropped.intent_kept and not dropped.degenerate
    assert leaked.scores["LEAK"] == 0.0 and leaked.leaked and leaked.intent_kept


def test_rates_are_shares_of_every_sample_of_every_prompt():
    rewrites = [rewrite("original", DOG, DOG, s) for s in range(4)]
    rewrites += [rewrite("mixed", DOG, text, s) for s, text in enumerate([FLUENT, REPEATED, DROPPED, LEAKED])]
    rewrites += [rewrite("original", CAR, CAR, 0), rewrite("mixed", CAR, "a red car in the rain, wet asphalt", 0),
                 rewrite("mixed", CAR, "ignored: a resumed run repeated this key", 0)]
    verdicts = rewrite_verdicts(rewrites, TextChecks())
    rates = check_rates(rewrites, verdicts)
    assert rates["original"] == {"degenerate_rate": 0.0, "intent_kept_rate": 1.0, "leakage_rate": 0.0,
                                 "text_pass_rate": 1.0}
    # mixed: 5 rewrites: 1 degenerate, 1 intent lost, 1 leaked, 2 pass (FLUENT and the CAR one)
    assert rates["mixed"] == {"degenerate_rate": 0.2, "intent_kept_rate": 0.8, "leakage_rate": 0.2,
                              "text_pass_rate": 0.4}
    assert failing_prompts(verdicts, "mixed") == {DOG} and failing_prompts(verdicts, "original") == set()


def test_the_prompt_itself_always_passes_even_when_it_would_fail_the_checks():
    # A user prompt that repeats itself is what the user wrote: original is not judged.
    prompt = "dog dog dog dog dog"
    verdicts = rewrite_verdicts([rewrite("original", prompt, prompt), rewrite("echo", prompt, prompt + " ")],
                                TextChecks())
    assert all(v.passes for v in verdicts.values())
    assert not TextChecks().check(prompt, prompt).passes, "the same text, checked, would fail"


# ------------------------------------------------------------------ the win rule
def hacked_run():
    """original vs hacker on 3 prompts, 1 sample. hacker's reward is higher on every prompt;
    its DOG rewrite repeats itself, its CAR rewrite is fluent, and on a third prompt it ties."""
    boat = "a boat on a lake"
    texts = {DOG: REPEATED, CAR: "a red car in the rain at night, neon reflections", boat: "a boat on a calm lake"}
    rewards = {"original": {DOG: 1.0, CAR: 1.0, boat: 2.0}, "hacker": {DOG: 3.0, CAR: 2.0, boat: 2.0}}
    rewrites, records = [], []
    for method, by_prompt in rewards.items():
        for prompt, reward in by_prompt.items():
            text = prompt if method == "original" else texts[prompt]
            rewrites.append(rewrite(method, prompt, text))
            records.append(record(method, prompt, text, reward))
    return records, rewrites


def test_a_higher_reward_degenerate_rewrite_is_not_a_win():
    records, rewrites = hacked_run()
    m = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=200)
    # DOG: higher but degenerate -> 0; CAR: higher and fluent -> 1; boat: tie, passes -> 0.5
    assert m["win_rate"]["hacker_vs_original"] == pytest.approx(1.5 / 3)
    assert m["win_rate_reward_only"]["hacker_vs_original"] == pytest.approx(2.5 / 3)
    # original never wins by a failing opponent: only its tie counts
    assert m["win_rate"]["original_vs_hacker"] == pytest.approx(0.5 / 3)
    assert m["methods"]["hacker"]["degenerate_rate"] == pytest.approx(1 / 3)
    assert m["methods"]["hacker"]["text_pass_rate"] == pytest.approx(2 / 3)
    # The reward difference and its paired bootstrap interval stay on raw rewards.
    unchecked = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=200,
                                checks=TextChecks(floors={}))
    assert unchecked["win_rate"]["hacker_vs_original"] == pytest.approx(2.5 / 3)
    assert m["mean_diff"]["hacker_vs_original"] == unchecked["mean_diff"]["hacker_vs_original"] == pytest.approx(1.0)
    assert m["ci95"]["hacker_vs_original"] == unchecked["ci95"]["hacker_vs_original"]


def test_with_several_samples_one_failing_sample_takes_the_prompts_win_away():
    rewrites = [rewrite("original", DOG, DOG, s) for s in (0, 1)] + [
        rewrite("m", DOG, FLUENT, 0), rewrite("m", DOG, LEAKED, 1),
        rewrite("original", CAR, CAR, 0), rewrite("original", CAR, CAR, 1),
        rewrite("m", CAR, "a red car in the rain, wet asphalt", 0), rewrite("m", CAR, "a red car in heavy rain", 1)]
    rewards = {("original", DOG): [1.0, 1.0], ("m", DOG): [2.0, 2.0], ("original", CAR): [1.0, 1.0],
               ("m", CAR): [2.0, 0.5]}  # CAR: mean 1.25 > 1.0, both samples pass
    records = [record(r["method"], r["prompt"], r["text"], rewards[(r["method"], r["prompt"])][r["sample"]],
                      r["sample"]) for r in rewrites]
    m = compute_metrics(records, rewrites, seeds=[0, 1], prompt_set="toy", bootstrap=0)
    assert m["win_rate"]["m_vs_original"] == pytest.approx(0.5)  # CAR only
    assert m["win_rate_reward_only"]["m_vs_original"] == pytest.approx(1.0)


def test_fluency_lm_makes_word_salad_degenerate_and_is_recorded():
    class TinyLM:  # stands in for FluencyScorer: -12 nats/token for salad, -3 otherwise
        model = "tiny-test-lm"

        def __call__(self, texts):
            return torch.tensor([-12.0 if "spoon" in t else -3.0 for t in texts])

    # word salad of real words: no repetition, no coined word, only the LM can tell
    rewrites = [rewrite("m", DOG, FLUENT), rewrite("m", CAR, "a red car spoon rain however of blue")]
    records = [record("m", DOG, FLUENT, 1.0), record("m", CAR, rewrites[1]["text"], 1.0)]
    m = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=0,
                        checks=TextChecks(fluency=TinyLM()))
    assert m["text_checks"] == {"floors": TEXT_FLOORS, "fluency_model": "tiny-test-lm"}
    assert m["methods"]["m"]["degenerate_rate"] == 0.5
    plain = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=0)
    assert plain["text_checks"]["fluency_model"] is None and plain["methods"]["m"]["degenerate_rate"] == 0.0


def test_default_checks_use_the_fluency_asset_only_when_installed(monkeypatch, tmp_path):
    import prompt_a_video.assets as assets

    monkeypatch.setattr(assets, "is_installed", lambda name, cache=None: False)
    assert default_text_checks().fluency is None
    assert default_text_checks(None).fluency is None
    assert default_text_checks(str(tmp_path / "no-such-lm")).fluency is None
    monkeypatch.setattr(assets, "is_installed", lambda name, cache=None: True)
    checks = default_text_checks()  # the LM loads on first use, not here
    assert checks.fluency.model == "smollm2-135m-instruct" and checks.fluency._lm is None
    assert default_text_checks(str(tmp_path)).fluency.model == str(tmp_path)


# ------------------------------------------------------------------ token lengths
def test_length_tokens_defaults_to_the_words_estimate_and_takes_a_counter():
    rewrites = [rewrite("m", DOG, "one two three"), rewrite("m", CAR, "one two three four five six seven")]
    records = [record("m", r["prompt"], r["text"], 1.0) for r in rewrites]
    m = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=0)
    assert m["methods"]["m"]["length_tokens"] == pytest.approx((math.ceil(1.3 * 3) + math.ceil(1.3 * 7)) / 2)
    assert m["token_count"] == {"tokenizer": "estimate: ceil(1.3 x words)", "exact": False, "token_limit": None}
    chars = TokenCounter(len, True, "characters", 77)
    m = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=0, tokens=chars)
    assert m["methods"]["m"]["length_tokens"] == pytest.approx((13 + 33) / 2)
    assert m["token_count"] == {"tokenizer": "characters", "exact": True, "token_limit": 77}


def test_token_counter_follows_the_generator(tmp_path):
    from prompt_a_video.cache import RenderCache
    from prompt_a_video.cache.cached_generator import CachedGenerator
    from prompt_a_video.generators.diffusers_video import DiffusersVideoGenerator
    from prompt_a_video.generators.synthetic import SyntheticGenerator, tokenize
    from tests.kit.tiny_diffusers import train_t5_tokenizer

    synthetic = CachedGenerator(SyntheticGenerator("short-strict"), RenderCache(tmp_path / "cache"))
    counter = token_counter_for(synthetic)
    assert counter.exact and counter.token_limit == 60 and "synthetic:short-strict" in counter.tokenizer
    assert counter.count("a dog, running.") == len(tokenize("a dog, running.")) == 5

    # A diffusers pipeline folder, not loaded: its tokenizer/ is read, special tokens counted.
    tokenizer = train_t5_tokenizer([DOG, CAR, FLUENT] * 20, vocab_size=60)
    tokenizer.save_pretrained(tmp_path / "pipe" / "tokenizer")
    video = DiffusersVideoGenerator(str(tmp_path / "pipe"), prompt_token_limit=226)
    counter = token_counter_for(video)
    assert counter.exact and counter.token_limit == 226 and "T5Tokenizer" in counter.tokenizer
    assert counter.count(DOG) == len(tokenizer(DOG)["input_ids"]) and tokenizer(DOG)["input_ids"][-1] == 1

    # A hub id that is not in the local cache: estimated, never downloaded.
    counter = token_counter_for(DiffusersVideoGenerator("nobody/no-such-model-xyz"))
    assert not counter.exact and counter.count("one two three") == 4
    assert token_counter_for(object()).info() == estimate_counter().info()


# ------------------------------------------------------------------ tables and report
def test_table_shows_the_text_columns_and_a_line_per_failing_method():
    records, rewrites = hacked_run()
    m = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=0)
    table = markdown_table(m)
    header = next(line for line in table.splitlines() if line.startswith("| method | reward"))
    assert "| words | tokens | degenerate % | intent kept % | leak % | n | failed |" in header
    hacker = next(line for line in table.splitlines() if line.startswith("| hacker | 2.333"))
    assert "| 33.3 | 100 | 0 | 3 | 0 |" in hacker
    comparison = next(line for line in table.splitlines() if line.startswith("| hacker | 0.5 |"))
    assert "| 0.5 | 0.8333 | 1 |" in comparison, "checked win rate, then reward alone, then mean diff"
    assert ("- hacker: 33.3% of rewrites fail the text checks (degenerate 33.3%, intent lost 0%, leaked 0%); "
            "win rate vs original 0.5 (0.8333 on reward alone)") in table
    assert "fluency skipped" in table and "Tokens estimated" in table


def test_report_marks_each_failing_rewrite_with_its_reasons(tmp_path):
    from prompt_a_video.evaluation.report import write_report

    records, rewrites = hacked_run()
    verdicts = rewrite_verdicts([*rewrites, *records], TextChecks())
    m = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=0, verdicts=verdicts)
    page = write_report(tmp_path, m, records, rewrites, title="t", verdicts=verdicts).read_text()
    assert page.count('<figure class="sample text-fails">') == 1
    assert page.count('<span class="badge text-fails"') == 1
    (reason,) = verdicts[("hacker", DOG, 0)].reasons
    assert reason.startswith("repeats itself (REP ")
    assert f'title="{html.escape(reason)}">fails text checks: degenerate</span>' in page
    assert f'<p class="text-reasons">{html.escape(reason)}</p>' in page
    assert "1 of 1 fail the text checks: no win on this prompt" in page
    assert '<ul class="text-checks"><li class="fails"><b>hacker</b>: 33.3% of rewrites fail' in page
    # without verdicts (an older run): no badge, the page still renders
    page = write_report(tmp_path, m, records, rewrites, title="t").read_text()
    assert "badge text-fails" not in page and "hacker: " not in page.split("<h2>Prompts</h2>")[1]


def test_an_older_metrics_json_without_the_new_fields_still_renders(tmp_path):
    from prompt_a_video.evaluation.report import write_report

    records, rewrites = hacked_run()
    old = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=0)
    for key in ("text_checks", "token_count", "win_rate_reward_only"):
        del old[key]
    for values in old["methods"].values():
        for key in ("length_tokens", "degenerate_rate", "intent_kept_rate", "leakage_rate", "text_pass_rate"):
            del values[key]
    for r in rewrites:
        del r["sample"]  # an old rewrites.jsonl: sample 0
    table = markdown_table(old)
    assert "| n/a | n/a | n/a | n/a | 3 | 0 |" in table and "fail the text checks" not in table
    assert "Text checks" not in table
    page = write_report(tmp_path, old, records, rewrites, title="t").read_text()
    assert '<table class="summary">' in page and "text-checks" not in page.split("</style>")[1]
    again = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=0)
    assert again["methods"]["hacker"]["degenerate_rate"] == pytest.approx(1 / 3)


def test_new_fields_serialise_as_json_without_nan():
    records, rewrites = hacked_run()
    m = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=50)
    assert json.loads(json.dumps(m, allow_nan=False)) == m


# ------------------------------------------------------------------ the runner, end to end
def test_evaluate_methods_writes_the_text_quality_of_a_reward_hacking_method(tmp_path):
    from prompt_a_video.evaluation.methods import OriginalPrompt, RewriteMethod
    from prompt_a_video.evaluation.runner import evaluate_methods
    from prompt_a_video.generators.synthetic import SyntheticGenerator
    from prompt_a_video.rewards.base import Reward

    class Longer(Reward):
        """Rewards length: a method can buy reward by padding."""

        dimensions = ("LEN", "reward")
        fingerprint = "Longer/v1"

        def score_batch(self, videos, prompts):
            n = torch.tensor([float(len(v.meta["prompt"].split())) for v in videos])
            return {"LEN": n, "reward": n}

    class Padder(RewriteMethod):
        def rewrite(self, prompts, samples, seed=0):
            return [[REPEATED if p == DOG else f"{p}, wet asphalt, neon reflections at night"] * samples
                    for p in prompts]

    from prompt_a_video.scoring import ScoringEngine, ScoringSettings

    engine = ScoringEngine(SyntheticGenerator(num_frames=1, height=8, width=8), Longer(),
                           ScoringSettings(use_cache=False))
    metrics = evaluate_methods({"original": OriginalPrompt(), "padder": Padder()}, [DOG, CAR], engine, tmp_path,
                               seeds=[0], prompt_set="toy", save_videos=False, text_checks=TextChecks())
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == metrics
    assert saved["win_rate_reward_only"]["padder_vs_original"] == 1.0
    assert saved["win_rate"]["padder_vs_original"] == 0.5
    assert saved["methods"]["padder"]["degenerate_rate"] == 0.5
    assert saved["token_count"]["exact"] and saved["token_count"]["token_limit"] == 226
    assert saved["text_checks"]["fluency_model"] is None
    assert "| 50 | 100 | 0 |" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "report.html").read_text().count('<span class="badge text-fails"') == 1
