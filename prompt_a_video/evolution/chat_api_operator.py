"""`ChatAPIOperator`: the paper's LLM operator through any OpenAI-compatible chat endpoint
(OpenAI, Azure OpenAI's v1 endpoint, GLM, a local vLLM or llama.cpp server), using the
official ``openai`` client (imported when first needed).

Robustness lives here, not in the client (its own retries are switched off): retries
with exponential backoff on timeouts, connection errors, 408, 429 and 5xx (a
``Retry-After`` header wins over the backoff), an immediate error on any other 4xx, a
client-side token-bucket rate limit, and a semaphore bounding concurrent requests (the
evolution loop may call :meth:`ChatAPIOperator.propose` from several threads). The API key
never appears in the fingerprint, ``repr``, logs or error messages.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from prompt_a_video.evolution.base import Operator, Scored
from prompt_a_video.evolution.operator_prompt import TEMPLATE_DIGEST, drop_unfinished, propose_by_chat

log = logging.getLogger(__name__)

# Longest wait a server's Retry-After may impose on one retry (seconds).
MAX_RETRY_AFTER = 300.0
# Indirections so tests can observe waits without waiting.
_sleep = time.sleep
_now = time.monotonic
# Placeholder key for servers that need none (vLLM, llama.cpp): they ignore the header.
NO_KEY = "EMPTY"


class ChatAPIError(RuntimeError):
    """A chat request failed for good. ``status`` is the HTTP status (None: no response)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _TokenBucket:
    """At most ``per_minute`` acquisitions a minute, evenly spaced (a bucket of one token)."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.tokens, self.stamp = 1.0, _now()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = _now()
                self.tokens = min(1.0, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                wait = (1.0 - self.tokens) / self.rate
            _sleep(wait)


def _retry_after(response) -> float | None:
    """Seconds a response asks us to wait (``retry-after-ms``, ``retry-after`` as seconds
    or an HTTP date), capped at :data:`MAX_RETRY_AFTER`; None when absent or unreadable."""
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return min(MAX_RETRY_AFTER, max(0.0, float(headers["retry-after-ms"]) / 1000.0))
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        return min(MAX_RETRY_AFTER, max(0.0, seconds))
    except (TypeError, ValueError, OverflowError):
        return None


def _public_url(url: str | None) -> str:
    """``url`` without credentials, query or fragment (what may be logged)."""
    if not url:
        return "default"
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class ChatAPIOperator(Operator):
    """Asks a chat model behind an OpenAI-compatible API for new prompts.

    Args:
        model: the model name the endpoint knows (``gpt-4o``, ``glm-4``, a vLLM model id).
        base_url: the API root (``http://127.0.0.1:8000/v1``); None = the client's default
            (``$OPENAI_BASE_URL`` or OpenAI).
        api_key_env: environment variable holding the key (read at the first request).
        api_key: the key itself; prefer ``api_key_env`` (configs get logged; the tracking
            module redacts ``api_key`` fields, but an environment variable never lands in a
            file). Without any key and with a ``base_url``, the placeholder ``EMPTY`` is sent
            (local servers need none); without both, requests fail with a clear error.
        temperature: sampling temperature.
        top_p: nucleus sampling mass.
        max_tokens: answer length limit (tokens). A prompt cut off by it is dropped.
        timeout: seconds per request before it counts as a timeout (and is retried).
        max_retries: retries of one request after a timeout, connection error, 408, 429 or
            5xx; other 4xx (401, 400, 404...) raise :class:`ChatAPIError` at once.
        backoff: first retry delay in seconds, doubled each retry (plus up to 10% jitter);
            a ``Retry-After`` header replaces it.
        requests_per_minute: client-side rate limit over all threads; None = none.
        concurrency: requests in flight at once over all threads.
        max_reasks: follow-up questions for the missing proposals when an answer holds
            fewer than ``n`` usable ones (new, distinct, not in the history, not the original).
        top_k: earlier prompts shown to the model (the best ones).
        max_words: word budget asked of each new prompt (the backbone's token limit in
            words); None asks for none. The model is asked, not forced.
        dimension_help: ``{dimension: what it measures}`` added to the prompt's defaults.
        min_words: proposals with fewer words are dropped (preambles such as "Sure!").
        prompt_style: ``default`` (:mod:`.operator_prompt`: the top ``top_k`` with their
            aggregate, a word budget) or ``paper`` (:mod:`.paper_operator_prompt`: the
            official prompt's elements: few-shot ``examples``, the original always shown
            as number 0 plus the best 3 others, AES and MPS as the paper weighs them, no
            aggregate; ``top_k`` should cover every prompt so the original is among them).
        examples: a line file of refined example prompts, shown by the ``paper`` style (the
            official code reads Open-Sora's ``assets/texts/t2v_pllava.txt``); read at the
            first request.
    """

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 api_key: str | None = None, temperature: float = 0.9, top_p: float = 0.95, max_tokens: int = 1024,
                 timeout: float = 60.0, max_retries: int = 4, backoff: float = 1.0,
                 requests_per_minute: float | None = None, concurrency: int = 4, max_reasks: int = 2, top_k: int = 5,
                 max_words: int | None = None, dimension_help: dict[str, str] | None = None,
                 min_words: int = 3, prompt_style: str = "default", examples: str | None = None) -> None:
        checks = (("model", bool(model), "a model name"), ("temperature", temperature >= 0, ">= 0"),
                  ("top_p", 0 < top_p <= 1, "in (0, 1]"), ("timeout", timeout > 0, "> 0 seconds"),
                  ("max_retries", max_retries >= 0, ">= 0"), ("backoff", backoff >= 0, ">= 0 seconds"),
                  ("concurrency", concurrency >= 1, ">= 1"), ("max_reasks", max_reasks >= 0, ">= 0"),
                  ("top_k", top_k >= 0, ">= 0"), ("max_tokens", max_tokens >= 1, ">= 1"),
                  ("min_words", min_words >= 1, ">= 1"),
                  ("requests_per_minute", requests_per_minute is None or requests_per_minute > 0,
                   "> 0, or null for no limit"),
                  ("max_words", max_words is None or max_words >= 1, ">= 1, or null for no budget"),
                  ("prompt_style", prompt_style in ("default", "paper"), "'default' or 'paper'"),
                  ("examples", prompt_style != "paper" or bool(examples),
                   "a line file of refined example prompts with prompt_style 'paper'"))
        for name, ok, accepted in checks:
            if not ok:
                raise ValueError(f"ChatAPIOperator: {name} must be {accepted}, got {locals()[name]!r}")
        self.model, self.base_url, self.api_key_env = model, base_url, api_key_env
        self._api_key = api_key
        self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.requests_per_minute, self.concurrency = requests_per_minute, concurrency
        self.max_reasks, self.top_k, self.max_words = max_reasks, top_k, max_words
        self.dimension_help, self.min_words = dimension_help, min_words
        self.prompt_style, self.examples = prompt_style, examples
        self._examples: list[str] | None = None
        self._setup_runtime()

    def _setup_runtime(self) -> None:
        self._client = None
        self._client_lock = threading.Lock()
        self._semaphore = threading.Semaphore(self.concurrency)
        self._bucket = _TokenBucket(self.requests_per_minute) if self.requests_per_minute else None

    # Locks and the HTTP client do not pickle or deepcopy; they are rebuilt.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_client", "_client_lock", "_semaphore", "_bucket")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._setup_runtime()

    @property
    def fingerprint(self) -> str:
        """Model, endpoint (no credentials), sampling, top-k, budget and prompt wording; never the key."""
        extra = ""
        if self.dimension_help:
            extra = ", help=" + hashlib.sha256(json.dumps(self.dimension_help, sort_keys=True).encode()).hexdigest()[:8]
        prompt = TEMPLATE_DIGEST
        if self.prompt_style == "paper":
            from prompt_a_video.evolution.paper_operator_prompt import TEMPLATE_DIGEST as PAPER_DIGEST

            prompt = f"paper-{PAPER_DIGEST}, examples={self.examples}"
        return (f"ChatAPIOperator(model={self.model}, base_url={_public_url(self.base_url)}, "
                f"temperature={self.temperature:g}, top_p={self.top_p:g}, max_tokens={self.max_tokens}, "
                f"top_k={self.top_k}, max_words={self.max_words}, prompt={prompt}{extra})")

    def __repr__(self) -> str:
        return self.fingerprint

    def propose(self, original: str, history: list[Scored], n: int, *, seed: int | None = None) -> list[str]:
        if not original or not original.strip():
            raise ValueError("ChatAPIOperator.propose: original prompt is empty")

        def ask(messages: list[dict], attempt: int) -> str:
            return self._complete(messages, None if seed is None else int(seed) + attempt)

        messages = None
        if self.prompt_style == "paper":
            from prompt_a_video.evolution.paper_operator_prompt import paper_messages

            messages = paper_messages(original, history, n, self._example_prompts())
        return propose_by_chat(ask, original, history, n, top_k=self.top_k, max_words=self.max_words,
                               max_reasks=self.max_reasks, dimension_help=self.dimension_help,
                               min_words=self.min_words, messages=messages)

    def _example_prompts(self) -> list[str]:
        """The ``examples`` file's prompts (blank and ``#`` lines skipped), read once."""
        if self._examples is None:
            from prompt_a_video.data import load_prompts

            self._examples = [item.prompt for item in load_prompts(self.examples)]
        return self._examples

    # -- HTTP --------------------------------------------------------------------------------

    def _key(self) -> str:
        key = self._api_key or os.environ.get(self.api_key_env)
        if key:
            return key
        if self.base_url:
            return NO_KEY
        raise ChatAPIError(f"ChatAPIOperator: no API key: set the environment variable ${self.api_key_env} "
                           f"(operator init arg api_key_env), or give a base_url for a server that needs none")

    def _scrub(self, text: str) -> str:
        """``text`` with every occurrence of the key replaced by ``***``."""
        key = self._api_key or os.environ.get(self.api_key_env) or ""
        return text.replace(key, "***") if len(key) >= 4 else text

    def _get_client(self):
        with self._client_lock:
            if self._client is None:
                from openai import OpenAI

                # Our own retry loop (Retry-After, 4xx policy, rate limit) replaces the client's.
                self._client = OpenAI(api_key=self._key(), base_url=self.base_url, timeout=self.timeout,
                                      max_retries=0)
            return self._client

    def _complete(self, messages: list[dict], seed: int | None) -> str:
        """The answer text of one chat request, with retries; raises :class:`ChatAPIError`."""
        import openai

        client = self._get_client()
        kwargs = dict(model=self.model, messages=messages, temperature=self.temperature, top_p=self.top_p,
                      max_tokens=self.max_tokens)
        if seed is not None:
            kwargs["seed"] = seed
        where = f"{self.model} at {_public_url(self.base_url)}"
        for attempt in range(self.max_retries + 1):
            wait, status = None, None
            if self._bucket is not None:
                self._bucket.acquire()
            with self._semaphore:
                try:
                    response = client.chat.completions.create(**kwargs)
                except openai.APIStatusError as exc:
                    status = exc.status_code
                    reason = f"HTTP {status}: {self._scrub(str(exc.message))[:500]}"
                    if not (status in (408, 429) or status >= 500):
                        raise ChatAPIError(f"ChatAPIOperator: {where} refused the request ({reason}); "
                                           "not retried", status) from None
                    wait = _retry_after(exc.response)
                except openai.APIConnectionError as exc:  # includes APITimeoutError
                    kind = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection error"
                    reason = f"{kind}: {self._scrub(str(exc))[:300]}"
                except openai.OpenAIError as exc:
                    raise ChatAPIError(f"ChatAPIOperator: {where} failed: "
                                       f"{type(exc).__name__}: {self._scrub(str(exc))[:500]}") from None
                else:
                    return self._answer_text(response)
            if attempt == self.max_retries:
                raise ChatAPIError(f"ChatAPIOperator: {where} failed after {attempt + 1} attempts; last: {reason}",
                                   status)
            if wait is None:
                wait = self.backoff * 2 ** attempt * (1.0 + 0.1 * random.random())
            log.warning("ChatAPIOperator: %s (%s); retry %d/%d in %.2f s", where, reason, attempt + 1,
                        self.max_retries, wait)
            _sleep(wait)
        raise AssertionError("unreachable")

    @staticmethod
    def _answer_text(response) -> str:
        choices = getattr(response, "choices", None) or []
        if not choices:
            return ""
        text = choices[0].message.content or ""  # None: a refusal or a tool call
        return drop_unfinished(text) if choices[0].finish_reason == "length" else text
