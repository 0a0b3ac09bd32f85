"""Cluster simulation: real zend processes on loopback running the tiny fixture models.

Checks that 1 to 4 nodes give the single-node engine's tokens and the fixture logits, that
concurrent requests stay independent, that a killed node fails requests cleanly (UNAVAILABLE
naming it, nothing hangs), that a restarted node brings the cluster back, and that malformed
Forward traffic is refused without disturbing other sequences, and that the OpenAI-compatible
HTTP API serves the cluster.

Node ports run mutual TLS (the harness's default): plaintext clients, clients without a
cluster certificate and clients of another cluster are refused on every node RPC; joiners
enroll with one-time tokens, and wrong, expired, reused or missing tokens fail clearly; a
restarted node rejoins with its stored certificate; client APIs beyond loopback need API
keys; logs hold no prompt text; --insecure clusters still work.
"""
import array
import json
import http.client
import math
import os
import shutil
import socket
import signal
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import grpc

import cluster_harness as h

CASES = json.load(open(os.path.join(h.DATA, "model_cases.json")))["cases"]


def case(model, prompt):
    return next(c for c in CASES if c["model"] == model and c["prompt"] == prompt)


def fixture_logits(c):
    values = array.array("f")
    with open(os.path.join(h.DATA, c["logits_file"]), "rb") as f:
        values.frombytes(f.read())
    return values


def rows_of(values, n_vocab):
    return [values[i:i + n_vocab] for i in range(0, len(values), n_vocab)]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb)


def argmax(row):
    return max(range(len(row)), key=row.__getitem__)


def multicast_on_loopback_works():
    """True when a datagram sent to a multicast group over 127.0.0.1 comes back here, as
    discovery between nodes on one machine needs."""
    group, port = "239.255.70.71", h.free_port()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        rx.bind((group, port))
        rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                      struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("127.0.0.1")))
        rx.settimeout(1)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        tx.sendto(b"probe", (group, port))
        return rx.recv(16) == b"probe"
    except OSError:
        return False
    finally:
        rx.close()
        tx.close()


