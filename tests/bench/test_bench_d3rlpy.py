"""The d3rlpy worker's JSON-lines protocol, driven by the real client against the real worker
functions (no subprocess, no torch), plus one real d3rlpy call when `.venv-d3rlpy` exists."""

import ast
import json
import subprocess

import pytest

from seamrl.algos import bc, iql, ivr
from seamrl.bench import d3rlpy_client as client
from seamrl.bench import d3rlpy_worker as worker


class FakeBackend:
    def __init__(self, request):
        self.request = request
        self.info = {"versions": {"d3rlpy": "x"}, "threads": 1, "device": request.get("device")}
        self.built = {n: {"class": s["config"].removesuffix("Config")} for n, s in request["algos"].items() if n != "broken"}
        self.errors = {"broken": "ValueError: no"} if "broken" in request["algos"] else {}
        self.calls = []

    def time(self, name, steps, mode):
        if name not in self.built:
            raise worker.ProtocolError(f"algorithm '{name}' was not built")
        self.calls.append((name, steps, mode))
        return 0.25 * steps


class Pipe:
    """stdin of a fake worker process: each written line is answered by ``worker.respond``."""

    def __init__(self, proc):
        self.proc, self.pending = proc, ""

    def write(self, text):
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            reply, done = worker.respond(line, self.proc.state, FakeBackend)
            self.proc.replies.append(reply)
            self.proc.exited |= done

    def flush(self):
        pass


class FakeProc:
    def __init__(self, args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.state, self.replies, self.exited = {}, [], False
        self.stdin, self.stdout = Pipe(self), self

    def readline(self):
        return self.replies.pop(0) if self.replies else ""

    def poll(self):
        return 0 if self.exited else None

    def wait(self, timeout=None):
        return 0

    def kill(self):
        self.exited = True


def _worker(threads=0):
    procs = []

    def popen(args, **kwargs):
        procs.append(FakeProc(args, **kwargs))
        return procs[-1]

    return client.D3rlpyWorker("/venv/bin/python", threads=threads, popen=popen), procs


def test_client_and_worker_round_trip():
    w, (proc,) = _worker(threads=1)
    assert proc.args == ["/venv/bin/python", str(client.WORKER)] and proc.kwargs["env"]["OMP_NUM_THREADS"] == "1"
    specs = {"iql": client.d3rlpy_spec("iql", iql.Config()), "broken": {"config": "XConfig"}}
    reply = w.setup(specs, obs_dim=17, action_dim=6, transitions=1000, warmup=3)
    assert reply["built"] == {"iql": {"class": "IQL"}} and reply["errors"] == {"broken": "ValueError: no"}
    request = proc.state["backend"].request
    assert (request["obs_dim"], request["action_dim"], request["transitions"], request["warmup"]) == (17, 6, 1000, 3)
    assert request["algos"]["iql"]["nets"]["value"]["hidden"] == [256, 256]
    assert w.time("iql", 8, "fit") == 2.0
    assert proc.state["backend"].calls == [("iql", 8, "fit")]
    with pytest.raises(client.WorkerError, match="was not built"):
        w.time("broken", 8, "update")
    assert w.time("iql", 4, "update") == 1.0  # the worker survives a failed request
    w.close()
    assert proc.exited


def test_worker_rejects_malformed_requests_and_keeps_running():
    state = {}
    for line, fragment in [
        ("not json", "not JSON"),
        ('{"cmd": "fly"}', "unknown command"),
        ('{"cmd": "time", "algo": "iql", "steps": 5}', "needs mode"),
        ('{"cmd": "time", "algo": "iql", "steps": 0, "mode": "fit"}', "positive integer"),
        ('{"cmd": "time", "algo": "iql", "steps": 5, "mode": "train"}', "mode must be"),
        ('{"cmd": "time", "algo": "iql", "steps": 5, "mode": "fit"}', "before 'setup'"),
    ]:
        reply, done = worker.respond(line, state, FakeBackend)
        assert not done and json.loads(reply)["ok"] is False and fragment in json.loads(reply)["error"]
    reply, done = worker.respond('{"cmd": "quit"}', state, FakeBackend)
    assert done and json.loads(reply) == {"ok": True}


def test_client_reports_a_dead_worker_and_bad_lines():
    w, (proc,) = _worker()
    proc.replies.clear()
    proc.stdin.write = lambda text: None  # the worker never answers: EOF on stdout
    with pytest.raises(client.WorkerError, match="exited"):
        w.time("iql", 1, "fit")
    with pytest.raises(client.WorkerError, match="not JSON"):
        client.parse_reply("Traceback (most recent call last):")
    with pytest.raises(client.WorkerError, match="boom"):
        client.parse_reply('{"ok": false, "error": "boom"}')


def test_specs_carry_seamrl_network_sizes():
    spec = client.d3rlpy_spec("iql", iql.Config(hidden_dims=(64, 64, 64), batch_size=128))
    assert spec["config"] == "IQLConfig" and spec["batch_size"] == 128 and spec["n_critics"] == 2
    assert {r: n["hidden"] for r, n in spec["nets"].items()} == {"actor": [64] * 3, "critic": [64] * 3, "value": [64] * 3}
    assert client.d3rlpy_spec("bc", bc.Config())["config"] == "BCConfig"
    assert client.d3rlpy_spec("ivr", ivr.Config()) is None  # d3rlpy has no IVR
    assert client.nets_of(ivr.Config())["nets"]["value"]["layer_norm"] is True


def test_worker_imports_neither_seamrl_nor_jax():
    tree = ast.parse(client.WORKER.read_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not modules & {"seamrl", "jax", "flax", "optax"}


def _d3rlpy_python():
    python = client.default_python()
    if not python.exists():
        return None
    ok = subprocess.run([str(python), "-c", "import d3rlpy"], capture_output=True).returncode == 0
    return python if ok else None


@pytest.mark.skipif(_d3rlpy_python() is None, reason="no .venv-d3rlpy with d3rlpy")
def test_real_d3rlpy_worker_times_a_tiny_bc():
    w = client.D3rlpyWorker(_d3rlpy_python(), threads=1)
    try:
        spec = {"config": "BCConfig", "batch_size": 16, "n_critics": 2, "nets": {"actor": {"hidden": [8], "layer_norm": False}}}
        reply = w.setup({"bc": spec}, obs_dim=17, action_dim=6, transitions=2000, warmup=1)
        assert reply["built"]["bc"]["class"] == "BC" and reply["built"]["bc"]["nets"] == {"encoder_factory": [8]}
        assert reply["threads"] == 1 and reply["versions"]["d3rlpy"]
        assert w.time("bc", 2, "fit") > 0 and w.time("bc", 2, "update") > 0
    finally:
        w.close()
    assert w.proc.poll() == 0
