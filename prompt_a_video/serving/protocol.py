"""What an OpenAI-style request to `pav serve` may hold, and the shapes of its answers.

Every field a client sends is checked here by hand, not by a schema library, so that
each mistake gets a 4xx whose message names the field and what it accepts, and no value
(a bool for an int, NaN, a 5000-digit number, a list where a string goes) reaches the
model. Standard library only: the limits below are the server's whole input contract.

A request is reduced to what the refiner needs: the user's prompt(s), ``n`` and the
sampling settings the client (or the server's defaults) gave. Settings nobody gave are
left out, so ``Refiner.refine`` applies the refiner's own defaults.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiError", "Defaults", "RefineRequest", "Answer", "MAX_N", "MAX_PROMPTS", "MAX_TOKENS",
           "decode_json", "parse_chat", "parse_completion", "chat_response", "completion_response",
           "chat_chunks", "completion_chunks", "model_card"]

#: Most choices per prompt (``n``). The guard draws at least 4 samples a prompt; more than
#: 16 is a load a client should ask for in several requests.
MAX_N = 16
#: Most prompts in one ``/v1/completions`` request (``prompt`` given as a list).
MAX_PROMPTS = 16
#: Longest rewrite a client may ask for (``max_tokens``), in refiner tokens.
MAX_TOKENS = 4096
#: Largest seed: torch seeds are 64-bit.
MAX_SEED = 2**63 - 1
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class ApiError(Exception):
    """A request the server refuses: an HTTP status and an OpenAI-style error body.

    Args:
        status: the HTTP status (400 bad request, 401, 404 unknown model or path, 413, 503...).
        message: one line saying what is wrong and what is accepted.
        param: the request field at fault, if one is.
        code: a short machine-readable reason (``invalid_type``, ``model_not_found``...).
        type: OpenAI's error type: ``invalid_request_error`` for the client's mistakes,
            ``server_error`` for the server's.
    """

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or ("server_error" if status >= 500 else "invalid_request_error")

    def body(self) -> dict[str, Any]:
        """``{"error": {"message", "type", "param", "code"}}``, as OpenAI's API answers."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class Defaults:
    """How the server completes and reads a request.

    The sampling settings fill in what a request leaves out (None: the refiner's own).
    ``prompt_pattern``: a regex searched in each prompt (the last user message, or a
    completion's prompt); where it matches, its first group (else the whole match) is
    the prompt. For clients that wrap the user's prompt in an instruction of their own
    (CogVideoX's ``convert_demo.py``: ``... for the user input: " a girl "``).
    """

    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = None
    prompt_pattern: re.Pattern | None = None

    def extract(self, text: str) -> str:
        """The prompt inside ``text`` by :attr:`prompt_pattern` (``text`` where it does not match)."""
        if self.prompt_pattern is None:
            return text
        found = self.prompt_pattern.search(text)
        if found is None:
            return text
        return found.group(1) if self.prompt_pattern.groups else found.group(0)


@dataclass(frozen=True)
class RefineRequest:
    """A checked request: what one ``Refiner.refine`` call needs, and how to answer.

    ``options`` are the keyword arguments for ``refine`` besides the prompts (``n``, the
    sampling settings given, ``seed``). ``batch_key`` says which requests may share a
    call: equal options, and no seed, since a sampled batch shares one random stream
    (a seeded request is refined alone, so the same request gives the same answer);
    None: alone.
    """

    kind: str  # "chat" or "completion"
    model: str
    prompts: tuple[str, ...]
    options: dict[str, Any]
    batch_key: tuple | None
    stream: bool = False
    include_usage: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def n(self) -> int:
        return int(self.options["n"])


