"""``report.html``: one page to compare the methods prompt by prompt, with their videos.

The page, top to bottom: the summary and paired-comparison tables (the same formatted
cells as ``tables.markdown_table``), one line per method whose rewrites fail the text
checks, the plot PNGs found in the output folder (embedded as data URIs), then one
block per prompt: the original prompt and, per method, each sample's prompt text, its
video and its scores and reward. Given the text ``verdicts``, a sample whose rewrite
fails the checks (degenerate, leaked, intent lost) gets a red frame and a red badge
naming what failed, with the verdict's reasons beside it (and as its tooltip); the
method's heading counts its failing samples. Without verdicts (an older run) there are
no badges.

Self-contained: no external resource (no CDN, no font, no script from elsewhere). Every
text from the run (prompts, method names, failures) is HTML-escaped: prompts are user
text.

Videos (``record["video"]``, relative to ``out_dir``): ``embed_videos=True`` inlines them
as base64 ``data:video/mp4`` URIs, so ``report.html`` alone can be mailed or uploaded
(about 4/3 of the videos' size); ``False`` links them by relative ``src``, so the page
needs its ``videos/`` folder beside it; ``None`` (default) inlines when all videos
together are under ``EMBED_LIMIT_BYTES`` (40 MB), links otherwise. A video file that is
missing is linked (and shows as failed in the page).

A small inline script sets ``data-state="loaded"`` on each ``<video>`` once its first
frame is decoded, or ``data-state="error"`` (and shows "video failed to load") when it
cannot be loaded; a browser test reads those states.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from prompt_a_video.evaluation.plots import DIMENSIONS_PNG, POOL_CURVE_PNG
from prompt_a_video.evaluation.statistics import is_success, method_order, prompt_order
from prompt_a_video.evaluation.tables import checks_note, comparison_rows, fmt, summary_rows, text_check_lines

REPORT_NAME = "report.html"
EMBED_LIMIT_BYTES = 40 * 1000 * 1000
_MIME = {".mp4": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg", ".mov": "video/mp4"}

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:14px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{background:#f2f2f2}
img.plot{max-width:100%;border:1px solid #ddd;margin:.5em 0}
section.prompt{border-top:2px solid #888;margin-top:1.5em;padding-top:.5em}
p.original{font-size:1.1em;font-weight:600}
div.methods{display:flex;flex-wrap:wrap;gap:8px 28px}
div.method{margin:.8em 0}
div.method h4{margin:.2em 0}
span.meta,p.scores{color:#555;font-size:13px}
div.samples{display:flex;flex-wrap:wrap;gap:12px}
figure.sample{margin:0;width:300px}
figure.sample video{width:300px;background:#000}
p.text{font-size:13px;margin:.3em 0;white-space:pre-wrap}
p.failure,span.video-error{color:#b00020;font-size:13px;font-weight:600}
figure.sample.text-fails{outline:3px solid #b00020;outline-offset:3px}
span.badge.text-fails{background:#b00020;color:#fff;border-radius:3px;padding:1px 6px;font-size:12px;
font-weight:700;cursor:help}
p.text-reasons{color:#b00020;font-size:12px;margin:.2em 0}
span.text-fails-count{color:#b00020;font-weight:700}
ul.text-checks li.fails{color:#b00020}
"""

