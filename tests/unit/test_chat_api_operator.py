"""ChatAPIOperator against a local OpenAI-compatible test server (stdlib http.server on
127.0.0.1, scripted answers): parsing, re-asks, retries, errors, key hygiene, limits."""

from __future__ import annotations

import json
import logging
import pickle
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prompt_a_video.evolution import chat_api_operator as cao
from prompt_a_video.evolution.base import Scored
from prompt_a_video.evolution.chat_api_operator import ChatAPIError, ChatAPIOperator

DOG = "a dog running on the beach"
KEY = "sk-test-SECRET-0123456789abcdef"
ENV = "PAV_TEST_CHAT_KEY"


class ScriptedServer:
    """Serves ``/v1/chat/completions``; each request takes the next scripted action:
    ``{"content": str, "finish_reason"?: str}``, ``{"status": int, "body"?: dict,
    "headers"?: dict}``, with an optional ``"sleep"`` (seconds) before answering."""

    def __init__(self) -> None:
        self.script: list[dict] = []
        self.requests: list[dict] = []  # {"headers": {...}, "body": {...}}
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with server.lock:
                    server.requests.append({"path": self.path, "body": body,
                                            "headers": {k.lower(): v for k, v in self.headers.items()}})
                    action = server.script.pop(0) if server.script else {"status": 500, "body": {"error": "empty"}}
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(action.get("sleep", 0.0))
                    if "status" in action:
                        self._send(action["status"], action.get("body", {"error": {"message": "scripted"}}),
                                   action.get("headers", {}))
                    else:
                        self._send(200, {
                            "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                            "model": body.get("model"),
                            "choices": [{"index": 0, "finish_reason": action.get("finish_reason", "stop"),
                                         "message": {"role": "assistant", "content": action["content"]}}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}, {})
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status, payload, headers):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def waits(monkeypatch):
    """Record the operator's retry/rate-limit waits instead of sleeping them."""
    recorded: list[float] = []
    monkeypatch.setattr(cao, "_sleep", recorded.append)
    return recorded