@dataclass(frozen=True)
class Answer:
    """One prompt's rewrites and their token counts (``usage``)."""

    texts: list[str]
    prompt_tokens: int
    completion_tokens: int


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; an :class:`ApiError` 400 for anything else
    (not UTF-8, not JSON, NaN or Infinity, nesting too deep to parse, not an object)."""
    if not body.strip():
        raise ApiError(400, "the request body is empty: send a JSON object", code="invalid_json")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply to parse", code="invalid_json") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN, ints over 4300 digits
        raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, got a JSON {_json_type(data)}",
                       code="invalid_json")
    return data


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _bad(param: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, f"{param}: {message}", param=param, code=code)


def _integer(body: dict, name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and low <= value <= high:
            return int(value)  # 2.0: what JSON writers of some languages send for 2
        raise _bad(name, f"must be an integer, got a {_json_type(value)}", "invalid_type")
    if not low <= value <= high:
        raise _bad(name, f"must be between {low} and {high}, got {value}")
    return value


def _number(body: dict, name: str, low: float, high: float, low_open: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(name, f"must be a number, got a {_json_type(value)}", "invalid_type")
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        span = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise _bad(name, f"must be in {span}, got {value}")
    return float(value)


def _boolean(body: dict, name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(name, f"must be true or false, got a {_json_type(value)}", "invalid_type")
    return value


def _served(served: str | tuple[str, ...]) -> tuple[str, ...]:
    return (served,) if isinstance(served, str) else tuple(served)


def _check_model(body: dict, served: tuple[str, ...]) -> str:
    names = " or ".join(repr(name) for name in served)
    model = body.get("model")
    if model is None:
        raise ApiError(400, f"model: missing; this server serves {names} (GET /v1/models)", param="model",
                       code="missing_field")
    if not isinstance(model, str):
        raise _bad("model", f"must be a string, got a {_json_type(model)}", "invalid_type")
    if model not in served:
        shown = model if len(model) <= 100 else model[:97] + "..."
        raise ApiError(404, f"the model {shown!r} does not exist: this server serves {names} (GET /v1/models)",
                       param="model", code="model_not_found")
    return model


def _options(body: dict, defaults: Defaults) -> tuple[dict[str, Any], tuple | None]:
    """``refine``'s keyword arguments from the request (else the server's defaults), and
    the batch key (None: the request is refined alone)."""
    n = _integer(body, "n", 1, MAX_N)
    temperature = _number(body, "temperature", 0.0, 2.0)
    top_p = _number(body, "top_p", 0.0, 1.0, low_open=True)
    # max_completion_tokens is what newer clients send; max_tokens the older name.
    max_tokens = _integer(body, "max_completion_tokens", 1, MAX_TOKENS)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1, MAX_TOKENS)
    seed = _integer(body, "seed", 0, MAX_SEED)
    options: dict[str, Any] = {"n": 1 if n is None else n}
    given = {"temperature": temperature if temperature is not None else defaults.temperature,
             "top_p": top_p if top_p is not None else defaults.top_p,
             "max_new_tokens": max_tokens if max_tokens is not None else defaults.max_new_tokens}
    options.update({k: v for k, v in given.items() if v is not None})
    greedy = options.get("temperature") == 0
    if greedy and options["n"] > 1:
        raise _bad("n", f"temperature 0 decodes greedily, which gives one answer, not n={options['n']}: "
                        "give temperature > 0 for several")
    seed = seed if seed is not None else defaults.seed
    options["seed"] = None if greedy else seed  # greedy decoding does not depend on the seed
    key = tuple(sorted(options.items())) if options["seed"] is None else None
    return options, key


def _text_parts(content: list, where: str) -> str:
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            kind = part.get("type") if isinstance(part, dict) else _json_type(part)
            raise _bad(f"{where}.content[{j}]", f"only text parts ({{\"type\": \"text\", \"text\": ...}}) are "
                                                 f"accepted, got {kind!r}", "invalid_type")
        texts.append(part["text"])
    return " ".join(texts)


def _user_prompt(messages: Any) -> str:
    """The content of the last user message: the prompt to refine (the refiner brings
    its own system prompt; a client's system and assistant messages are ignored)."""
    if not isinstance(messages, list):
        raise _bad("messages", f"must be an array of messages, got a {_json_type(messages)}", "invalid_type")
    if not messages:
        raise _bad("messages", "is empty: send at least one {\"role\": \"user\", \"content\": PROMPT}")
    prompt = None
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _bad(where, f"must be an object with role and content, got a {_json_type(message)}",
                       "invalid_type")
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise _bad(f"{where}.role", f"must be one of {list(_ROLES)}, got {role!r}"[:300])
        content = message.get("content")
        if role != "user":
            continue
        if isinstance(content, list):
            content = _text_parts(content, where)
        if not isinstance(content, str):
            raise _bad(f"{where}.content", f"must be a string (the prompt), got a {_json_type(content)}",
                       "invalid_type")
        prompt = (i, content)
    if prompt is None:
        raise _bad("messages", "has no user message: the prompt to refine is the last {\"role\": \"user\"} message")
    index, text = prompt
    if not text.strip():
        raise _bad(f"messages[{index}].content", "is empty: send the prompt to refine")
    return text.strip()


def _stream_options(body: dict, stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise _bad("stream_options", f"must be an object, got a {_json_type(options)}", "invalid_type")
    if not stream:
        raise _bad("stream_options", "is only allowed with stream: true")
    return _boolean(options, "include_usage")


def _extracted(text: str, defaults: Defaults, param: str) -> str:
    prompt = defaults.extract(text).strip()
    if not prompt:
        raise _bad(param, "holds no prompt (pav serve --prompt_pattern matched an empty one)")
    return prompt


def parse_chat(body: dict[str, Any], served: str | tuple[str, ...], defaults: Defaults = Defaults()) -> RefineRequest:
    """A ``/v1/chat/completions`` body -> a :class:`RefineRequest` (or an :class:`ApiError`).
    ``served``: the model id(s) a request may name."""
    model = _check_model(body, _served(served))
    if "messages" not in body:
        raise ApiError(400, "messages: missing; send [{\"role\": \"user\", \"content\": PROMPT}]", param="messages",
                       code="missing_field")
    prompt = _extracted(_user_prompt(body["messages"]), defaults, "messages")
    options, key = _options(body, defaults)
    stream = _boolean(body, "stream")
    return RefineRequest("chat", model, (prompt,), options, key, stream, _stream_options(body, stream))


def parse_completion(body: dict[str, Any], served: str | tuple[str, ...],
                     defaults: Defaults = Defaults()) -> RefineRequest:
    """A ``/v1/completions`` body -> a :class:`RefineRequest`: ``prompt`` is the user's
    prompt (a string) or up to :data:`MAX_PROMPTS` of them (an array of strings)."""
    model = _check_model(body, _served(served))
    if "prompt" not in body:
        raise ApiError(400, "prompt: missing; send the prompt to refine as a string", param="prompt",
                       code="missing_field")
    raw = body["prompt"]
    prompts = [raw] if isinstance(raw, str) else raw
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise _bad("prompt", "must be a string or a non-empty array of strings (token ids are not accepted)",
                   "invalid_type")
    if len(prompts) > MAX_PROMPTS:
        raise _bad("prompt", f"holds {len(prompts)} prompts; at most {MAX_PROMPTS} a request")
    empty = [i for i, p in enumerate(prompts) if not p.strip()]
    if empty:
        raise _bad("prompt", "is empty" if isinstance(raw, str) else f"prompt {empty[0]} is empty")
    options, key = _options(body, defaults)
    stream = _boolean(body, "stream")
    return RefineRequest("completion", model, tuple(_extracted(p, defaults, "prompt") for p in prompts), options,
                         key, stream, _stream_options(body, stream))


def _usage(answers: list[Answer]) -> dict[str, int]:
    prompt = sum(a.prompt_tokens for a in answers)
    completion = sum(a.completion_tokens for a in answers)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_response(request: RefineRequest, answers: list[Answer]) -> dict[str, Any]:
    """The ``chat.completion`` object: ``n`` choices of the (one) prompt's rewrites."""
    texts = answers[0].texts
    choices = [{"index": i, "message": {"role": "assistant", "content": text}, "logprobs": None,
                "finish_reason": "stop"} for i, text in enumerate(texts)]
    return {"id": f"chatcmpl-{request.id}", "object": "chat.completion", "created": request.created,
            "model": request.model, "system_fingerprint": None, "choices": choices, "usage": _usage(answers)}


def completion_response(request: RefineRequest, answers: list[Answer]) -> dict[str, Any]:
    """The ``text_completion`` object: choice ``i * n + j`` is rewrite ``j`` of prompt ``i``."""
    texts = [text for answer in answers for text in answer.texts]
    choices = [{"index": i, "text": text, "logprobs": None, "finish_reason": "stop"} for i, text in enumerate(texts)]
    return {"id": f"cmpl-{request.id}", "object": "text_completion", "created": request.created,
            "model": request.model, "system_fingerprint": None, "choices": choices, "usage": _usage(answers)}


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def chat_chunks(request: RefineRequest, answers: list[Answer]) -> list[str]:
    """``chat.completion.chunk`` events for a finished answer: per choice its whole text
    in one chunk, then a finishing chunk; the usage chunk if asked; ``data: [DONE]``."""
    base = {"id": f"chatcmpl-{request.id}", "object": "chat.completion.chunk", "created": request.created,
            "model": request.model, "system_fingerprint": None}
    usage = {"usage": None} if request.include_usage else {}
    events = []
    for i, text in enumerate(answers[0].texts):
        delta = {"role": "assistant", "content": text}
        events.append(_sse({**base, "choices": [{"index": i, "delta": delta, "logprobs": None,
                                                 "finish_reason": None}], **usage}))
    for i in range(len(answers[0].texts)):
        events.append(_sse({**base, "choices": [{"index": i, "delta": {}, "logprobs": None,
                                                 "finish_reason": "stop"}], **usage}))
    if request.include_usage:
        events.append(_sse({**base, "choices": [], "usage": _usage(answers)}))
    return [*events, "data: [DONE]\n\n"]


def completion_chunks(request: RefineRequest, answers: list[Answer]) -> list[str]:
    """``text_completion`` events, as :func:`chat_chunks` for ``/v1/completions``."""
    base = {"id": f"cmpl-{request.id}", "object": "text_completion", "created": request.created,
            "model": request.model, "system_fingerprint": None}
    usage = {"usage": None} if request.include_usage else {}
    texts = [text for answer in answers for text in answer.texts]
    events = [_sse({**base, "choices": [{"index": i, "text": t, "logprobs": None, "finish_reason": None}], **usage})
              for i, t in enumerate(texts)]
    events += [_sse({**base, "choices": [{"index": i, "text": "", "logprobs": None, "finish_reason": "stop"}],
                     **usage}) for i in range(len(texts))]
    if request.include_usage:
        events.append(_sse({**base, "choices": [], "usage": _usage(answers)}))
    return [*events, "data: [DONE]\n\n"]


def model_card(model_id: str, created: int) -> dict[str, Any]:
    """One entry of ``/v1/models``."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": "prompt-a-video"}
