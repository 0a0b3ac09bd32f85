#!/usr/bin/env python3
"""Load test for a Zen Engine cluster: N concurrent streaming requests while /health is
polled, with latency and throughput figures and a correctness check.

Every request is greedy, so each must return exactly the tokens the same request returns
when it runs alone; concurrency must not mix sequences. Requests alternate between gRPC
Generate, gRPC Chat and (with --http) HTTP chat completions streamed as SSE.

Against a running cluster:
    tools/zen_load.py --api 127.0.0.1:7071 --http 127.0.0.1:8080
Or let it start one on loopback (3 nodes of the tiny fixture model by default):
    tools/zen_load.py --start tests/data/qwen3-tiny-q8_0.gguf --nodes 3 \
        --zend build/daemon/zend

Traffic goes only to the addresses given (or the loopback cluster it starts); every loop
is bounded in count and time.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def prompt_tokens(variant, n):
    return [100 + (i * 37 + variant * 11) % 900 for i in range(n)]


def chat_text(variant):
    return f"Question {variant}: list a few facts about the number {variant * 7}."


class Runner:
    def __init__(self, h, api, http_addr, max_tokens, prompt_len, timeout):
        import grpc
        self.h = h
        self.grpc = grpc
        self.P = h.zen_pb2
        self.channel = grpc.insecure_channel(api)
        self.stub = h.zen_pb2_grpc.InferenceStub(self.channel)
        self.http_addr = http_addr
        self.max_tokens = max_tokens
        self.prompt_len = prompt_len
        self.timeout = timeout

    def run(self, kind, variant):
        """Returns (answer, ttft_seconds, total_seconds, generated_tokens)."""
        start = time.perf_counter()
        first = None
        if kind == "generate":
            request = self.P.GenerateRequest(tokens=self.P.TokenIds(
                ids=prompt_tokens(variant, self.prompt_len)), max_tokens=self.max_tokens,
                ignore_eos=True)
            tokens = []
            for piece in self.stub.Generate(request, timeout=self.timeout):
                if piece.tokens and first is None:
                    first = time.perf_counter()
                tokens += list(piece.tokens)
            return tuple(tokens), first - start, time.perf_counter() - start, len(tokens)
        if kind == "chat":
            request = self.P.ChatRequest(messages=[self.P.ChatMessage(
                role="user", content=chat_text(variant))], max_tokens=self.max_tokens,
                sampling=self.P.SamplingParams())
            text, n = "", 0
            for piece in self.stub.Chat(request, timeout=self.timeout):
                if (piece.content or piece.reasoning) and first is None:
                    first = time.perf_counter()
                text += piece.reasoning + "|" + piece.content
                n = piece.usage.completion_tokens or n
            return text, (first or time.perf_counter()) - start, time.perf_counter() - start, n
        host, port = self.http_addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=self.timeout)
        body = {"messages": [{"role": "user", "content": chat_text(variant)}],
                "max_tokens": self.max_tokens, "temperature": 0, "top_p": 1, "top_k": 0,
                "seed": 0, "stream": True, "stream_options": {"include_usage": True}}
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read()[:200]}")
        text, n = "", 0
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                n = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices", []):
                delta = choice.get("delta", {})
                piece = (delta.get("reasoning_content") or "") + "|" + (delta.get("content") or "")
                if piece != "|" and first is None:
                    first = time.perf_counter()
                text += piece
        conn.close()
        return text, (first or time.perf_counter()) - start, time.perf_counter() - start, n


class HealthPoller(threading.Thread):
    """Polls GET /health every `interval` seconds until stopped (at most `limit` polls)."""

    def __init__(self, http_addr, interval=0.1, limit=6000):
        super().__init__(daemon=True)
        self.http_addr, self.interval, self.limit = http_addr, interval, limit
        self.latencies, self.failures = [], []
        self.stop = threading.Event()

    def run(self):
        host, port = self.http_addr.rsplit(":", 1)
        for _ in range(self.limit):
            if self.stop.is_set():
                return
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, int(port), timeout=5)
                conn.request("GET", "/health")
                r = conn.getresponse()
                body = json.loads(r.read())
                conn.close()
                if r.status != 200 or not body.get("ready"):
                    self.failures.append(f"{r.status} {body}")
            except Exception as e:  # noqa: BLE001 - any failure is a finding
                self.failures.append(repr(e))
            self.latencies.append(time.perf_counter() - t0)
            self.stop.wait(self.interval)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api", help="a zend's client API (host:port)")
    parser.add_argument("--http", help="its OpenAI-compatible HTTP address, for /health and "
                        "HTTP requests")
    parser.add_argument("--start", metavar="GGUF", help="start a loopback cluster of this model")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--zend", default=os.environ.get("ZEN_ZEND", "zend"))
    parser.add_argument("--threads", type=int, default=1, help="compute threads per node")
    parser.add_argument("--layers", type=int, default=4,
                        help="the model's layer count, to give each started node a share")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--variants", type=int, default=4, help="distinct prompts")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--verbose", action="store_true", help="print every request's figures")
    args = parser.parse_args()

    os.environ.setdefault("ZEN_PROTO_DIR", os.path.join(ROOT, "proto"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
    os.environ["ZEN_ZEND"] = args.zend
    import cluster_harness as h
    h.ZEND = args.zend

    cluster = None
    if args.start:
        if not args.http:
            args.http = f"127.0.0.1:{h.free_port()}"
        h.DATA = os.path.dirname(os.path.abspath(args.start))
        # Room for every request's KV at once: a 128-token page each at least.
        context = max(4096, args.concurrency * 128 * 2)
        # Every node takes a share of the layers (the planner would keep a small model on
        # one node otherwise): 4 layers over 3 nodes is 2, 1, 1.
        caps = [0] if args.nodes == 1 else [
            args.layers // args.nodes + (1 if i < args.layers % args.nodes else 0)
            for i in range(args.nodes)]
        cluster = h.Cluster(os.path.basename(args.start), caps,
                            extra=["--context", str(context), "--threads", str(args.threads)])
        cluster.nodes[0].extra += ["--http", args.http]
        cluster.__enter__()
        plan = cluster.wait_ready(args.nodes, timeout=60)
        args.api = getattr(cluster, "api", cluster.leader_address)
        print(f"cluster: {len(plan.slices)} nodes, " +
              ", ".join(f"{s.node_name} layers {s.first_layer}..{s.last_layer}"
                        for s in plan.slices))
    if not args.api:
        parser.error("--api or --start is required")

    try:
        runner = Runner(h, args.api, args.http, args.max_tokens, args.prompt_tokens,
                        args.timeout)
        kinds = ["generate", "chat"] + (["http"] if args.http else [])
        jobs = [(kinds[i % len(kinds)], i % args.variants) for i in range(args.concurrency)]
        reference = {}
        for job in sorted(set(jobs)):
            reference[job] = runner.run(*job)[0]

        poller = HealthPoller(args.http) if args.http else None
        if poller:
            poller.start()
        results, errors = [None] * len(jobs), []
        barrier = threading.Barrier(len(jobs))

        def work(i, job):
            barrier.wait(timeout=60)
            try:
                results[i] = runner.run(*job)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{job}: {e!r}")

        threads = [threading.Thread(target=work, args=(i, job)) for i, job in enumerate(jobs)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.timeout + 60)
        wall = time.perf_counter() - t0
        if poller:
            poller.stop.set()
            poller.join(timeout=10)

        done = [(job, r) for job, r in zip(jobs, results) if r is not None]
        wrong = [job for job, r in done if r[0] != reference[job]]
        if args.verbose:
            for job, r in done:
                print(f"  {job[0]:8} prompt {job[1]}: first token {r[1] * 1000:6.0f} ms, "
                      f"total {r[2] * 1000:6.0f} ms, {r[3]} tokens")
        ttft = [r[1] for _, r in done]
        total = [r[2] for _, r in done]
        tokens = sum(r[3] for _, r in done)
        print(f"{len(done)}/{len(jobs)} requests completed in {wall:.2f} s "
              f"({', '.join(f'{k}: {sum(1 for j, _ in done if j[0] == k)}' for k in kinds)}); "
              f"{len(wrong)} differ from their solo run; {len(errors)} failed")
        for e in errors[:5]:
            print("  error:", e)
        for job in wrong[:5]:
            got = next(r[0] for j, r in done if j == job and r[0] != reference[job])
            want = reference[job]
            at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                      min(len(got), len(want)))
            print(f"  differs: {job}, from position {at} of {len(want)}")
        if done:
            print(f"time to first token: p50 {percentile(ttft, 50) * 1000:.0f} ms, "
                  f"p95 {percentile(ttft, 95) * 1000:.0f} ms (" + ", ".join(
                      f"{k} p50 {percentile([r[1] for j, r in done if j[0] == k], 50) * 1000:.0f}"
                      for k in kinds) + " ms; a chat's first token is its first visible text)")
            print(f"total latency:       p50 {percentile(total, 50) * 1000:.0f} ms, "
                  f"p95 {percentile(total, 95) * 1000:.0f} ms, max {max(total) * 1000:.0f} ms")
            print(f"throughput: {tokens} tokens generated, {tokens / wall:.1f} tokens/s "
                  f"aggregate, {statistics.mean(r[3] / r[2] for _, r in done):.1f} tokens/s "
                  f"per stream")
        if poller:
            lat = poller.latencies
            print(f"/health: {len(lat)} polls during the run, {len(poller.failures)} failed, "
                  f"p50 {percentile(lat, 50) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms"
                  if lat else "/health: no polls")
        ok = not errors and not wrong and len(done) == len(jobs) and not (
            poller and poller.failures)
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    sys.exit(main())