# Runs at the end of <body>: every <video> exists; one already loaded (or failed) before
# the listeners were attached is caught by the readyState / error check.
_SCRIPT = """
(function () {
  function mark(video, state) {
    video.setAttribute('data-state', state);
    var note = video.parentNode.querySelector('.video-error');
    if (note) { note.hidden = state !== 'error'; }
  }
  document.querySelectorAll('video').forEach(function (video) {
    video.addEventListener('loadeddata', function () { mark(video, 'loaded'); });
    video.addEventListener('error', function () { mark(video, 'error'); });
    if (video.error) { mark(video, 'error'); }
    else if (video.readyState >= 2) { mark(video, 'loaded'); }
  });
})();
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], css_class: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _plots(out_dir: Path) -> list[str]:
    known = [out_dir / name for name in (DIMENSIONS_PNG, POOL_CURVE_PNG)]
    others = sorted(p for p in out_dir.glob("*.png") if p not in known)
    imgs = []
    for png in [p for p in known if p.is_file()] + others:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        imgs.append(f'<img class="plot" alt="{_e(png.name)}" src="data:image/png;base64,{data}">')
    return imgs


def _video_sources(out_dir: Path, records: Sequence[Mapping[str, Any]], embed: bool | None) -> dict[str, str]:
    """``{record video path: value of the src attribute}`` (data URI or relative link)."""
    paths = list(dict.fromkeys(r["video"] for r in records if r.get("video")))
    files = {p: out_dir / p for p in paths}
    if embed is None:
        total = sum(f.stat().st_size for f in files.values() if f.is_file())
        embed = total < EMBED_LIMIT_BYTES
    sources = {}
    for p, f in files.items():
        if embed and f.is_file():
            mime = _MIME.get(f.suffix.lower(), "video/mp4")
            sources[p] = f"data:{mime};base64," + base64.b64encode(f.read_bytes()).decode("ascii")
        else:
            sources[p] = quote(Path(p).as_posix(), safe="/")
    return sources


def _scores_line(record: Mapping[str, Any], dims: Sequence[str]) -> str:
    parts = [f"seed {_e(record.get('seed', '?'))}", f"reward {_e(fmt(record.get('reward')))}"]
    scores = record.get("scores") or {}
    parts += [f"{_e(d)} {_e(fmt(scores.get(d)))}" for d in dims if d in scores]
    return " · ".join(parts)


def _failed_checks(verdict: Any) -> list[str]:
    return [name for name, failed in (("degenerate", verdict.degenerate), ("leaked", verdict.leaked),
                                      ("intent lost", not verdict.intent_kept)) if failed]


def _sample_html(text: str | None, record: Mapping[str, Any] | None, sources: Mapping[str, str],
                 dims: Sequence[str], verdict: Any = None) -> str:
    fails = verdict is not None and not verdict.passes
    out = ['<figure class="sample text-fails">' if fails else '<figure class="sample">']
    if record is not None and record.get("video"):
        out.append(f'<div class="video"><video controls muted loop playsinline preload="auto" data-state="loading" '
                   f'src="{_e(sources[record["video"]])}"></video>'
                   '<span class="video-error" hidden>video failed to load</span></div>')
    out.append("<figcaption>")
    if text is not None:
        out.append(f'<p class="text">{_e(text)}</p>')
    if fails:
        reasons = "; ".join(verdict.reasons)
        out.append(f'<p class="text-check"><span class="badge text-fails" title="{_e(reasons)}">fails text checks: '
                   f'{_e(", ".join(_failed_checks(verdict)))}</span></p><p class="text-reasons">{_e(reasons)}</p>')
    if record is None:
        out.append('<p class="scores">not rendered</p>')
    else:
        out.append(f'<p class="scores">{_scores_line(record, dims)}</p>')
        if record.get("failure"):
            out.append(f'<p class="failure">failed: {_e(record["failure"])}</p>')
    out.append("</figcaption></figure>")
    return "".join(out)


def _prompt_section(index: int, prompt: str, methods: Sequence[str], samples_of: Mapping[tuple, list],
                    texts: Mapping[tuple, str], by_key: Mapping[tuple, Mapping[str, Any]], sources: Mapping[str, str],
                    dims: Sequence[str], verdicts: Mapping[tuple, Any]) -> str:
    out = [f'<section class="prompt" id="prompt-{index + 1}"><h3>Prompt {index + 1}</h3>'
           f'<p class="original">{_e(prompt)}</p><div class="methods">']
    for method in methods:
        samples = samples_of.get((method, prompt), [])
        if not samples:
            continue
        recs = [by_key[(method, prompt, s)] for s in samples if (method, prompt, s) in by_key]
        ok = [float(r["reward"]) for r in recs if is_success(r)]
        mean = f"mean reward {fmt(sum(ok) / len(ok))} over {len(ok)} video(s)" if ok else "no successful video"
        failing = sum(1 for s in samples if (v := verdicts.get((method, prompt, s))) is not None and not v.passes)
        count = (f' <span class="text-fails-count">{failing} of {len(samples)} fail the text checks: '
                 'no win on this prompt</span>') if failing else ""
        out.append(f'<div class="method"><h4>{_e(method)} <span class="meta">{_e(mean)}</span>{count}</h4>'
                   '<div class="samples">')
        for s in samples:
            record = by_key.get((method, prompt, s))
            text = texts.get((method, prompt, s), record.get("text") if record else None)
            out.append(_sample_html(text, record, sources, dims, verdicts.get((method, prompt, s))))
        out.append("</div></div>")
    out.append("</div></section>")
    return "".join(out)


def write_report(out_dir: str | os.PathLike, metrics: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                 rewrites: Sequence[Mapping[str, Any]], *, title: str, embed_videos: bool | None = None,
                 verdicts: Mapping[tuple, Any] | None = None) -> Path:
    """Write ``out_dir/report.html`` and return its path.

    Args:
        out_dir: the evaluation folder; record video paths and the plot PNGs are in it.
        metrics: ``statistics.compute_metrics`` output (tables and method order).
        records: the scored videos (``method``, ``prompt``, ``sample``, ``seed``, ``text``,
            ``scores``, ``reward``, ``failure``, ``video``).
        rewrites: ``{"method", "prompt", "sample", "text"}`` per rewrite.
        title: page title.
        embed_videos: True inline, False link, None auto (inline under 40 MB in total).
        verdicts: ``{(method, prompt, sample): TextVerdict}`` of the text checks
            (``text_checks.rewrite_verdicts``); None: no per-sample badges.
    """
    verdicts = verdicts or {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    methods = list(metrics.get("methods") or {})
    methods += [m for m in method_order(rewrites, records) if m not in methods]
    dims = list(metrics.get("dimensions") or [])
    texts: dict[tuple, str] = {}
    for r in rewrites:
        texts.setdefault((r["method"], r["prompt"], r.get("sample", 0)), r["text"])
    by_key: dict[tuple, Mapping[str, Any]] = {}
    for r in records:
        by_key.setdefault((r["method"], r["prompt"], r.get("sample", 0)), r)
    samples_of: dict[tuple, set] = {}
    for m, p, s in [*texts, *by_key]:
        samples_of.setdefault((m, p), set()).add(s)
    samples_of = {k: sorted(v) for k, v in samples_of.items()}
    sources = _video_sources(out_dir, records, embed_videos)

    header, rows = summary_rows(metrics)
    base, cmp_header, cmp_rows = comparison_rows(metrics)
    seeds = ", ".join(str(s) for s in metrics.get("seeds") or [])
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Prompt set <b>{_e(metrics.get('prompt_set', '?'))}</b>: {_e(metrics.get('n_prompts', 0))} prompts, "
        f"seeds {_e(seeds)}. Every video is scored against the ORIGINAL prompt; means are over successful "
        "videos.</p>",
        "<h2>Summary</h2>", _html_table(header, rows, "summary"),
    ]
    if any("text_pass_rate" in m for m in (metrics.get("methods") or {}).values()):
        lines = text_check_lines(metrics)
        items = "".join(f'<li class="fails"><b>{_e(m)}</b>{_e(line[len(m):])}</li>' for m, line in lines)
        parts.append(f'<ul class="text-checks">{items}</ul>' if lines else
                     '<p class="text-checks">Every rewrite passes the text checks.</p>')
    note = checks_note(metrics)
    if note:
        parts.append(f'<p class="checks-note">{_e(note)}</p>')
    descriptions = metrics.get("method_descriptions") or {}
    if descriptions:  # optional: the runner may record what each method is
        parts.append('<ul class="methods">' + "".join(f"<li><b>{_e(m)}</b>: {_e(d)}</li>"
                                                      for m, d in descriptions.items()) + "</ul>")
    if cmp_rows:
        parts += [f"<h2>Paired comparison with {_e(base)}</h2>",
                  "<p>Per prompt, a method's reward is its mean over seeds. Win rate = P(better) + 0.5 P(tie), "
                  "where a prompt with a sample failing the text checks is never a win for the method; "
                  "on reward alone: the same without the checks. 95% CI = paired bootstrap interval of the mean "
                  "reward difference.</p>",
                  _html_table(cmp_header, cmp_rows, "comparison")]
    plots = _plots(out_dir)
    if plots:
        parts += ["<h2>Plots</h2>", *plots]
    parts.append("<h2>Prompts</h2>")
    for i, prompt in enumerate(prompt_order(rewrites, records)):
        parts.append(_prompt_section(i, prompt, methods, samples_of, texts, by_key, sources, dims, verdicts))
    parts += [f"<script>{_SCRIPT}</script>", "</body></html>"]
    path = out_dir / REPORT_NAME
    tmp = path.with_name(f".{REPORT_NAME}.partial")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees a half-written page
    return path