@pytest.fixture(autouse=True)
def key_env(monkeypatch):
    monkeypatch.setenv(ENV, KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _op(server, **kw) -> ChatAPIOperator:
    args = dict(model="test-model", base_url=server.url, api_key_env=ENV, timeout=5.0, max_retries=3, backoff=0.01)
    return ChatAPIOperator(**(args | kw))


def _tags(*prompts: str) -> str:
    return "\n".join(f"<PROMPT>{p}</PROMPT>" for p in prompts)


HISTORY = [Scored(f"{DOG}, tracking shot", {"VQ": 0.7, "TC": 0.9}, 0.8, 1), Scored(DOG, {"VQ": 0.5, "TC": 0.8}, 0.6, 0)]
NEW = [f"{DOG}, golden hour light", f"{DOG}, slow motion, close-up", f"{DOG}, cinematic, static camera"]


def test_normal_answer(server, waits):
    server.script = [{"content": _tags(*NEW)}]
    out = _op(server, temperature=0.7, top_p=0.9, max_tokens=300, max_words=50).propose(DOG, HISTORY, 3, seed=11)
    assert out == NEW
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions" and req["headers"]["authorization"] == f"Bearer {KEY}"
    body = req["body"]
    assert (body["model"], body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (
        "test-model", 0.7, 0.9, 300, 11)
    user = body["messages"][1]["content"]
    assert DOG in user and "tracking shot" in user and "at most 50 words" in user and "3 new prompts" in user
    assert waits == []


def test_malformed_answers_are_parsed_and_missing_ones_reasked(server, waits):
    server.script = [
        # duplicates, an empty tag, a history prompt, and a cut closing tag
        {"content": f"Sure!\n<PROMPT>{NEW[0]}</PROMPT><prompt>{NEW[0].upper()}</prompt>< PROMPT ></PROMPT>"
                    f"<PROMPT>{HISTORY[0].prompt}</PROMPT><PROMPT>{NEW[1]}</PROM"},
        {"content": f"Here you go:\n1. {NEW[1]}\n2. \"{NEW[2]}\""},  # no tags: a numbered list
    ]
    out = _op(server).propose(DOG, HISTORY, 3, seed=1)
    assert out == NEW
    assert len(server.requests) == 2
    second = server.requests[1]["body"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert "1 more" in second["messages"][-1]["content"] and second["seed"] == 2


def test_reasks_are_bounded_and_fewer_is_fine(server, waits):
    server.script = [{"content": "I cannot help with that."}, {"content": _tags(DOG)}, {"content": _tags(NEW[0])}]
    out = _op(server, max_reasks=1).propose(DOG, HISTORY, 2)
    assert out == [] and len(server.requests) == 2  # the third answer is never asked for
    assert "seed" not in server.requests[0]["body"]


def test_cut_off_answer_drops_the_unfinished_prompt(server, waits):
    server.script = [{"content": f"<PROMPT>{NEW[0]}</PROMPT><PROMPT>a dog running on the", "finish_reason": "length"}]
    assert _op(server, max_reasks=0).propose(DOG, HISTORY, 2) == [NEW[0]]


def test_timeout_is_retried(server, waits):
    server.script = [{"sleep": 1.0, "content": _tags(NEW[0])}, {"content": _tags(NEW[1])}]
    out = _op(server, timeout=0.25).propose(DOG, HISTORY, 1)
    assert out == [NEW[1]] and len(server.requests) == 2
    assert len(waits) == 1 and 0.01 <= waits[0] <= 0.011


def test_server_error_then_success_with_exponential_backoff(server, waits):
    server.script = [{"status": 500}, {"status": 503}, {"content": _tags(NEW[0])}]
    assert _op(server, backoff=0.5).propose(DOG, HISTORY, 1) == [NEW[0]]
    assert len(waits) == 2 and 0.5 <= waits[0] <= 0.55 and 1.0 <= waits[1] <= 1.1


def test_rate_limit_honours_retry_after(server, waits):
    server.script = [{"status": 429, "headers": {"Retry-After": "7"}, "body": {"error": {"message": "slow down"}}},
                     {"content": _tags(NEW[0])}]
    assert _op(server).propose(DOG, HISTORY, 1) == [NEW[0]]
    assert waits == [7.0]


def test_gives_up_after_max_retries(server, waits, caplog):
    server.script = [{"status": 502}] * 3
    with caplog.at_level(logging.WARNING, logger=cao.__name__):
        with pytest.raises(ChatAPIError, match="after 3 attempts.*HTTP 502") as info:
            _op(server, max_retries=2).propose(DOG, HISTORY, 1)
    assert info.value.status == 502 and len(server.requests) == 3 and len(waits) == 2
    assert "retry 1/2" in caplog.text and KEY not in caplog.text


def test_unauthorized_fails_at_once_without_leaking_the_key(server, waits):
    server.script = [{"status": 401, "body": {"error": {"message": f"Incorrect API key provided: {KEY}",
                                                        "type": "invalid_request_error"}}}]
    with pytest.raises(ChatAPIError, match="HTTP 401") as info:
        _op(server).propose(DOG, HISTORY, 1)
    assert info.value.status == 401 and len(server.requests) == 1 and waits == []
    shown = "".join(traceback.format_exception(info.value))
    assert KEY not in shown and "***" in shown and "not retried" in shown


def test_other_client_errors_are_not_retried(server, waits):
    server.script = [{"status": 400, "body": {"error": {"message": "bad model"}}}, {"content": _tags(NEW[0])}]
    with pytest.raises(ChatAPIError, match="HTTP 400.*bad model"):
        _op(server).propose(DOG, HISTORY, 1)
    assert len(server.requests) == 1


def test_key_never_in_fingerprint_repr_or_pickle_text(server):
    for op in (_op(server), _op(server, api_key=KEY, base_url="http://user:pw@127.0.0.1:1/v1?key=x")):
        text = op.fingerprint + repr(op) + str(op)
        assert KEY not in text and "pw" not in text and "key=x" not in text
        assert "test-model" in op.fingerprint
    assert _op(server).fingerprint != _op(server, temperature=0.3).fingerprint
    clone = pickle.loads(pickle.dumps(_op(server)))  # locks and the client are rebuilt
    server.script = [{"content": _tags(NEW[0])}]
    assert clone.propose(DOG, HISTORY, 1) == [NEW[0]]


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(ENV)
    op = ChatAPIOperator(model="gpt-4o", api_key_env=ENV)
    with pytest.raises(ChatAPIError, match=ENV):
        op.propose(DOG, HISTORY, 1)


def test_concurrency_is_bounded_across_threads(server, waits):
    server.script = [{"sleep": 0.05, "content": _tags(f"{DOG}, variant {i}")} for i in range(4)]
    op = _op(server, concurrency=1)
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(op.propose(DOG, HISTORY, 1))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(len(r) == 1 for r in results)
    assert server.max_in_flight == 1


def test_token_bucket_spaces_requests(monkeypatch):
    clock = [100.0]
    slept: list[float] = []

    def fake_sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(cao, "_now", lambda: clock[0])
    monkeypatch.setattr(cao, "_sleep", fake_sleep)
    bucket = cao._TokenBucket(per_minute=30)  # one request every 2 s
    for _ in range(3):
        bucket.acquire()
    assert sum(slept) == pytest.approx(4.0)
    clock[0] += 10.0  # idle time does not bank more than one request
    bucket.acquire()
    bucket.acquire()
    assert sum(slept) == pytest.approx(6.0)


def test_invalid_config_names_the_field():
    with pytest.raises(ValueError, match="concurrency"):
        ChatAPIOperator(model="m", concurrency=0)
