"""Markdown tables, plots and report.html of an evaluation (fake videos; the browser test is in integration)."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest

from prompt_a_video.evaluation import report as report_module
from prompt_a_video.evaluation.plots import plot_dimensions, plot_pool_curve
from prompt_a_video.evaluation.report import write_report
from prompt_a_video.evaluation.statistics import compute_metrics
from prompt_a_video.evaluation.tables import fmt, fmt_interval, markdown_table

EVIL = "a dog <script>alert('x')</script> & a cat"
PROMPTS = ["a red car in the rain", EVIL]
METHODS = {"original": 0.0, "sft": 0.4}
SEEDS = [0, 1]


def run(out_dir, failed_key=("sft", EVIL, 1)):
    """2 methods x 2 prompts x 2 seeds; fake video bytes on disk; one sft render failed."""
    rewrites, records = [], []
    for m_index, (method, bonus) in enumerate(METHODS.items()):
        for p_index, prompt in enumerate(PROMPTS):
            for sample, seed in enumerate(SEEDS):
                text = prompt if method == "original" else f"{prompt}, cinematic, take {sample}"
                rewrites.append({"method": method, "prompt": prompt, "sample": sample, "text": text})
                failed = (method, prompt, sample) == failed_key
                video = None
                if not failed:
                    video = f"videos/{method}-{p_index}-s{seed}.mp4"
                    (out_dir / video).parent.mkdir(parents=True, exist_ok=True)
                    (out_dir / video).write_bytes(bytes([m_index, p_index, sample]) * 50)
                reward = None if failed else 2.0 + bonus + 0.1 * p_index + 0.05 * sample
                records.append({"method": method, "prompt": prompt, "sample": sample, "seed": seed, "text": text,
                                "scores": {"VQ": None if failed else reward / 2}, "reward": reward,
                                "failure": "CUDA out of memory <b>" if failed else None, "video": video})
    metrics = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy-set", bootstrap=200)
    return metrics, records, rewrites


@pytest.fixture
def evaluation(tmp_path):
    return (tmp_path, *run(tmp_path))


# ------------------------------------------------------------------ tables
def test_markdown_table_has_a_row_per_method_with_its_numbers(evaluation):
    _, metrics, _, _ = evaluation
    table = markdown_table(metrics)
    summary, comparison = [block for block in table.split("\n\n") if block.startswith("| method")]
    rows = {line.split("|")[1].strip(): line for line in summary.splitlines()[2:]}
    assert list(rows) == ["original", "sft"]
    for name, m in metrics["methods"].items():
        assert fmt(m["reward"]) in rows[name] and fmt_interval(m["reward_ci95"]) in rows[name]
        assert fmt(m["scores"]["VQ"]) in rows[name] and f"| {m['n']} | {m['failed']} |" in rows[name]
    assert "win rate vs original" in comparison
    (sft_row,) = comparison.splitlines()[2:]
    assert fmt(metrics["win_rate"]["sft_vs_original"]) in sft_row
    assert fmt_interval(metrics["ci95"]["sft_vs_original"]) in sft_row


def test_comparison_falls_back_to_the_first_method_without_original(evaluation):
    _, metrics, _, _ = evaluation
    renamed = json.loads(json.dumps(metrics).replace("original", "plain|user"))
    table = markdown_table(renamed)
    assert "win rate vs plain\\|user" in table, "a pipe in a method name is escaped, the table stays intact"
    assert fmt(renamed["win_rate"]["sft_vs_plain|user"]) in table


def test_fmt_keeps_four_significant_digits_and_shows_missing_values():
    assert fmt(3.116249) == "3.116" and fmt(0.0123456) == "0.01235" and fmt(None) == "n/a" and fmt(7) == "7"


# ------------------------------------------------------------------ plots
def test_plots_are_written_as_png(tmp_path, evaluation):
    _, metrics, _, _ = evaluation
    png = plot_dimensions(metrics, tmp_path / "plots" / "dimensions.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pool = tmp_path / "pool.jsonl"
    candidates = [{"prompt": "a dog", "iteration": 0, "scores": {}, "reward": 1.0},
                  {"prompt": "a dog running, golden light", "iteration": 1, "scores": {}, "reward": 2.0}]
    pool.write_text(json.dumps({"prompt": "a dog", "backbone": "x", "candidates": candidates, "best": None}) + "\n")
    assert plot_pool_curve(pool, tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    failed = tmp_path / "failed.jsonl"
    failed.write_text(json.dumps({"prompt": "a dog", "backbone": "x", "candidates": [], "best": None,
                                  "error": "boom"}) + "\n")
    assert plot_pool_curve(failed, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


# ------------------------------------------------------------------ report.html
def test_report_escapes_user_text(evaluation):
    out, metrics, records, rewrites = evaluation
    page = write_report(out, metrics, records, rewrites, title="<i>eval</i>").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; a cat" in page
    assert "<i>eval</i>" not in page and "&lt;i&gt;eval&lt;/i&gt;" in page
    assert "CUDA out of memory &lt;b&gt;" in page, "failure messages are shown, escaped"
    assert page.count("<script>") == 1, "only the page's own state script"


def test_report_has_one_video_per_record_with_a_video_embedded_as_data_uris(evaluation):
    out, metrics, records, rewrites = evaluation
    page = write_report(out, metrics, records, rewrites, title="t", embed_videos=True).read_text()
    with_video = [r for r in records if r["video"]]
    assert len(with_video) == 7 and len(re.findall(r"<video ", page)) == 7
    for r in with_video:
        assert "data:video/mp4;base64," + base64.b64encode((out / r["video"]).read_bytes()).decode() in page
    assert 'src="videos/' not in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "no external resource"
    assert '<table class="summary">' in page and '<table class="comparison">' in page
    for r in rewrites:  # every sample's prompt text is on the page
        assert html.escape(r["text"]) in page


def test_report_links_videos_when_not_embedding_or_over_the_size_limit(evaluation, monkeypatch):
    out, metrics, records, rewrites = evaluation
    page = write_report(out, metrics, records, rewrites, title="t", embed_videos=False).read_text()
    assert "data:video" not in page and page.count('src="videos/') == 7
    monkeypatch.setattr(report_module, "EMBED_LIMIT_BYTES", 7 * 150)  # the videos total exactly this
    assert "data:video" not in write_report(out, metrics, records, rewrites, title="t").read_text()
    monkeypatch.setattr(report_module, "EMBED_LIMIT_BYTES", 7 * 150 + 1)
    assert write_report(out, metrics, records, rewrites, title="t").read_text().count("data:video/mp4") == 7


def test_report_embeds_plots_found_in_the_output_folder(evaluation):
    out, metrics, records, rewrites = evaluation
    assert "data:image/png" not in write_report(out, metrics, records, rewrites, title="t").read_text()
    plot_dimensions(metrics, out / "dimensions.png")
    page = write_report(out, metrics, records, rewrites, title="t").read_text()
    assert page.count("data:image/png;base64,") == 1


def test_report_tables_show_the_same_numbers_as_the_metrics(evaluation):
    out, metrics, records, rewrites = evaluation
    page = write_report(out, metrics, records, rewrites, title="t").read_text()
    summary = page.split('<table class="summary">')[1].split("</table>")[0]
    for name, m in metrics["methods"].items():
        assert f"<td>{name}</td><td>{fmt(m['reward'])} {fmt_interval(m['reward_ci95'])}</td>" in summary
    comparison = page.split('<table class="comparison">')[1].split("</table>")[0]
    assert f"<td>{fmt(metrics['win_rate']['sft_vs_original'])}</td>" in comparison
