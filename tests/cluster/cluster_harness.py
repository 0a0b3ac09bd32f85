"""Starts real zend processes on loopback for cluster simulation tests.

Every process runs in its own process group and is killed on exit, whatever happens;
every wait has a deadline. Stubs for zen.v1 / zen.node.v1 are generated from proto/ into a
temporary directory with grpc_tools (Debian's python3-grpc-tools).
"""
import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

ZEND = os.environ.get("ZEN_ZEND", "zend")
ZEN = os.environ.get("ZEN_CLI", "zen")
DATA = os.environ.get("ZEN_TEST_DATA_DIR", "tests/data")
PROTO = os.environ.get("ZEN_PROTO_DIR", "proto")

_GEN_DIR = tempfile.mkdtemp(prefix="zen-cluster-stubs-")
if protoc.main(["protoc", f"-I{PROTO}", f"--python_out={_GEN_DIR}", f"--grpc_python_out={_GEN_DIR}",
                os.path.join(PROTO, "zen/v1/zen.proto"),
                os.path.join(PROTO, "zen/node/v1/node.proto")]) != 0:
    raise RuntimeError("protoc failed on " + PROTO)
sys.path.insert(0, _GEN_DIR)
from zen.v1 import zen_pb2, zen_pb2_grpc  # noqa: E402
from zen.node.v1 import node_pb2, node_pb2_grpc  # noqa: E402

_ALL = []


def _kill_all():
    for node in list(_ALL):
        node.kill()


atexit.register(_kill_all)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_path(name):
    return os.path.join(DATA, name)


class Node:
    """One zend process: `address` is its node port (peers only), `api` its client API."""

    def __init__(self, name, model, port, join=None, max_layers=0, expect=1, extra=(),
                 log_dir=None, api_port=None):
        self.name = name
        self.model = model
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.api_port = api_port or free_port()
        self.api = f"127.0.0.1:{self.api_port}"
        self.join = join
        self.max_layers = max_layers
        self.expect = expect
        self.extra = list(extra)
        self.log_path = os.path.join(log_dir or tempfile.gettempdir(), f"zend-{name}-{port}.log")
        self.proc = None

    def start(self):
        cmd = [ZEND, "start", "--model", model_path(self.model), "--listen", self.address,
               "--api", self.api, "--name", self.name, "--speed-gbps", "10", "--no-discovery",
               "--heartbeat-ms", "200", "--max-batch-rows", "128"]
        if self.max_layers:
            cmd += ["--max-layers", str(self.max_layers)]
        if self.join:
            cmd += ["--join", self.join]
        else:
            cmd += ["--expect-nodes", str(self.expect)]
        # Small defaults keep tests light; a caller's own value of a flag wins.
        for flag, value in (("--threads", "1"), ("--context", "2048"), ("--http", "off")):
            if flag not in self.extra:
                cmd += [flag, value]
        cmd += self.extra
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _ALL.append(self)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.killpg(self.proc.pid, sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self.log.close()
        if self in _ALL:
            _ALL.remove(self)

    def output(self):
        with open(self.log_path) as f:
            return f.read()


class Cluster:
    """A leader and joiners; `layers` gives each node's --max-layers (0 = no cap)."""

    def __init__(self, model, layers, log_dir=None, extra=()):
        self.model = model
        self.nodes = []
        self.log_dir = log_dir
        ports = [free_port() for _ in layers]
        self.leader_address = f"127.0.0.1:{ports[0]}"
        for i, (port, max_layers) in enumerate(zip(ports, layers)):
            self.nodes.append(Node(f"node{i}", model, port,
                                   join=None if i == 0 else self.leader_address,
                                   max_layers=max_layers, expect=len(layers), extra=extra,
                                   log_dir=log_dir))
        # The client API the tests talk to: the leader's.
        self.api = self.nodes[0].api
        self.channel = grpc.insecure_channel(self.api)
        self.inference = zen_pb2_grpc.InferenceStub(self.channel)
        self.admin = zen_pb2_grpc.AdminStub(self.channel)

    def __enter__(self):
        for node in self.nodes:
            node.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.channel.close()
        for node in self.nodes:
            node.kill()

    def status(self, timeout=2):
        return self.admin.GetStatus(zen_pb2.StatusRequest(), timeout=timeout)

    def wait_ready(self, slices, timeout=30):
        """Waits until the leader reports a ready plan of `slices` slices."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            for node in self.nodes:
                if node.proc is not None and not node.alive() and node.join is None:
                    raise RuntimeError(f"leader exited:\n{node.output()}")
            try:
                status = self.status()
                plan = self.admin.GetPlan(zen_pb2.PlanRequest(), timeout=2)
                last = (status, plan)
                if status.ready and plan.has_plan and len(plan.slices) == slices:
                    return plan
            except grpc.RpcError as e:
                last = e
            time.sleep(0.1)
        raise TimeoutError(f"cluster not ready with {slices} slices after {timeout}s: {last}")

    def generate(self, tokens, max_tokens, timeout=60, **sampling):
        request = zen_pb2.GenerateRequest(tokens=zen_pb2.TokenIds(ids=tokens),
                                          max_tokens=max_tokens, ignore_eos=True,
                                          sampling=zen_pb2.SamplingParams(**sampling))
        out = []
        for piece in self.inference.Generate(request, timeout=timeout):
            out += list(piece.tokens)
        return out

    def logits(self, tokens, chunk, timeout=60):
        rows = b""
        n_vocab = 0
        for piece in self.inference.Logits(zen_pb2.LogitsRequest(tokens=tokens, chunk=chunk),
                                           timeout=timeout):
            rows += piece.logits
            n_vocab = piece.n_vocab
        return rows, n_vocab