class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.log_dir = tempfile.mkdtemp(prefix="zen-cluster-logs-")
        self.clusters = []

    def tearDown(self):
        for c in self.clusters:
            c.close()

    def cluster(self, model, layers, slices, extra=(), insecure=False):
        c = h.Cluster(model, layers, log_dir=self.log_dir, extra=extra, insecure=insecure)
        self.clusters.append(c)
        c.__enter__()
        c.wait_ready(slices)
        return c

    def check_logits(self, got_bytes, n_vocab, c, min_cos):
        got = array.array("f")
        got.frombytes(got_bytes)
        self.assertEqual(n_vocab, c["n_vocab"])
        want_rows = rows_of(fixture_logits(c), n_vocab)
        got_rows = rows_of(got, n_vocab)
        self.assertEqual(len(got_rows), len(c["tokens"]))
        confident = agree = 0
        for i, (g, w) in enumerate(zip(got_rows, want_rows)):
            self.assertGreaterEqual(cosine(g, w), min_cos, f"position {i}")
            top = sorted(w, reverse=True)[:2]
            if top[0] - top[1] > 0.5:
                confident += 1
                agree += argmax(g) == argmax(w)
        self.assertGreaterEqual(agree, 0.97 * confident)

    def test_splits_of_2_3_4_nodes_give_single_node_tokens(self):
        model = "qwen3-tiny-f16.gguf"
        prompts = [case(model, "chat"), case(model, "code")]
        single = self.cluster(model, [0], 1)
        expected = [single.generate(c["tokens"], 24) for c in prompts]
        for c, tokens in zip(prompts, expected):
            self.assertEqual(tokens, c["greedy_next"])
        single.close()
        for layers in ([2, 2], [2, 1, 1], [1, 1, 1, 1]):
            with self.subTest(nodes=len(layers)):
                cl = self.cluster(model, layers, len(layers))
                for c, tokens in zip(prompts, expected):
                    self.assertEqual(cl.generate(c["tokens"], 24), tokens)
                cl.close()

    def test_logits_over_three_nodes_match_fixture(self):
        for model, min_cos, hidden, chunks in (("qwen3-tiny-f32.gguf", 0.99999, "f32", (0, 1)),
                                               ("qwen3-tiny-q8_0.gguf", 0.998, "f16", (7,))):
            with self.subTest(model=model):
                c = case(model, "chat")
                cl = self.cluster(model, [2, 1, 1], 3, extra=["--hidden-type", hidden])
                for chunk in chunks:
                    rows, n_vocab = cl.logits(c["tokens"], chunk)
                    self.check_logits(rows, n_vocab, c, min_cos)
                cl.close()

    def test_untied_three_layer_models_over_two_and_three_nodes(self):
        for model, layers in (("qwen3-tiny-untied-f16.gguf", [1, 1, 1]),
                              ("qwen3-tiny-untied-q8_0.gguf", [2, 2])):
            c = case(model, "chat")
            single = self.cluster(model, [0], 1)
            expected = single.generate(c["tokens"], 24)
            single.close()
            if model.endswith("f16.gguf"):
                self.assertEqual(expected, c["greedy_next"])
            with self.subTest(model=model, nodes=len(layers)):
                cl = self.cluster(model, layers, len(layers))
                self.assertEqual(cl.generate(c["tokens"], 24), expected)
                cl.close()

    def test_concurrent_requests_match_sequential_ones(self):
        model = "qwen3-tiny-q8_0.gguf"
        cl = self.cluster(model, [2, 1, 1], 3)
        prompts = [case(model, "chat")["tokens"][: 20 + 7 * i] for i in range(6)]
        sampling = [dict() if i % 2 == 0 else dict(temperature=0.8, top_k=40, seed=i)
                    for i in range(6)]
        sequential = [cl.generate(p, 16, **s) for p, s in zip(prompts, sampling)]
        results = [None] * len(prompts)
        errors = []

        def run(i):
            try:
                results[i] = cl.generate(prompts[i], 16, **sampling[i])
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(results, sequential)

    def test_killed_node_fails_cleanly_and_restart_recovers(self):
        model = "qwen3-tiny-q8_0.gguf"
        cl = self.cluster(model, [2, 1, 1], 3)
        tokens = case(model, "code")["tokens"]
        before = cl.generate(tokens, 8)
        failure = {}

        def long_generation():
            try:
                cl.generate(tokens[:10], 450, timeout=30)
                failure["error"] = None
            except grpc.RpcError as e:
                failure["error"] = e

        t = threading.Thread(target=long_generation)
        t.start()
        time.sleep(0.3)
        victim = cl.nodes[1]
        victim.signal(signal.SIGKILL)
        started = time.time()
        t.join(timeout=20)
        self.assertFalse(t.is_alive(), "the request hung after a node died")
        self.assertLess(time.time() - started, 10)
        error = failure.get("error")
        self.assertIsNotNone(error, "generation survived a dead middle node")
        self.assertEqual(error.code(), grpc.StatusCode.UNAVAILABLE, error.details())
        self.assertIn("node1", error.details())
        # The leader keeps serving: status answers and names the lost node.
        deadline = time.time() + 10
        while time.time() < deadline:
            states = {n.name: n.state for n in cl.status().nodes}
            if states["node1"].startswith("lost"):
                break
            time.sleep(0.1)
        self.assertTrue(states["node1"].startswith("lost"), states)
        victim.kill()
        # The restart carries no token: the node rejoins with the certificate it stored.
        self.assertIsNone(victim.token)
        victim.start()
        cl.wait_ready(3)
        self.assertEqual(cl.generate(tokens, 8), before)
        self.assertIn("node certificate node1 from", victim.output())

    def test_malformed_forward_is_refused_and_others_continue(self):
        model = "qwen3-tiny-q8_0.gguf"
        cl = self.cluster(model, [2, 2], 2)
        plan = cl.admin.GetPlan(h.zen_pb2.PlanRequest(), timeout=2)
        second = plan.slices[1]
        status = cl.status()
        plan_id = status.plan_id
        stub = h.node_pb2_grpc.NodeStub(cl.peer_channel(second.node_address))
        good_hidden = b"\0" * (256 * 2)
        P = h.node_pb2

        def batch(i, **kw):
            b = dict(batch_id=i, plan_id=plan_id, seq_ids=[900 + i], positions=[0], tokens=[1],
                     want_output=[True], hidden_dtype=P.HIDDEN_DTYPE_F16, hidden=good_hidden)
            b.update(kw)
            return P.ForwardRequest(batch=P.Batch(**b))

        requests = [
            batch(1, hidden=b"\0" * 10),                 # wrong row size
            batch(2, positions=[5]),                      # unknown sequence at position 5
            batch(3, positions=[1 << 40]),                # outside the context
            batch(4, plan_id=plan_id + 12345),            # stale plan
            batch(5, tokens=[10 ** 6]),                   # token outside the vocabulary
            batch(6),                                     # valid
        ]
        # A real request runs meanwhile and must not notice.
        expected = cl.generate(case(model, "chat")["tokens"], 8)
        got = {}
        t = threading.Thread(target=lambda: got.update(
            tokens=cl.generate(case(model, "chat")["tokens"], 8)))
        t.start()
        responses = {r.batch_id: r for r in stub.Forward(iter(requests), timeout=20)}
        t.join(timeout=30)
        self.assertEqual(got.get("tokens"), expected)
        code = grpc.StatusCode
        self.assertEqual(responses[1].status_code, code.INVALID_ARGUMENT.value[0])
        self.assertIn("bytes", responses[1].status_message)
        self.assertEqual(responses[2].status_code, code.INVALID_ARGUMENT.value[0])
        self.assertEqual(responses[3].status_code, code.INVALID_ARGUMENT.value[0])
        self.assertEqual(responses[4].status_code, code.FAILED_PRECONDITION.value[0])
        self.assertEqual(responses[5].status_code, code.INVALID_ARGUMENT.value[0])
        self.assertEqual(responses[6].status_code, 0, responses[6].status_message)
        self.assertEqual(len(responses[6].results), 1)

    def test_model_mismatch_is_refused_naming_the_node(self):
        cl = self.cluster("qwen3-tiny-q8_0.gguf", [0], 1)
        stranger = h.Node("stranger", "qwen3-tiny-f16.gguf", h.free_port(),
                          join=cl.leader_address, log_dir=self.log_dir,
                          token=h.make_token(cl.nodes[0].state_dir)).start()
        try:
            self.assertEqual(stranger.wait(timeout=20), 2)
            out = stranger.output()
            self.assertIn("stranger", out)
            self.assertIn("same model", out)
        finally:
            stranger.kill()
        self.assertTrue(cl.status().ready)

    def test_unreachable_leader_and_cli_views(self):
        port = h.free_port()
        r = subprocess.run([h.ZEN, "status", "--host", f"127.0.0.1:{port}"], capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"127.0.0.1:{port}", r.stderr)
        cl = self.cluster("qwen3-tiny-q8_0.gguf", [2, 2, 1], 2)
        r = subprocess.run([h.ZEN, "plan", "--host", cl.api], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0..1", r.stdout)
        self.assertIn("2..3", r.stdout)
        self.assertIn("left out: node2", r.stdout)
        r = subprocess.run([h.ZEN, "status", "--host", cl.nodes[2].api, "--json"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        status = json.loads(r.stdout)
        self.assertTrue(status["ready"])
        self.assertEqual(sorted(n["name"] for n in status["nodes"]), ["node0", "node1", "node2"])

    def http(self, port, method, path, body=None, key=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read().decode()
        conn.close()
        return r.status, payload

    def test_client_apis_beyond_loopback_need_api_keys_and_logs_hold_no_prompts(self):
        model = "qwen3-tiny-q8_0.gguf"
        # Beyond loopback without keys: refused before the model is even opened.
        fresh = h.temp_dir("zen-state-")
        port = h.free_port()
        for http_bind, api_bind, flag in ((f"0.0.0.0:{port}", f"127.0.0.1:{h.free_port()}",
                                           "--http"),
                                          ("off", f"0.0.0.0:{h.free_port()}", "--api")):
            r = subprocess.run([h.ZEND, "start", "--model", h.model_path(model), "--listen",
                                f"127.0.0.1:{h.free_port()}", "--api", api_bind,
                                "--http", http_bind, "--state-dir", fresh],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(f"{flag} ", r.stderr)
            self.assertIn("requires API keys", r.stderr)
            self.assertIn("zend apikey create", r.stderr)

        cl = h.Cluster(model, [2, 2], log_dir=self.log_dir)
        key = h.make_api_key(cl.nodes[0].state_dir)
        cl.nodes[0].api_host = "0.0.0.0"
        cl.nodes[0].extra += ["--http", f"0.0.0.0:{port}"]
        cl.set_api_key(key)
        self.clusters.append(cl)
        cl.__enter__()
        cl.wait_ready(2)

        # gRPC client API beyond loopback: no key or a wrong key is UNAUTHENTICATED.
        request = h.zen_pb2.GenerateRequest(tokens=h.zen_pb2.TokenIds(ids=[1, 2, 3]),
                                            max_tokens=2)
        for metadata in ((), (("authorization", "Bearer zen-sk-wrong"),)):
            for call in (lambda: cl.admin.GetStatus(h.zen_pb2.StatusRequest(), timeout=5,
                                                    metadata=metadata),
                         lambda: list(cl.inference.Generate(request, timeout=5,
                                                            metadata=metadata))):
                with self.assertRaises(grpc.RpcError) as refused:
                    call()
                self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        # A member's loopback API needs no key.
        r = subprocess.run([h.ZEN, "status", "--host", cl.nodes[1].api], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The zen CLI sends $ZEN_API_KEY; without it the leader's open API refuses it.
        env = {k: v for k, v in os.environ.items() if k != "ZEN_API_KEY"}
        r = subprocess.run([h.ZEN, "status", "--host", cl.api], capture_output=True,
                           text=True, timeout=30, env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("API key", r.stderr)
        r = subprocess.run([h.ZEN, "status", "--host", cl.api], capture_output=True,
                           text=True, timeout=30, env=dict(env, ZEN_API_KEY=key))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("node1", r.stdout)

        # Without --log-prompts no log holds prompt or answer text.
        canary = f"zen privacy canary {os.getpid()} {time.time_ns()}"
        generated = "".join(piece.text for piece in cl.inference.Generate(
            h.zen_pb2.GenerateRequest(prompt=canary, max_tokens=12, ignore_eos=True),
            timeout=60, metadata=cl.metadata))
        deadline = time.time() + 10
        while True:  # the HTTP server starts right after the node reports ready
            try:
                status, body = self.http(port, "GET", "/health", key=key)
                break
            except ConnectionRefusedError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.assertEqual(status, 200, body)
        health = json.loads(body)
        self.assertTrue(health["ready"])
        self.assertEqual(sorted(n["name"] for n in health["nodes"]), ["node0", "node1"])

        self.assertEqual(self.http(port, "GET", "/v1/models")[0], 401)
        self.assertEqual(self.http(port, "GET", "/v1/models", key="zen-sk-wrong")[0], 401)
        status, body = self.http(port, "GET", "/v1/models", key=key)
        self.assertEqual(status, 200, body)
        model_id = json.loads(body)["data"][0]["id"]
        self.assertEqual(model_id, "qwen3-tiny-q8_0")

        messages = [{"role": "user", "content": "hello"}]
        status, body = self.http(port, "POST", "/v1/chat/completions",
                                 {"model": model_id, "messages": messages, "max_tokens": 5,
                                  "temperature": 0}, key=key)
        self.assertEqual(status, 200, body)
        reply = json.loads(body)
        self.assertEqual(reply["object"], "chat.completion")
        self.assertEqual(reply["choices"][0]["finish_reason"], "length")
        self.assertEqual(reply["usage"]["completion_tokens"], 5)
        self.assertGreater(reply["usage"]["prompt_tokens"], 0)

        # The tiny model's chat output may all be reasoning; a raw completion shows text.
        status, body = self.http(port, "POST", "/v1/completions",
                                 {"model": model_id, "prompt": "The capital of France is " + canary,
                                  "max_tokens": 6, "temperature": 0}, key=key)
        self.assertEqual(status, 200, body)
        text = json.loads(body)["choices"][0]["text"]
        self.assertTrue(text, body)

        status, body = self.http(port, "POST", "/v1/chat/completions",
                                 {"model": model_id, "messages": messages, "max_tokens": 4,
                                  "stream": True, "temperature": 0}, key=key)
        self.assertEqual(status, 200, body)
        events = [line[len("data: "):] for line in body.splitlines() if line.startswith("data: ")]
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "length")

        status, body = self.http(port, "POST", "/v1/chat/completions", b"{not json", key=key)
        self.assertEqual(status, 400, body)
        self.assertIn("error", json.loads(body))

        # The cluster still serves the gRPC API after the HTTP requests.
        self.assertEqual(len(cl.generate([1, 2, 3], 4)), 4)
        for node in cl.nodes:
            log = node.output()
            self.assertNotIn(canary, log)
            for answer in (generated, text):
                if len(answer.strip()) >= 12:  # too short to be distinctive otherwise
                    self.assertNotIn(answer, log)

    def test_node_port_refuses_outsiders_and_bad_tokens(self):
        model = "qwen3-tiny-q8_0.gguf"
        cl = self.cluster(model, [2, 2], 2)
        leader, member = cl.nodes
        P = h.node_pb2
        code = grpc.StatusCode
        ca = h.read(os.path.join(leader.state_dir, "ca.pem"))
        options = [("grpc.ssl_target_name_override", h.PEER_TARGET_NAME)]
        stranger_dir = h.temp_dir("zen-stranger-")
        h.init_identity(stranger_dir, "stranger")

        def calls(stub):
            release = P.ForwardRequest(control=P.Control(kind=P.Control.KIND_RELEASE, seq_id=1))
            return {
                "Forward": lambda: list(stub.Forward(iter([release]), timeout=5)),
                "Heartbeat": lambda: stub.Heartbeat(P.HeartbeatRequest(), timeout=5),
                "Assign": lambda: stub.Assign(P.AssignRequest(), timeout=5),
                "ClusterStatus": lambda: stub.ClusterStatus(h.zen_pb2.StatusRequest(), timeout=5),
                "Join": lambda: stub.Join(P.JoinRequest(
                    capabilities=P.Capabilities(name="intruder", address="127.0.0.1:1")),
                    timeout=5),
            }

        def refused(call, want, words=None):
            with self.assertRaises(grpc.RpcError) as e:
                call()
            self.assertEqual(e.exception.code(), want, e.exception.details())
            if words:
                self.assertIn(words, e.exception.details())

        without_certificate = grpc.ssl_channel_credentials(root_certificates=ca)
        foreign_certificate = grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=h.read(os.path.join(stranger_dir, "node.key")),
            certificate_chain=h.read(os.path.join(stranger_dir, "node.pem")))
        for node in (leader, member):
            plaintext = h.node_pb2_grpc.NodeStub(grpc.insecure_channel(node.address))
            anonymous = h.node_pb2_grpc.NodeStub(
                grpc.secure_channel(node.address, without_certificate, options=options))
            foreign = h.node_pb2_grpc.NodeStub(
                grpc.secure_channel(node.address, foreign_certificate, options=options))
            for name, call in calls(plaintext).items():
                with self.subTest(node=node.name, client="plaintext", rpc=name):
                    refused(call, code.UNAVAILABLE)
            for name, call in calls(foreign).items():
                with self.subTest(node=node.name, client="foreign certificate", rpc=name):
                    refused(call, code.UNAVAILABLE)
            for name, call in calls(anonymous).items():
                if name == "Join":
                    continue
                with self.subTest(node=node.name, client="no certificate", rpc=name):
                    refused(call, code.UNAUTHENTICATED, "no cluster certificate")
        # Joining without a certificate needs a token.
        anonymous = h.node_pb2_grpc.NodeStub(
            grpc.secure_channel(leader.address, without_certificate, options=options))
        refused(calls(anonymous)["Join"], code.UNAUTHENTICATED, "zend token")

        # A zend of another cluster (its own CA) cannot join, and says why.
        joiners = [(h.Node("stranger", model, h.free_port(), join=cl.leader_address,
                           log_dir=self.log_dir, state_dir=stranger_dir), 2, "another cluster")]
        # A member's certificate does not let another name in (no taking over a place).
        copied = os.path.join(h.temp_dir("zen-copied-"), "state")
        shutil.copytree(member.state_dir, copied)
        joiners.append((h.Node("node9", model, h.free_port(), join=cl.leader_address,
                               log_dir=self.log_dir, state_dir=copied), 2,
                        "presents the certificate of node node1"))
        # Bad tokens fail with what is wrong; no token at all says how to get one.
        good = h.make_token(leader.state_dir)
        prefix, secret = good.rsplit(".", 1)
        wrong = f"{prefix}.{'AAAA' if not secret.startswith('AAAA') else 'BBBB'}{secret[4:]}"
        expired = h.make_token(leader.state_dir, ttl="1s")
        time.sleep(2.1)
        for name, token, exit_code, words in (("wrong", wrong, 1, "wrong secret"),
                                              ("expired", expired, 1, "expired"),
                                              ("reused", member.used_token, 1, "already used"),
                                              ("tokenless", None, 2, "zend token")):
            joiners.append((h.Node(name, model, h.free_port(), join=cl.leader_address,
                                   log_dir=self.log_dir, token=token), exit_code, words))
        for node, _, _ in joiners:
            node.start()
        for node, exit_code, words in joiners:
            with self.subTest(joiner=node.name):
                try:
                    self.assertEqual(node.wait(timeout=30), exit_code, node.output())
                    self.assertIn(words, node.output())
                finally:
                    node.kill()
        self.assertEqual(sorted(n.name for n in cl.status().nodes), ["node0", "node1"])
        self.assertEqual(len(cl.generate([1, 2, 3], 4)), 4)

    def test_insecure_cluster_still_works(self):
        model = "qwen3-tiny-f16.gguf"
        c = case(model, "chat")
        cl = self.cluster(model, [2, 2], 2, insecure=True)
        self.assertEqual(cl.generate(c["tokens"], 24), c["greedy_next"])
        self.assertIn("PLAINTEXT", cl.nodes[1].output())
        # Its node port speaks plaintext to anyone on the LAN: that is what --insecure means.
        stub = h.node_pb2_grpc.NodeStub(grpc.insecure_channel(cl.nodes[1].address))
        self.assertEqual(stub.Heartbeat(h.node_pb2.HeartbeatRequest(), timeout=5).status.name,
                         "node1")

    def test_lan_discovery_finds_the_leader_without_join(self):
        if not multicast_on_loopback_works():
            self.skipTest("multicast over 127.0.0.1 does not work on this machine "
                          "(tests/unit/daemon_discovery_live_test covers it in a namespace)")
        model = "qwen3-tiny-f16.gguf"
        c = case(model, "chat")
        cl = h.Cluster(model, [2, 2], log_dir=self.log_dir)
        self.clusters.append(cl)
        for node in cl.nodes:
            node.discovery = True
        cl.nodes[1].join = None  # a token and no --join: it must find the leader by itself
        cl.__enter__()
        cl.wait_ready(2)
        self.assertEqual(cl.generate(c["tokens"], 16), c["greedy_next"][:16])
        self.assertIn("found leader node0 at 127.0.0.1:", cl.nodes[1].output())
        # A restart needs neither --join nor --token: the stored certificate names the cluster.
        cl.nodes[1].kill()
        deadline = time.time() + 10
        while time.time() < deadline and not {
                n.name: n.state for n in cl.status().nodes}["node1"].startswith("lost"):
            time.sleep(0.1)
        cl.nodes[1].start()
        cl.wait_ready(2)
        self.assertEqual(cl.generate(c["tokens"], 8), c["greedy_next"][:8])
        self.assertEqual(cl.nodes[1].output().count("found leader node0 at"), 2)
        # With discovery off, a member without --join is told what to pass.
        r = subprocess.run(h.Node("node9", model, h.free_port(),
                                  state_dir=cl.nodes[1].state_dir).command(),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--no-discovery is set: pass --join", r.stderr)

    def test_sigterm_stops_a_node_with_exit_code_0(self):
        cl = self.cluster("qwen3-tiny-q8_0.gguf", [0], 1)
        leader = cl.nodes[0]
        leader.signal(signal.SIGTERM)
        self.assertEqual(leader.wait(timeout=15), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
