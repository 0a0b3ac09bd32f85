"""The zen.v1 client API end to end: real zend processes on loopback (two nodes, the tiny
fixture model), driven through gRPC from Python, through `zen chat` on a pipe, and
compared with the OpenAI-compatible HTTP API, which must give the same answers.

Covers Chat streaming (request id first, deltas, finish and usage), Tokenize against
`zen tokenize`, ListModels, Cancel mid-stream, deadlines, client disconnects (each then
proven to have freed the KV-cache on every node: the context is sized so that a leaked
sequence makes the follow-up request fail), every error status, and that prompts and
answers stay out of the logs.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc

import cluster_harness as h

# The untied model writes varied text (the tied one mostly newlines), so answers compared
# between APIs are real text.
MODEL = "qwen3-tiny-untied-f16.gguf"
# 512 tokens of KV per node = 4 pages of 128: one leaked 300-token sequence leaves too
# little room for the 400-token follow-up in kv_is_free().
CONTEXT = 512
MARKER = "zebra-quokka-7731"  # must never appear in a log without --log-prompts
P = h.zen_pb2
Code = grpc.StatusCode


def long_prompt(n):
    return [100 + (i * 37) % 900 for i in range(n)]


def user(text):
    return P.ChatMessage(role="user", content=text)


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.log_dir = tempfile.mkdtemp(prefix="zen-api-logs-")
        cls.http_port = h.free_port()
        cls.cluster = h.Cluster(MODEL, [2, 1], log_dir=cls.log_dir,
                                extra=["--context", str(CONTEXT)])
        # Only the entry serves HTTP (for the same-answer checks).
        cls.cluster.nodes[0].extra += ["--http", f"127.0.0.1:{cls.http_port}"]
        cls.cluster.__enter__()
        try:
            cls.cluster.wait_ready(2)
        except Exception:
            cls.cluster.close()
            raise
        cls.api = getattr(cls.cluster, "api", cls.cluster.leader_address)
        cls.channel = grpc.insecure_channel(cls.api)
        cls.stub = h.zen_pb2_grpc.InferenceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.cluster.close()

    # --- helpers ---------------------------------------------------------------------

    def chat(self, messages, timeout=30, **kw):
        """Runs a Chat to the end; returns (request_id, reasoning, content, calls, last)."""
        responses = list(self.stub.Chat(P.ChatRequest(messages=messages, **kw), timeout=timeout))
        self.assertTrue(responses[0].request_id.startswith("req-"), responses[0])
        reasoning = "".join(r.reasoning for r in responses)
        content = "".join(r.content for r in responses)
        calls = [c for r in responses for c in r.tool_calls]
        for r in responses[1:]:
            self.assertEqual(r.request_id, "")
        return responses[0].request_id, reasoning, content, calls, responses[-1]

    def http_chat(self, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = json.loads(r.read())
        conn.close()
        self.assertEqual(r.status, 200, data)
        return data

    def kv_is_free(self):
        """A 400-token sequence needs every KV page of every node: it fails if any node
        still holds an earlier sequence."""
        deadline = time.time() + 10
        while True:
            try:
                out = self.cluster.generate(long_prompt(300), 100, timeout=30)
                self.assertEqual(len(out), 100)
                return
            except grpc.RpcError as e:
                # The release travels behind the cancelled batches; give it a moment.
                if e.code() != Code.RESOURCE_EXHAUSTED or time.time() > deadline:
                    raise
                time.sleep(0.1)

    def early_stops(self):
        """(request id, tokens generated) of every request the entry stopped early."""
        return [(m.group(1), int(m.group(2))) for m in re.finditer(
            r"request (\S+): stopped early after (\d+) generated tokens",
            self.cluster.nodes[0].output())]

    def assert_stopped_early(self, seen_before, count=1, limit=200):
        """Waits for `count` new early stops in the entry's log, each before `limit`
        tokens: the server itself stopped generating, not just the client listening."""
        deadline = time.time() + 10
        while True:
            stops = self.early_stops()[seen_before:]
            if len(stops) >= count or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(stops), count, stops)
        for rid, tokens in stops:
            self.assertLess(tokens, limit, rid)
        return stops

    def start_long_generate(self, timeout=30):
        request = P.GenerateRequest(tokens=P.TokenIds(ids=long_prompt(300)), max_tokens=200,
                                    ignore_eos=True)
        return self.stub.Generate(request, timeout=timeout)

    def assert_code(self, code, fn):
        with self.assertRaises(grpc.RpcError) as cm:
            fn()
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        return cm.exception.details()

    # --- tests -----------------------------------------------------------------------

    def test_chat_streams_the_same_answer_as_http(self):
        greedy = P.SamplingParams(seed=1)  # all zero: greedy
        compared = ""
        for thinking in (True, False):
            messages = [P.ChatMessage(role="system", content="You are terse."),
                        user(f"Tell me about {MARKER}.")]
            rid, reasoning, content, calls, last = self.chat(
                messages, max_tokens=24, sampling=greedy,
                thinking=P.THINKING_ON if thinking else P.THINKING_OFF)
            self.assertIn(last.finish_reason, (P.FINISH_REASON_STOP, P.FINISH_REASON_LENGTH,
                                               P.FINISH_REASON_TOOL_CALLS))
            self.assertGreater(last.usage.completion_tokens, 0)
            self.assertLessEqual(last.usage.completion_tokens, 24)
            body = self.http_chat({
                "messages": [{"role": "system", "content": "You are terse."},
                             {"role": "user", "content": f"Tell me about {MARKER}."}],
                "max_tokens": 24, "temperature": 0, "top_p": 1, "top_k": 0, "seed": 1,
                "chat_template_kwargs": {"enable_thinking": thinking}})
            message = body["choices"][0]["message"]
            self.assertEqual(content, message["content"] or "")
            compared += content + reasoning
            self.assertEqual(reasoning, message.get("reasoning_content", ""))
            self.assertEqual(len(calls), len(message.get("tool_calls", [])))
            self.assertEqual(last.usage.prompt_tokens, body["usage"]["prompt_tokens"])
            self.assertEqual(last.usage.completion_tokens, body["usage"]["completion_tokens"])
        self.assertTrue(compared.strip())  # real text was compared, not two empty answers
        # Tools reach the prompt: the same conversation with a tool is longer.
        tool = P.Tool(name="get_weather", description="Weather of a city",
                      parameters_json='{"type": "object", "properties": {"city": '
                                      '{"type": "string"}}}')
        *_, with_tool = self.chat([user("Weather in Paris?")], max_tokens=4, sampling=greedy,
                                  tools=[tool])
        *_, hidden = self.chat([user("Weather in Paris?")], max_tokens=4, sampling=greedy,
                               tools=[tool], no_tools=True)
        self.assertGreater(with_tool.usage.prompt_tokens, hidden.usage.prompt_tokens + 20)
        # A conversation with an earlier tool call and its result renders and runs.
        history = [user("Weather in Paris?"),
                   P.ChatMessage(role="assistant", tool_calls=[P.ToolCall(
                       id="call_1", name="get_weather", arguments_json='{"city": "Paris"}')]),
                   P.ChatMessage(role="tool", content="18 C, sunny", tool_call_id="call_1")]
        *_, last = self.chat(history, max_tokens=4, sampling=greedy, tools=[tool])
        self.assertGreater(last.usage.completion_tokens, 0)

    def test_tokenize_round_trip_matches_zen_tokenize(self):
        text = "<|im_start|>user\nHéllo wörld, 12345 tokens! 你好<|im_end|>"
        r = subprocess.run([h.ZEN, "tokenize", "--model", h.model_path(MODEL), text],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        expected = [int(x) for x in r.stdout.split()]
        got = self.stub.Tokenize(P.TokenizeRequest(text=text, with_pieces=True), timeout=10)
        self.assertEqual(list(got.ids), expected)
        self.assertEqual(got.count, len(expected))
        self.assertEqual(b"".join(got.pieces).decode(), text)
        back = self.stub.Tokenize(P.TokenizeRequest(ids=P.TokenIds(ids=got.ids)), timeout=10)
        self.assertEqual(back.text, text)
        counted = self.stub.Tokenize(P.TokenizeRequest(text=text, count_only=True), timeout=10)
        self.assertEqual((counted.count, list(counted.ids)), (len(expected), []))
        r = subprocess.run([h.ZEN, "tokenize", "--model", h.model_path(MODEL), "--no-special",
                            text], capture_output=True, text=True, timeout=30)
        plain = self.stub.Tokenize(P.TokenizeRequest(text=text, no_special=True), timeout=10)
        self.assertEqual(list(plain.ids), [int(x) for x in r.stdout.split()])
        self.assertGreater(len(plain.ids), len(expected))

    def test_list_models(self):
        models = self.stub.ListModels(P.ListModelsRequest(), timeout=10).models
        self.assertEqual(len(models), 1)
        m = models[0]
        self.assertEqual(m.id, "qwen3-tiny-untied-f16")
        self.assertEqual(m.context_length, CONTEXT)
        self.assertEqual(m.chat_format, "qwen3")
        self.assertEqual(m.n_vocab, 4352)
        self.assertTrue(m.ready)
        # The id is accepted where a model is named.
        *_, last = self.chat([user("hi")], model=m.id, max_tokens=2)
        self.assertEqual(last.usage.completion_tokens, 2)

    def test_cancel_mid_stream_stops_promptly_and_frees_kv(self):
        for _ in range(2):  # two leaks would be needed only if one went unnoticed
            seen = len(self.early_stops())
            stream = self.start_long_generate()
            first = next(stream)
            self.assertTrue(first.request_id.startswith("req-"))
            for _ in range(3):
                self.assertTrue(next(stream).tokens)
            t0 = time.time()
            self.stub.Cancel(P.CancelRequest(request_id=first.request_id), timeout=5)
            rest = list(stream)
            self.assertLess(time.time() - t0, 5)
            self.assertEqual(rest[-1].finish_reason, P.FINISH_REASON_CANCELLED)
            self.assertLess(rest[-1].usage.completion_tokens, 200)
            self.assertEqual(self.assert_stopped_early(seen)[0][0], first.request_id)
            # Finished requests are gone from the registry.
            self.assert_code(Code.NOT_FOUND, lambda: self.stub.Cancel(
                P.CancelRequest(request_id=first.request_id), timeout=5))
        self.kv_is_free()
        # A Chat is cancelled the same way.
        stream = self.stub.Chat(P.ChatRequest(
            messages=[user("x " * 280)], max_tokens=200, sampling=P.SamplingParams()),
            timeout=30)
        first = next(stream)
        self.stub.Cancel(P.CancelRequest(request_id=first.request_id), timeout=5)
        self.assertEqual(list(stream)[-1].finish_reason, P.FINISH_REASON_CANCELLED)
        self.kv_is_free()

    def test_deadline_exceeded_stops_and_frees_kv(self):
        # A whole 300 + 200 token request takes about half a second here.
        for _ in range(2):
            seen = len(self.early_stops())
            stream = self.start_long_generate(timeout=0.1)
            with self.assertRaises(grpc.RpcError) as cm:
                for _ in stream:
                    pass
            self.assertEqual(cm.exception.code(), Code.DEADLINE_EXCEEDED)
            self.assert_stopped_early(seen)
        self.kv_is_free()

    def test_client_disconnect_stops_and_frees_kv(self):
        seen = len(self.early_stops())
        stream = self.start_long_generate()
        next(stream)
        next(stream)
        stream.cancel()  # what the server sees when a client goes away
        # A whole client process dying mid-answer: SIGKILL while it streams.
        client = (
            "import sys, grpc\n"
            "from zen.v1 import zen_pb2 as P, zen_pb2_grpc as G\n"
            "stub = G.InferenceStub(grpc.insecure_channel(sys.argv[1]))\n"
            "ids = [100 + (i * 37) % 900 for i in range(300)]\n"
            "stream = stub.Generate(P.GenerateRequest(tokens=P.TokenIds(ids=ids), "
            "max_tokens=200, ignore_eos=True), timeout=30)\n"
            "next(stream); next(stream)\n"
            "print('streaming', flush=True)\n"
            "for _ in stream: pass\n")
        proc = subprocess.Popen([sys.executable, "-c", client, self.api], stdout=subprocess.PIPE,
                                env=dict(os.environ, PYTHONPATH=h._GEN_DIR),
                                start_new_session=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), b"streaming")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            proc.stdout.close()
        self.assert_stopped_early(seen, count=2)
        self.kv_is_free()

    def test_error_statuses(self):
        chat = lambda **kw: list(self.stub.Chat(P.ChatRequest(**kw), timeout=10))  # noqa: E731
        self.assertIn("messages", self.assert_code(Code.INVALID_ARGUMENT, lambda: chat()))
        self.assertIn("messages[0].role", self.assert_code(
            Code.INVALID_ARGUMENT, lambda: chat(messages=[P.ChatMessage(role="robot")])))
        self.assertIn("qwen3-tiny-untied-f16", self.assert_code(
            Code.NOT_FOUND, lambda: chat(messages=[user("hi")], model="gpt-4")))
        self.assertIn("context", self.assert_code(
            Code.OUT_OF_RANGE, lambda: chat(messages=[user("z " * CONTEXT)])))
        self.assert_code(Code.INVALID_ARGUMENT, lambda: chat(
            messages=[user("hi")], tools=[P.Tool(name="f", parameters_json="{oops")]))
        self.assert_code(Code.OUT_OF_RANGE, lambda: list(self.stub.Generate(P.GenerateRequest(
            tokens=P.TokenIds(ids=long_prompt(CONTEXT))), timeout=10)))
        self.assert_code(Code.NOT_FOUND, lambda: list(self.stub.Generate(P.GenerateRequest(
            prompt="hi", model="nope"), timeout=10)))
        self.assert_code(Code.NOT_FOUND, lambda: self.stub.Tokenize(
            P.TokenizeRequest(text="hi", model="nope"), timeout=10))
        self.assertIn("req-nothing", self.assert_code(Code.NOT_FOUND, lambda: self.stub.Cancel(
            P.CancelRequest(request_id="req-nothing"), timeout=10)))
        self.assert_code(Code.INVALID_ARGUMENT, lambda: self.stub.Cancel(
            P.CancelRequest(), timeout=10))
        # The cluster serves on.
        *_, last = self.chat([user("still there?")], max_tokens=3)
        self.assertEqual(last.usage.completion_tokens, 3)

    def test_zen_chat_through_a_pipe(self):
        think_block = self.stub.Tokenize(P.TokenizeRequest(text="<think>\n\n</think>\n\n"),
                                         timeout=10).count
        script = ("hello\n"
                  "/system You are terse.\n"
                  "hello\n"
                  "/reset\n"
                  "hello\n"
                  "/reset\n"
                  "/no_think\n"
                  "hello\n"
                  "/quit\n"
                  "never sent\n")
        r = subprocess.run([h.ZEN, "chat", "--host", self.api, "-n", "6", "--temp", "0",
                            "--verbose"], input=script, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        prompts = [int(line[1:].split()[0]) for line in r.stderr.splitlines()
                   if line.startswith("[") and "prompt tokens" in line]
        self.assertEqual(len(prompts), 4, r.stderr)  # "never sent" was not sent
        first, with_history, after_reset, no_think = prompts
        self.assertGreater(with_history, after_reset)  # history and system
        self.assertGreater(after_reset, first)         # the system message stayed
        self.assertEqual(no_think, after_reset + think_block)
        self.assertIn("(conversation cleared)", r.stderr)
        # The first answer is what Chat gives for the same conversation.
        *_, content, _, _ = self.chat([user("hello")], max_tokens=6, thinking=P.THINKING_ON,
                                      sampling=P.SamplingParams(top_k=20, top_p=0.95))
        self.assertTrue(content.strip())
        self.assertTrue(r.stdout.startswith(content), (r.stdout, content))

    def test_zen_run_chat_with_a_system_message(self):
        r = subprocess.run([h.ZEN, "run", "--host", self.api, "--chat", "--system",
                            "You are terse.", "--prompt", "hello", "-n", "8", "--temp", "0",
                            "-v"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        _, reasoning, content, _, last = self.chat(
            [P.ChatMessage(role="system", content="You are terse."), user("hello")],
            max_tokens=8, thinking=P.THINKING_ON, sampling=P.SamplingParams())
        shown = (f"<think>\n{reasoning}\n</think>\n\n" if reasoning else "") + content
        self.assertEqual(r.stdout, shown + "\n")
        self.assertIn(f"{last.usage.prompt_tokens} prompt tokens", r.stderr)

    def test_seeded_sampling_matches_the_local_engine(self):
        # The last node samples with node::Sampler, as `zen run --model` does locally.
        args = ["--prompt", "Once upon a time", "-n", "24", "--temp", "0.9", "--top-k", "40",
                "--seed", "11"]
        local = subprocess.run([h.ZEN, "run", "--model", h.model_path(MODEL), "--ctx",
                                str(CONTEXT)] + args, capture_output=True, text=True, timeout=60)
        remote = subprocess.run([h.ZEN, "run", "--host", self.api] + args, capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(local.returncode, 0, local.stderr)
        self.assertEqual(remote.returncode, 0, remote.stderr)
        self.assertEqual(remote.stdout, local.stdout)
        self.assertGreater(len(set(local.stdout)), 3)  # sampled, not one repeated token

    def test_zz_logs_hold_no_prompt_or_answer_text(self):
        # Runs last (alphabetically): every test above sent MARKER or other text.
        for node in self.cluster.nodes:
            self.assertNotIn(MARKER, node.output())


@unittest.skipUnless("--log-prompts" in subprocess.run(
    [h.ZEND, "start", "--help"], capture_output=True, text=True).stdout,
    "zend has no --log-prompts flag yet")
class LogPromptsTest(unittest.TestCase):
    def test_log_prompts_logs_prompt_and_answer(self):
        with h.Cluster(MODEL, [0], log_dir=tempfile.mkdtemp(prefix="zen-api-logs-"),
                       extra=["--log-prompts"]) as cluster:
            cluster.wait_ready(1)
            api = getattr(cluster, "api", cluster.leader_address)
            stub = h.zen_pb2_grpc.InferenceStub(grpc.insecure_channel(api))
            out = list(stub.Chat(P.ChatRequest(messages=[user(f"say {MARKER}")], max_tokens=4,
                                               sampling=P.SamplingParams()), timeout=30))
            answer = "".join(r.content + r.reasoning for r in out)
            log = cluster.nodes[0].output()
            self.assertIn(MARKER, log)
            self.assertIn(": answer (", log)
            if answer.strip():
                self.assertIn(answer.strip(), log)


if __name__ == "__main__":
    unittest.main()
