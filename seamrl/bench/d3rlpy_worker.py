"""d3rlpy side of ``seamrl bench``: a small server run by the d3rlpy virtual environment's python.

Executed as a script (``.venv-d3rlpy/bin/python seamrl/bench/d3rlpy_worker.py``), never imported
by the seamrl process for timing: it imports only the standard library, numpy, torch and d3rlpy
(no seamrl, no JAX). The seamrl process (:mod:`seamrl.bench.d3rlpy_client`) drives it so that
the d3rlpy timings are interleaved with the seamrl ones in one benchmark run.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout (everything else
the libraries print goes to stderr). Every reply has ``"ok"``; failures are ``{"ok": false,
"error": "..."}`` and leave the worker running.

``{"cmd": "setup", "obs_dim": 17, "action_dim": 6, "transitions": 100000, "seed": 0,
"device": "cpu:0", "warmup": 50, "algos": {NAME: SPEC}}`` builds every algorithm on one
synthetic dataset and warms each up with ``warmup`` updates. ``SPEC`` is ``{"config":
"IQLConfig", "batch_size": 256, "n_critics": 2, "nets": {"actor": {"hidden": [256, 256],
"layer_norm": false}, "critic": ..., "value": ...}}``; every ``*encoder_factory`` field of the
config gets the net of its role (``encoder_factory`` alone: the actor's). Reply: ``{"ok": true,
"versions": {...}, "threads": N, "built": {NAME: {"class": ..., "nets": {field: hidden}}},
"errors": {NAME: message}}``.

``{"cmd": "time", "algo": NAME, "steps": N, "mode": "update" | "fit"}`` runs ``N`` updates and
replies ``{"ok": true, "algo": NAME, "mode": ..., "steps": N, "seconds": S}``. ``update``: d3rlpy's
``algo.update(batch)`` on one pre-sampled batch; ``fit``: the inner step of d3rlpy's ``fit``
(``dataset.sample_transition_batch`` then ``algo.update``).

``{"cmd": "quit"}`` replies ``{"ok": true}`` and exits.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable, TextIO

COMMANDS = {"setup": ("obs_dim", "action_dim", "algos"), "time": ("algo", "steps", "mode"), "quit": ()}
MODES = ("update", "fit")


class ProtocolError(ValueError):
    pass


def parse_request(line: str) -> dict:
    """One request line → dict; ``ProtocolError`` for anything malformed."""
    try:
        request = json.loads(line)
    except json.JSONDecodeError as err:
        raise ProtocolError(f"request is not JSON: {err}") from None
    if not isinstance(request, dict) or request.get("cmd") not in COMMANDS:
        raise ProtocolError(f"unknown command in {line.strip()[:80]!r}; expected one of {', '.join(COMMANDS)}")
    missing = [k for k in COMMANDS[request["cmd"]] if k not in request]
    if missing:
        raise ProtocolError(f"'{request['cmd']}' needs {', '.join(missing)}")
    if request["cmd"] == "time":
        if request["mode"] not in MODES:
            raise ProtocolError(f"mode must be one of {', '.join(MODES)}, not {request['mode']!r}")
        if not isinstance(request["steps"], int) or request["steps"] < 1:
            raise ProtocolError(f"steps must be a positive integer, not {request['steps']!r}")
    return request


def encode(reply: dict) -> str:
    return json.dumps(reply, separators=(",", ":")) + "\n"


class Backend:
    """The d3rlpy algorithms of one benchmark run (imports torch and d3rlpy on construction)."""

    def __init__(self, request: dict):
        import numpy as np
        import torch

        import d3rlpy

        self.np, self.torch, self.d3rlpy = np, torch, d3rlpy
        seed = int(request.get("seed", 0))
        d3rlpy.seed(seed)
        self.dataset = self._synthetic(request["obs_dim"], request["action_dim"], int(request.get("transitions", 100_000)), seed)
        self.device = request.get("device", "cpu:0")
        self.algos: dict[str, Any] = {}
        self.batches: dict[str, Any] = {}
        self.built: dict[str, dict] = {}
        self.errors: dict[str, str] = {}
        for name, spec in request["algos"].items():
            try:
                self._build(name, spec, int(request.get("warmup", 50)))
            except Exception as err:  # one algorithm failing must not stop the others
                self.errors[name] = f"{type(err).__name__}: {err}"
        self.info = {
            "versions": {"d3rlpy": d3rlpy.__version__, "torch": torch.__version__, "numpy": np.__version__, "python": sys.version.split()[0]},
            "threads": torch.get_num_threads(),
            "device": self.device,
        }

    def _synthetic(self, obs_dim: int, action_dim: int, n: int, seed: int):
        """Same shapes and distributions as seamrl's synthetic dataset (episodes of 1,000 steps)."""
        np = self.np
        rng = np.random.default_rng(seed)
        timeouts = ((np.arange(n) % 1000) == 999).astype(np.float32)
        timeouts[-1] = 1.0
        return self.d3rlpy.dataset.MDPDataset(
            observations=rng.normal(size=(n, obs_dim)).astype(np.float32),
            actions=rng.uniform(-1, 1, (n, action_dim)).astype(np.float32),
            rewards=rng.normal(size=(n, 1)).astype(np.float32),
            terminals=np.zeros(n, np.float32),
            timeouts=timeouts,
            action_space=self.d3rlpy.ActionSpace.CONTINUOUS,
        )

    def _build(self, name: str, spec: dict, warmup: int) -> None:
        import dataclasses

        config_cls = getattr(self.d3rlpy.algos, spec["config"])
        fields = {f.name for f in dataclasses.fields(config_cls)}
        kwargs: dict[str, Any] = {"batch_size": int(spec.get("batch_size", 256))}
        if "n_critics" in fields and "n_critics" in spec:
            kwargs["n_critics"] = int(spec["n_critics"])
        nets = {}
        for field in sorted(f for f in fields if f.endswith("encoder_factory")):
            role = field[: -len("_encoder_factory")] or "actor"
            net = spec["nets"].get(role) or spec["nets"]["actor"]
            kwargs[field] = self.d3rlpy.models.VectorEncoderFactory(
                hidden_units=list(net["hidden"]), use_layer_norm=bool(net.get("layer_norm", False))
            )
            nets[field] = list(net["hidden"]) + (["LN"] if net.get("layer_norm") else [])
        kwargs.update(spec.get("options", {}))
        algo = config_cls(**kwargs).create(device=self.device)
        algo.build_with_dataset(self.dataset)
        self.algos[name] = algo
        self.batches[name] = self.dataset.sample_transition_batch(kwargs["batch_size"])
        for _ in range(warmup):
            algo.update(self.dataset.sample_transition_batch(kwargs["batch_size"]))
        self.built[name] = {"class": type(algo).__name__, "nets": nets, "batch_size": kwargs["batch_size"], **(
            {"n_critics": kwargs["n_critics"]} if "n_critics" in kwargs else {})}

    def time(self, name: str, steps: int, mode: str) -> float:
        if name not in self.algos:
            raise ProtocolError(f"algorithm '{name}' was not built" + (f": {self.errors[name]}" if name in self.errors else ""))
        algo, batch, size = self.algos[name], self.batches[name], self.algos[name].config.batch_size
        start = time.perf_counter()
        if mode == "update":
            for _ in range(steps):
                algo.update(batch)
        else:
            for _ in range(steps):
                algo.update(self.dataset.sample_transition_batch(size))
        return time.perf_counter() - start


