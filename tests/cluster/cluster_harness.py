"""Starts real zend processes on loopback for cluster simulation tests.

Every process runs in its own process group and is killed on exit, whatever happens;
every wait has a deadline. Stubs for zen.v1 / zen.node.v1 are generated from proto/ into a
temporary directory with grpc_tools (Debian's python3-grpc-tools).
"""
import atexit
import os
import shutil
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
_TEMP_DIRS = []


def _kill_all():
    for node in list(_ALL):
        node.kill()
    for path in _TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)


def temp_dir(prefix):
    """A temporary directory removed when the tests end."""
    path = tempfile.mkdtemp(prefix=prefix)
    _TEMP_DIRS.append(path)
    return path


atexit.register(_kill_all)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_path(name):
    return os.path.join(DATA, name)


def zend_command(*args, timeout=30):
    """Runs a short zend command (init, token, apikey); returns the CompletedProcess."""
    return subprocess.run([ZEND, *args], capture_output=True, text=True, timeout=timeout)


def init_identity(state_dir, name):
    """`zend init`: a new cluster CA and node certificate in `state_dir`."""
    r = zend_command("init", "--state-dir", state_dir, "--name", name)
    if r.returncode != 0:
        raise RuntimeError(f"zend init failed: {r.stderr}")


def make_token(state_dir, ttl="10m"):
    """`zend token` on the leader's state dir: a one-time join token."""
    r = zend_command("token", "--state-dir", state_dir, "--ttl", ttl)
    if r.returncode != 0:
        raise RuntimeError(f"zend token failed: {r.stderr}")
    return r.stdout.strip().splitlines()[-1]


def make_api_key(state_dir, name="test"):
    """`zend apikey create`: a client API key (its plain text)."""
    r = zend_command("apikey", "create", "--name", name, "--state-dir", state_dir)
    if r.returncode != 0:
        raise RuntimeError(f"zend apikey create failed: {r.stderr}")
    return r.stdout.strip().splitlines()[-1]


def read(path):
    with open(path, "rb") as f:
        return f.read()


# The name every node certificate carries for peers dialled by IP (certificates.h).
PEER_TARGET_NAME = "peer.zend.internal"


def peer_channel(address, state_dir=None):
    """A channel to a node port: mutual TLS with the node identity in `state_dir` (trusting
    its CA, checking the fixed peer name zend uses), or plaintext when `state_dir` is None."""
    if state_dir is None:
        return grpc.insecure_channel(address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(os.path.join(state_dir, "ca.pem")),
        private_key=read(os.path.join(state_dir, "node.key")),
        certificate_chain=read(os.path.join(state_dir, "node.pem")))
    return grpc.secure_channel(address, credentials,
                               options=[("grpc.ssl_target_name_override", PEER_TARGET_NAME)])


class Node:
    """One zend process: `address` is its node port (peers only, mutual TLS unless
    insecure), `api` its gRPC client API. With a `state_dir`, the node keeps its cluster
    identity there; `token` (used at the first start only) enrolls a joiner."""

    def __init__(self, name, model, port, join=None, max_layers=0, expect=1, extra=(),
                 log_dir=None, api_port=None, state_dir=None, token=None, insecure=False,
                 api_host="127.0.0.1", discovery=False):
        self.name = name
        self.model = model
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.api_port = api_port or free_port()
        self.api_host = api_host  # where the client API binds; tests connect over loopback
        self.api = f"127.0.0.1:{self.api_port}"
        self.join = join
        self.max_layers = max_layers
        self.expect = expect
        self.extra = list(extra)
        # Never the user's default state directory.
        self.state_dir = state_dir or (None if insecure else temp_dir("zen-state-"))
        self.token = token
        self.used_token = token  # kept for tests of token reuse
        self.insecure = insecure
        self.discovery = discovery  # LAN discovery (multicast beacons); off unless a test wants it
        self.log_path = os.path.join(log_dir or tempfile.gettempdir(), f"zend-{name}-{port}.log")
        self.proc = None
        self.log = None

    def command(self):
        cmd = [ZEND, "start", "--model", model_path(self.model), "--listen", self.address,
               "--api", f"{self.api_host}:{self.api_port}", "--name", self.name,
               "--speed-gbps", "10", "--heartbeat-ms", "200", "--max-batch-rows", "128"]
        if not self.discovery:
            cmd += ["--no-discovery"]
        if self.max_layers:
            cmd += ["--max-layers", str(self.max_layers)]
        if self.join:
            cmd += ["--join", self.join]
        else:
            cmd += ["--expect-nodes", str(self.expect)]
        if self.insecure:
            cmd += ["--insecure"]
        if self.state_dir:
            cmd += ["--state-dir", self.state_dir]
        if self.token:
            # One-time: a restart uses the certificate the first start stored.
            cmd += ["--token", self.token]
            self.token = None
        # Small defaults keep tests light; a caller's own value of a flag wins.
        for flag, value in (("--threads", "1"), ("--context", "2048"), ("--http", "off")):
            if flag not in self.extra:
                cmd += [flag, value]
        return cmd + self.extra

    def start(self):
        cmd = self.command()
        if self.log is not None:
            self.log.close()
        self.log = open(self.log_path, "a")
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
        if self.log is not None:
            self.log.close()
            self.log = None
        if self in _ALL:
            _ALL.remove(self)

    def output(self):
        with open(self.log_path) as f:
            return f.read()


