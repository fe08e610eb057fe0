"""`pav serve` on an exported tiny refiner, driven by the real `openai` client: chat and
text completions, n, seeds, streaming, the model list, hostile requests (each a 4xx with
OpenAI's error shape, the server still up), batching of concurrent requests into one
refine call per group of equal settings, and SIGTERM draining requests in flight (exit 0).
The micro-batcher and the request checks are also tested on their own, without a model."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from prompt_a_video.serving.batcher import Busy, Closed, MicroBatcher
from prompt_a_video.serving.protocol import Defaults, parse_chat

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]

REPO = Path(__file__).resolve().parents[2]
MODEL_ID = "tiny"
PATTERN = 'user input: *" *(.*?) *"$'  # docs/serving.md: CogVideoX's convert_demo.py, Open-Sora 2.0
KEY = "secret-key"
FAST = {"max_tokens": 8}


class Server:
    """`pav serve` in a subprocess, on a free port of 127.0.0.1 (--port 0, read back)."""

    def __init__(self, model_dir: Path, *options: str, names: tuple[str, ...] = (MODEL_ID,)) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prompt_a_video.cli", "serve", "--model", str(model_dir), "--port", "0",
             "--served_model_name", json.dumps(list(names)), "--log_level", "warning", *options],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stdout], daemon=True).start()
        threading.Thread(target=lambda: [self.stderr.append(line) for line in self.proc.stderr], daemon=True).start()
        try:
            first = lines.get(timeout=120)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("pav serve did not start: " + "".join(self.stderr)[-2000:]) from None
        served = " or ".join(repr(name) for name in names)
        assert first.startswith(f"pav serve: serving {served} at http://127.0.0.1:"), first
        self.port = int(first.split("127.0.0.1:")[1].split("/")[0])
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:  # the first line comes once the model is loaded; /health once uvicorn listens
            try:
                if self.request("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and self.proc.poll() is None, "".join(self.stderr)[-2000:]
            time.sleep(0.1)

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                timeout: float = 60) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body or None, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def health(self) -> dict:
        status, body = self.request("GET", "/health")
        assert status == 200, body
        return json.loads(body)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def openai_client(server: Server, api_key: str = KEY):
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key=api_key, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def refiner(tiny_refiner_export_dir):
    from prompt_a_video import Refiner

    return Refiner(tiny_refiner_export_dir)


@pytest.fixture(scope="module")
def server(tiny_refiner_export_dir):
    # Unguarded: the tiny random model's rewrites all fail the guard, whose fallback (the
    # prompt itself) would make "the server answers what the refiner writes" trivially true.
    served = Server(tiny_refiner_export_dir, "--guard", "false", "--api_key", KEY, "--batch_timeout", "0.05",
                    "--prompt_pattern", PATTERN, names=(MODEL_ID, "glm-4-plus"))
    yield served
    assert served.stop() == 0, "".join(served.stderr)[-2000:]


@pytest.fixture(scope="module")
def client(server):
    return openai_client(server)


def test_chat_completion_is_the_refiners_rewrite_of_the_last_user_message(client, refiner):
    plain = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "a dog"}])
    assert plain.choices[0].message.content.strip() and plain.model == MODEL_ID
    messages = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "a cat"},
                {"role": "assistant", "content": "ignored"}, {"role": "user", "content": "  a dog  "}]
    answer = client.chat.completions.create(model=MODEL_ID, messages=messages, temperature=0, **FAST)
    expected = refiner.refine("a dog", temperature=0, max_new_tokens=8, guard=False)
    assert [c.message.content for c in answer.choices] == expected and expected[0] != "a dog"
    assert answer.choices[0].finish_reason == "stop" and answer.object == "chat.completion"
    assert answer.usage.prompt_tokens > 10 and answer.usage.completion_tokens > 0  # the system prompt counts


def test_an_alias_and_the_prompt_pattern_serve_a_client_that_wraps_the_prompt(client, refiner):
    # convert_demo.py of CogVideoX, verbatim in shape: its system prompt, few-shot turns, and
    # the user's prompt inside an instruction, sent as model "glm-4-plus".
    wrap = 'Create an imaginative video descriptive caption or modify an earlier caption{} for the user input: " {} "'
    messages = [{"role": "system", "content": "You are part of a team of bots that creates videos."},
                {"role": "user", "content": wrap.format("", "a girl is on the beach")},
                {"role": "assistant", "content": "A radiant woman stands on a deserted beach."},
                {"role": "user", "content": wrap.format(" in ENGLISH", "A girl riding a bike.")}]
    reply = client.chat.completions.create(model="glm-4-plus", messages=messages, temperature=0.01, top_p=0.7,
                                           max_tokens=8, seed=2)
    assert reply.model == "glm-4-plus"
    assert [c.message.content for c in reply.choices] == refiner.refine(
        "A girl riding a bike.", temperature=0.01, top_p=0.7, max_new_tokens=8, seed=2, guard=False)
    assert {m.id for m in client.models.list()} == {MODEL_ID, "glm-4-plus"}


def test_n_choices_and_seeds(client, refiner):
    def ask(seed):
        reply = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "a red car"}],
                                               n=2, seed=seed, **FAST)
        return [c.message.content for c in reply.choices]

    first = ask(7)
    assert len(first) == 2 and all(first)
    assert ask(7) == first == refiner.refine("a red car", n=2, seed=7, max_new_tokens=8, guard=False)
    assert ask(8) != first


def test_stream_yields_sse_chunks_ending_the_answer(client, refiner):
    stream = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "a dog"}],
                                            temperature=0, stream=True, stream_options={"include_usage": True},
                                            **FAST)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == refiner.refine("a dog", temperature=0, max_new_tokens=8, guard=False)[0]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens > 0 and len(chunks) >= 3


def test_completions_and_models(client, server, refiner):
    one = client.completions.create(model=MODEL_ID, prompt="a dog", temperature=0, **FAST)
    assert [c.text for c in one.choices] == refiner.refine("a dog", temperature=0, max_new_tokens=8, guard=False)
    several = client.completions.create(model=MODEL_ID, prompt=["a dog", "a cat"], n=2, seed=3, **FAST)
    expected = refiner.refine(["a dog", "a cat"], n=2, seed=3, max_new_tokens=8, guard=False)
    assert [c.text for c in several.choices] == [t for rewrites in expected for t in rewrites]
    assert [c.index for c in several.choices] == [0, 1, 2, 3]
    assert client.models.retrieve(MODEL_ID).id == MODEL_ID
    status, body = server.request("POST", "/v1/completions", json.dumps(
        {"model": MODEL_ID, "prompt": "a dog", "stream": True, "max_tokens": 4}).encode(),
        {"Authorization": f"Bearer {KEY}"})
    events = body.decode().split("\n\n")
    assert status == 200 and events[-2] == "data: [DONE]" and json.loads(events[0][6:])["choices"][0]["text"]


def _chat(**fields) -> bytes:
    return json.dumps({"model": MODEL_ID, "messages": [{"role": "user", "content": "a dog"}], **fields}).encode()


def _messages(messages) -> bytes:
    return json.dumps({"model": MODEL_ID, "messages": messages}).encode()


CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
HOSTILE = {
    "bad json": (CHAT, b'{"model": "tiny", "messages": [', 400),
    "not an object": (CHAT, b"[1, 2]", 400),
    "empty body": (CHAT, b"", 400),
    "not utf-8": (CHAT, b"\xff\xfe\x00\xc3garbage", 400),
    "NaN temperature": (CHAT, _chat()[:-1] + b', "temperature": NaN}', 400),
    "nested 100000 deep": (CHAT, b"[" * 100_000 + b"]" * 100_000, 400),
    "5000-digit n": (CHAT, _chat()[:-1] + b', "n": ' + b"9" * 5000 + b"}", 400),
    "2 MiB body": (CHAT, _messages([{"role": "user", "content": "a dog " * 350_000}]), 413),
    "missing messages": (CHAT, json.dumps({"model": MODEL_ID}).encode(), 400),
    "empty messages": (CHAT, _messages([]), 400),
    "messages a string": (CHAT, _messages("a dog"), 400),
    "content a number": (CHAT, _messages([{"role": "user", "content": 42}]), 400),
    "message without role": (CHAT, _messages([{"content": "a dog"}]), 400),
    "no user message": (CHAT, _messages([{"role": "system", "content": "a dog"}]), 400),
    "blank prompt": (CHAT, _messages([{"role": "user", "content": "   "}]), 400),
    "image part": (CHAT, _messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
                   400),
    "n=1000": (CHAT, _chat(n=1000), 400),
    "n a string": (CHAT, _chat(n="2"), 400),
    "n a bool": (CHAT, _chat(n=True), 400),
    "negative max_tokens": (CHAT, _chat(max_tokens=-5), 400),
    "max_tokens 10**12": (CHAT, _chat(max_tokens=10**12), 400),
    "temperature a string": (CHAT, _chat(temperature="hot"), 400),
    "top_p 0": (CHAT, _chat(top_p=0), 400),
    "seed a string": (CHAT, _chat(seed="x"), 400),
    "stream a string": (CHAT, _chat(stream="yes"), 400),
    "greedy with n=2": (CHAT, _chat(temperature=0, n=2), 400),
    "unknown model": (CHAT, _chat(model="gpt-4o"), 404),
    "missing model": (CHAT, json.dumps({"messages": [{"role": "user", "content": "a dog"}]}).encode(), 400),
    "model a list": (CHAT, _chat(model=["tiny"]), 400),
    "token-id prompt": (COMPLETIONS, json.dumps({"model": MODEL_ID, "prompt": [1, 2, 3]}).encode(), 400),
    "17 prompts": (COMPLETIONS, json.dumps({"model": MODEL_ID, "prompt": ["a dog"] * 17}).encode(), 400),
    "missing prompt": (COMPLETIONS, json.dumps({"model": MODEL_ID}).encode(), 400),
    "unknown path": ("/v1/embeddings", _chat(), 404),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_request_gets_a_4xx_openai_error_and_the_server_stays_up(server, case):
    path, body, expected = HOSTILE[case]
    status, reply = server.request("POST", path, body, {"Authorization": f"Bearer {KEY}",
                                                        "Content-Type": "application/json"})
    error = json.loads(reply)["error"]
    assert status == expected, error
    assert set(error) == {"message", "type", "param", "code"} and error["message"] and error["type"]
    assert server.health()["status"] == "ok"


@pytest.mark.parametrize("method, headers, expected", [
    ("GET", {"Authorization": f"Bearer {KEY}"}, 405),
    ("POST", {"Authorization": "Bearer wrong"}, 401),
    ("POST", {}, 401),
])
def test_wrong_method_and_api_key_are_refused(server, method, headers, expected):
    status, reply = server.request(method, CHAT, _chat() if method == "POST" else b"", headers)
    assert status == expected and set(json.loads(reply)["error"]) == {"message", "type", "param", "code"}


def test_good_requests_work_after_the_hostile_ones_and_the_real_client_raises_openai_errors(server, client):
    import openai

    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "a dog"}])
    with pytest.raises(openai.BadRequestError, match="n: must be between 1 and 16"):
        client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "a dog"}], n=1000)
    with pytest.raises(openai.AuthenticationError):
        openai_client(server, "wrong").models.list()
    reply = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "a dog"}], **FAST)
    assert reply.choices[0].message.content


def test_concurrent_requests_with_mixed_settings_are_batched_and_sigterm_drains_them(tiny_refiner_export_dir,
                                                                                    refiner):
    # A long batch window holds the first request until all have come: one batch, whose
    # groups are one refine call each; SIGTERM arrives while all four wait.
    served = Server(tiny_refiner_export_dir, "--batch_timeout", "6")  # guarded, the default
    sent = {
        "greedy a": dict(prompt="a dog running", temperature=0, max_tokens=6),
        "greedy b": dict(prompt="an old man reading", temperature=0, max_tokens=6),
        "other budget": dict(prompt="a red car", temperature=0, max_tokens=9),
        "seeded": dict(prompt="a dog running", n=2, seed=1, max_tokens=8),
    }

    def ask(settings):
        settings = dict(settings)
        messages = [{"role": "user", "content": settings.pop("prompt")}]
        reply = openai_client(served).chat.completions.create(model=MODEL_ID, messages=messages, **settings)
        return [c.message.content for c in reply.choices]

    try:
        with ThreadPoolExecutor(len(sent)) as pool:
            futures = {name: pool.submit(ask, settings) for name, settings in sent.items()}
            deadline = time.monotonic() + 5
            while served.health()["in_flight"] < len(sent):
                assert time.monotonic() < deadline, served.health()
                time.sleep(0.05)
            served.proc.send_signal(signal.SIGTERM)
            answers = {name: future.result(timeout=60) for name, future in futures.items()}
    finally:
        status = served.stop()
    assert status == 0, "".join(served.stderr)[-2000:]
    assert all(answers[name] and all(answers[name]) for name in sent)
    # Seeded: refined alone, so exactly what the Refiner gives for this one prompt, guarded.
    assert answers["seeded"] == refiner.refine("a dog running", n=2, seed=1, max_new_tokens=8)
    assert "stopped by SIGTERM after answering 4 requests in 1 batches (3 refine calls)" in "".join(served.stderr)


def test_answers_are_cut_to_the_targets_token_budget(tiny_refiner_export_dir, refiner):
    """--token_limit (as --target) cuts every answer as `pav refine` does, at a word boundary."""
    from prompt_a_video import Refiner

    served = Server(tiny_refiner_export_dir, "--guard", "false", "--token_limit", "4")
    try:
        answer = openai_client(served).chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": "a dog running"}], temperature=0, max_tokens=24)
    finally:
        assert served.stop() == 0, "".join(served.stderr)[-2000:]
    text = answer.choices[0].message.content
    uncut = refiner.refine("a dog running", temperature=0, max_new_tokens=24, guard=False)[0]
    cut = Refiner(tiny_refiner_export_dir, token_limit=4).refine("a dog running", temperature=0,
                                                                  max_new_tokens=24, guard=False)[0]
    assert text == cut and len(text.split()) < len(uncut.split()) and uncut.startswith(text.rstrip(",;. "))


def test_serve_help_and_startup_errors_are_one_line_and_light(tmp_path):
    code = ("import sys; from prompt_a_video.cli import main\n"
            "try:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('torch', 'transformers', 'starlette', 'uvicorn') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    for option in ("--model", "--host", "--port", "--max_batch_size", "--batch_timeout", "--device", "--dtype",
                   "--api_key", "--temperature", "--top_p", "--max_tokens", "--seed", "/v1/chat/completions"):
        assert option in proc.stdout, option
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
    missing = subprocess.run([sys.executable, "-m", "prompt_a_video.cli", "serve", "--model", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=120, cwd=REPO)
    assert missing.returncode == 2 and missing.stderr.strip().startswith("pav serve: refiner folder not found")
    assert len(missing.stderr.strip().splitlines()) == 1


def _recording_backend(calls: list, fail_on: str | None = None, delay: float = 0.0):
    def run(prompts, options):
        time.sleep(delay)
        calls.append((list(prompts), dict(options)))
        if fail_on in prompts:
            raise ValueError(f"cannot refine {fail_on}")
        return [f"{p}|{options.get('max_new_tokens')}" for p in prompts]
    return run


def test_batcher_groups_equal_settings_and_refines_seeded_requests_alone():
    calls: list = []
    batcher = MicroBatcher(_recording_backend(calls), max_batch_size=8, batch_timeout=1.0).start()
    six, nine = {"n": 1, "max_new_tokens": 6, "seed": None}, {"n": 1, "max_new_tokens": 9, "seed": None}
    jobs = [(["a"], six, ("six",)), (["b"], nine, ("nine",)), (["c"], six, ("six",)),
            (["d"], {**six, "seed": 1}, None), (["e", "f"], six, ("six",))]
    futures = [batcher.submit(prompts, options, key) for prompts, options, key in jobs]
    results = [f.result(timeout=10) for f in futures]
    assert batcher.close(timeout=10) and batcher.in_flight == 0
    assert results == [["a|6"], ["b|9"], ["c|6"], ["d|6"], ["e|6", "f|6"]]
    assert [c[0] for c in calls] == [["a", "c", "e", "f"], ["b"], ["d"]]
    assert batcher.stats == {"requests": 5, "batches": 1, "refine_calls": 3}


def test_batcher_keeps_max_batch_size_and_isolates_a_failing_group():
    calls: list = []
    batcher = MicroBatcher(_recording_backend(calls, fail_on="bad"), max_batch_size=2, batch_timeout=1.0).start()
    options = {"n": 1, "max_new_tokens": 6, "seed": None}
    futures = [batcher.submit(["a"], options, ("k",)), batcher.submit(["bad"], {**options, "top_p": 0.5}, ("j",)),
               batcher.submit(["b"], options, ("k",)), batcher.submit(["c", "d", "e"], options, ("k",))]
    assert futures[0].result(timeout=10) == ["a|6"]
    with pytest.raises(ValueError, match="cannot refine bad"):
        futures[1].result(timeout=10)
    assert futures[2].result(timeout=10) == ["b|6"] and futures[3].result(timeout=10) == ["c|6", "d|6", "e|6"]
    # 2 prompts a batch; a request larger than that runs alone, in its own batch.
    assert [c[0] for c in calls] == [["a"], ["bad"], ["b"], ["c", "d", "e"]]
    assert batcher.stats["batches"] == 3
    batcher.close(timeout=10)


def test_batcher_close_answers_what_was_queued_and_refuses_more():
    calls: list = []
    batcher = MicroBatcher(_recording_backend(calls, delay=0.2), max_batch_size=1, batch_timeout=0).start()
    futures = [batcher.submit([p], {"n": 1}, ("k",)) for p in "abc"]
    assert batcher.close(timeout=10)
    assert [f.result(timeout=0) for f in futures] == [["a|None"], ["b|None"], ["c|None"]]
    with pytest.raises(Closed):
        batcher.submit(["d"], {"n": 1}, ("k",))


def test_batcher_refuses_past_max_pending_and_a_full_queue_still_drains():
    release = threading.Event()

    def blocked(prompts, options):
        release.wait(10)
        return list(prompts)

    batcher = MicroBatcher(blocked, max_batch_size=1, batch_timeout=0, max_pending=2).start()
    futures = [batcher.submit(["a"], {}, ("k",))]
    deadline = time.monotonic() + 5
    while batcher._queue.qsize():  # the worker took "a" and waits in the backend
        assert time.monotonic() < deadline
        time.sleep(0.01)
    futures += [batcher.submit([p], {}, ("k",)) for p in "bc"]
    with pytest.raises(Busy):
        batcher.submit(["d"], {}, ("k",))
    closing = threading.Thread(target=batcher.close, kwargs={"timeout": 10})
    closing.start()  # its stop marker waits for room in the full queue
    release.set()
    closing.join(15)
    assert not closing.is_alive() and [f.result(timeout=0) for f in futures] == [["a"], ["b"], ["c"]]


def test_unset_settings_are_left_to_the_refiner_and_server_defaults_fill_them():
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": "a dog"}]}
    assert parse_chat(body, MODEL_ID).options == {"n": 1, "seed": None}
    request = parse_chat({**body, "top_p": 0.5, "max_completion_tokens": 20, "max_tokens": 99}, MODEL_ID,
                         Defaults(temperature=0.3, top_p=0.9, seed=4))
    assert request.options == {"n": 1, "temperature": 0.3, "top_p": 0.5, "max_new_tokens": 20, "seed": 4}
    assert request.batch_key is None  # seeded: alone
    greedy = parse_chat({**body, "temperature": 0, "seed": 5}, MODEL_ID)
    assert greedy.options["seed"] is None and greedy.batch_key is not None  # greedy ignores the seed