def handle(request: dict, state: dict, backend_factory: Callable[[dict], Any]) -> dict:
    """Reply to one parsed request; ``state["backend"]`` holds the built algorithms."""
    if request["cmd"] == "setup":
        backend = state["backend"] = backend_factory(request)
        return {"ok": True, **backend.info, "built": backend.built, "errors": backend.errors}
    if request["cmd"] == "time":
        if state.get("backend") is None:
            raise ProtocolError("'time' before 'setup'")
        seconds = state["backend"].time(request["algo"], request["steps"], request["mode"])
        return {"ok": True, "algo": request["algo"], "mode": request["mode"], "steps": request["steps"], "seconds": seconds}
    return {"ok": True}


def respond(line: str, state: dict, backend_factory: Callable[[dict], Any] = Backend) -> tuple[str, bool]:
    """The reply line to one request line, and whether the worker should exit."""
    try:
        request = parse_request(line)
        return encode(handle(request, state, backend_factory)), request["cmd"] == "quit"
    except Exception as err:
        return encode({"ok": False, "error": f"{type(err).__name__}: {err}"}), False


def serve(inp: TextIO, out: TextIO, backend_factory: Callable[[dict], Any] = Backend) -> None:
    state: dict = {}
    for line in inp:
        if not line.strip():
            continue
        reply, done = respond(line, state, backend_factory)
        out.write(reply)
        out.flush()
        if done:
            return


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # no local file may shadow a package
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # library output → stderr; stdout carries the protocol only
    sys.stdout = sys.stderr
    serve(sys.stdin, protocol)


if __name__ == "__main__":
    main()