class Cluster:
    """A leader and joiners; `layers` gives each node's --max-layers (0 = no cap).

    By default the node ports run mutual TLS: the leader's identity is made with `zend
    init` in a temporary state directory and every joiner enrolls with its own `zend token`.
    `insecure=True` starts every node with --insecure instead. `api` is the leader's
    client API address (any node's `node.api` works too)."""

    def __init__(self, model, layers, log_dir=None, extra=(), insecure=False):
        self.model = model
        self.metadata = ()  # sent with every client API call (set_api_key)
        self.nodes = []
        self.log_dir = log_dir
        self.insecure = insecure
        self.state_root = temp_dir("zen-cluster-state-")
        ports = [free_port() for _ in layers]
        self.leader_address = f"127.0.0.1:{ports[0]}"
        for i, (port, max_layers) in enumerate(zip(ports, layers)):
            state_dir = None if insecure else os.path.join(self.state_root, f"node{i}")
            token = None
            if not insecure and i == 0:
                init_identity(state_dir, "node0")
            elif not insecure:
                token = make_token(self.nodes[0].state_dir)
            self.nodes.append(Node(f"node{i}", model, port,
                                   join=None if i == 0 else self.leader_address,
                                   max_layers=max_layers, expect=len(layers), extra=extra,
                                   log_dir=log_dir, state_dir=state_dir, token=token,
                                   insecure=insecure))
        self.api = self.nodes[0].api
        self.channel = grpc.insecure_channel(self.api)
        self.inference = zen_pb2_grpc.InferenceStub(self.channel)
        self.admin = zen_pb2_grpc.AdminStub(self.channel)

    def set_api_key(self, key):
        """Sends `key` with the harness's own client API calls (an API beyond loopback)."""
        self.metadata = (("authorization", f"Bearer {key}"),)

    def peer_channel(self, address, as_node=0):
        """A channel to a node port as cluster member `as_node` would open it."""
        return peer_channel(address, None if self.insecure else self.nodes[as_node].state_dir)

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
        shutil.rmtree(self.state_root, ignore_errors=True)

    def status(self, timeout=2):
        return self.admin.GetStatus(zen_pb2.StatusRequest(), timeout=timeout,
                                    metadata=self.metadata)

    def wait_ready(self, slices, timeout=30):
        """Waits until the leader reports a ready plan of `slices` slices."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            for node in self.nodes:
                # The leader exiting at all, or any node failing by itself (not killed).
                if node.proc is not None and not node.alive() and (
                        node.join is None or node.proc.returncode > 0):
                    raise RuntimeError(f"{node.name} exited:\n{node.output()}")
            try:
                status = self.status()
                plan = self.admin.GetPlan(zen_pb2.PlanRequest(), timeout=2,
                                          metadata=self.metadata)
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
        for piece in self.inference.Generate(request, timeout=timeout, metadata=self.metadata):
            out += list(piece.tokens)
        return out

    def logits(self, tokens, chunk, timeout=60):
        rows = b""
        n_vocab = 0
        for piece in self.inference.Logits(zen_pb2.LogitsRequest(tokens=tokens, chunk=chunk),
                                           timeout=timeout, metadata=self.metadata):
            rows += piece.logits
            n_vocab = piece.n_vocab
        return rows, n_vocab
