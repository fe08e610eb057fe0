"""`pav serve`: an OpenAI-compatible HTTP server for a trained refiner.

::

    pav serve --model runs/sft/export                      # http://127.0.0.1:8000/v1
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=none python my_client.py

A client sends the user's prompt (the last user message of a chat, or ``prompt`` of a
completion); the refiner's own prompt format, guard and sampling defaults apply. What is
honoured, refused and ignored, and how video-model repositories point at it:
``docs/serving.md``. The server: :mod:`prompt_a_video.serving`.
"""

from __future__ import annotations

import math

from prompt_a_video.data.validation import is_count

__all__ = ["serve"]

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def serve(
    model: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    served_model_name: str | list[str] | None = None,
    prompt_pattern: str | None = None,
    max_batch_size: int = 8,
    batch_timeout: float = 0.05,
    device: str | None = None,
    dtype: str | None = None,
    use: str = "auto",
    api_key: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    guard: bool = True,
    guard_samples: int | None = None,
    target: str | None = None,
    token_limit: int | None = None,
    target_tokenizer: str | None = None,
    budget: bool = True,
    language: str | None = None,
    max_body_bytes: int = 1 << 20,
    drain_timeout: float = 30.0,
    log_level: str = "info",
) -> dict[str, int]:
    """Serve a trained refiner over an OpenAI-compatible HTTP API: POST /v1/chat/completions
    (the prompt: the last user message; a client's system messages are ignored, the
    refiner brings its own), POST /v1/completions (prompt: a string or a list), GET
    /v1/models, GET /health. Honoured: model (must be the served id), n (<= 16),
    temperature, top_p, max_tokens (-> max_new_tokens), seed, stream (SSE, each choice's
    text in one chunk). Concurrent requests are batched (one refine call per group of
    equal settings). SIGTERM or Ctrl+C stops accepting, answers the requests in flight and
    exits 0. Details and client setups (CogVideoX, Wan2.1, Open-Sora, ComfyUI): docs/serving.md.

    Args:
        model: the refiner: an export folder of `pav export` (or its merged/ or adapter/),
            an HF chat model folder, an offline asset name (smollm2-135m-instruct) or a
            hub id: anything Refiner accepts.
        host: the address to listen on; 127.0.0.1 answers this machine only (0.0.0.0:
            every interface: put --api_key on it).
        port: the TCP port; 0 picks a free one (printed on the first line of stdout).
        served_model_name: the model id clients send (and /v1/models lists); default:
            --model as given. Several (--served_model_name+ gpt-4o --served_model_name+
            glm-4-plus): aliases, for clients that hard-code a model name.
        prompt_pattern: a regex searched in each prompt (the last user message); where it
            matches, its first group is the prompt. For clients that wrap the user's prompt
            in their own instruction, e.g. CogVideoX's convert_demo.py and Open-Sora 2.0:
            'user input: *" *(.*?) *"$' (docs/serving.md).
        max_batch_size: most prompts refined in one call; 1 answers one request at a time.
        batch_timeout: seconds the first request of a batch waits for others (requests
            arriving while a batch runs join the next batch without waiting).
        device: cpu, cuda, cuda:1...; default: cpu.
        dtype: float32 / bfloat16 / float16; default: as trained.
        use: the part of an export folder to run: auto (merged/, else adapter/), merged, adapter.
        api_key: if given, /v1/* needs the header 'Authorization: Bearer API_KEY'
            (/health stays open); default: $PAV_SERVE_API_KEY, else no check.
        temperature: sampling temperature for requests that give none; default: the
            refiner's. 0 decodes greedily.
        top_p: nucleus mass for requests that give none, in (0, 1]; default: the refiner's.
        max_tokens: longest rewrite, in refiner tokens, for requests that give none;
            default: the refiner's.
        seed: seed for requests that give none (a seeded request is refined on its own,
            not batched with other prompts, so it always gets the same answer); default:
            unseeded.
        guard: return only rewrites that pass the text checks (the original prompt when
            none does), as `pav refine`; --guard false returns what the model writes.
        guard_samples: samples per prompt the guard chooses from; default: the refiner's (4).
        target: the video model the rewrites are for, whose token budget every answer is
            cut to (as `pav refine --target`): cogvideox (226), wan (512), ltx (128), hunyuan
            (256), animatediff, sd, sdxl (77), a synthetic preset, or its tokenizer folder.
            Default: the target in the export's refiner.json, else no budget.
        token_limit: a budget of this many tokens instead (overrides the target's limit).
        target_tokenizer: the video model's tokenizer folder to count tokens exactly;
            otherwise they are estimated.
        budget: cut each answer to the budget at a sentence, clause or word boundary (the
            guard judges the cut text); false: answer as written.
        language: the language of the answers (en, zh, de, fr, es, ja...); default: the
            target's (English for every family). A prompt in another language is refined
            into it; the guard rejects an answer in another language.
        max_body_bytes: largest request body accepted (413 above).
        drain_timeout: seconds a stop waits for requests in flight before dropping them.
        log_level: uvicorn's log level: critical, error, warning, info (one line a
            request), debug, trace.

    Returns:
        the counts of the run: requests, batches, refine_calls.
    """
    from prompt_a_video.refiner.generation import check_sampling

    if not is_count(port, 0) or port > 65535:
        raise ValueError(f"port must be an int in [0, 65535], got {port!r}")
    if not is_count(max_batch_size, 1):
        raise ValueError(f"max_batch_size must be an int >= 1, got {max_batch_size!r}")
    for name, value in (("batch_timeout", batch_timeout), ("drain_timeout", drain_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    if not is_count(max_body_bytes, 1024):
        raise ValueError(f"max_body_bytes must be an int >= 1024, got {max_body_bytes!r}")
    if guard_samples is not None and not is_count(guard_samples, 1):
        raise ValueError(f"guard_samples must be an int >= 1, got {guard_samples!r}")
    if seed is not None and not is_count(seed, 0):
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    names = [served_model_name] if isinstance(served_model_name, str) else list(served_model_name or [str(model)])
    if not names or not all(isinstance(name, str) and name.strip() for name in names):
        raise ValueError(f"served_model_name must be a non-empty name or a list of them, got {served_model_name!r}")
    pattern = None
    if prompt_pattern is not None:
        import re

        try:
            pattern = re.compile(prompt_pattern, re.DOTALL)
        except re.error as exc:
            raise ValueError(f"prompt_pattern is not a regular expression: {exc}") from None
    if log_level not in _LOG_LEVELS:
        raise ValueError(f"log_level must be one of {list(_LOG_LEVELS)}, got {log_level!r}")
    sampling = {k: v for k, v in (("temperature", temperature), ("top_p", top_p), ("max_new_tokens", max_tokens))
                if v is not None}
    check_sampling(**sampling)
    from prompt_a_video.refiner import Refiner
    from prompt_a_video.serving.protocol import Defaults
    from prompt_a_video.serving.server import api_key_from_env, bind, serve_refiner

    try:
        refiner = Refiner(model, use=use, dtype=dtype, device=device, batch_size=max_batch_size, target=target,
                          token_limit=token_limit, target_tokenizer=target_tokenizer, budget=budget,
                          language=language)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise SystemExit(f"pav serve: {exc}") from exc
    sock = bind(host, port)  # a taken port fails now, not after the model loaded
    try:
        refiner.load()
    except (FileNotFoundError, ValueError, TypeError) as exc:
        sock.close()
        raise SystemExit(f"pav serve: {exc}") from exc
    defaults = Defaults(temperature=temperature, top_p=top_p, max_new_tokens=max_tokens, seed=seed,
                        prompt_pattern=pattern)
    return serve_refiner(refiner, model_id=names, sock=sock,
                         max_batch_size=max_batch_size, batch_timeout=float(batch_timeout), defaults=defaults,
                         guard=guard, guard_samples=guard_samples, api_key=api_key_from_env(api_key),
                         max_body_bytes=max_body_bytes, drain_timeout=float(drain_timeout), log_level=log_level)
