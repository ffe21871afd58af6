"""Drive :mod:`seamrl.bench.d3rlpy_worker` in the d3rlpy virtual environment from the seamrl process.

d3rlpy (PyTorch) and seamrl (JAX) live in separate virtual environments, so the d3rlpy side
runs in a subprocess that speaks one JSON object per line (protocol in the worker's
docstring). The worker stays alive for the whole benchmark: each ``time`` request is one
measurement, interleaved by the caller with the seamrl measurements.

:func:`d3rlpy_spec` turns a seamrl agent config into the worker's spec with the same network
sizes (hidden widths per role, LayerNorm, critic count) and batch size.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

WORKER = Path(__file__).with_name("d3rlpy_worker.py")

# seamrl algorithm → d3rlpy config class (the algorithms d3rlpy has)
D3RLPY_CONFIGS = {
    "iql": "IQLConfig",
    "td3bc": "TD3PlusBCConfig",
    "cql": "CQLConfig",
    "sac": "SACConfig",
    "td3": "TD3Config",
    "awac": "AWACConfig",
    "bc": "BCConfig",
    "calql": "CalQLConfig",
    "rebrac": "ReBRACConfig",
}


class WorkerError(RuntimeError):
    pass


def default_python() -> Path:
    """``$SEAMRL_D3RLPY_PYTHON``, else ``.venv-d3rlpy/bin/python`` in the working directory or the
    repository that holds this package."""
    if os.environ.get("SEAMRL_D3RLPY_PYTHON"):
        return Path(os.environ["SEAMRL_D3RLPY_PYTHON"])
    candidates = [Path.cwd() / ".venv-d3rlpy", Path(__file__).resolve().parents[2] / ".venv-d3rlpy"]
    for venv in candidates:
        if (venv / "bin" / "python").exists():
            return venv / "bin" / "python"
    return candidates[-1] / "bin" / "python"


def nets_of(config: Any) -> dict:
    """Hidden widths (and LayerNorm) per network role of a seamrl agent config, plus the critic count."""
    hidden = list(getattr(config, "hidden_dims", (256, 256)))

    def role(name: str) -> dict:
        dims = getattr(config, f"{name}_hidden_dims", None)
        return {"hidden": list(dims) if dims else hidden, "layer_norm": bool(getattr(config, f"{name}_layer_norm", False))}

    nets = {"actor": role("actor"), "critic": role("critic"), "value": role("value")}
    n_critics = getattr(config, "num_critics", None) or getattr(config, "n_critics", None) or 2
    return {"nets": nets, "n_critics": int(n_critics)}


def d3rlpy_spec(name: str, config: Any) -> dict | None:
    """The worker's spec for seamrl algorithm ``name`` with agent config ``config``; None when d3rlpy lacks it."""
    if name not in D3RLPY_CONFIGS:
        return None
    return {"config": D3RLPY_CONFIGS[name], "batch_size": int(config.batch_size), **nets_of(config)}


def parse_reply(line: str) -> dict:
    """One reply line → dict; ``WorkerError`` for a failure reply or a malformed line."""
    try:
        reply = json.loads(line)
    except json.JSONDecodeError:
        raise WorkerError(f"the d3rlpy worker wrote a line that is not JSON: {line.strip()[:200]!r}") from None
    if not isinstance(reply, dict) or "ok" not in reply:
        raise WorkerError(f"the d3rlpy worker's reply has no 'ok': {line.strip()[:200]!r}")
    if not reply["ok"]:
        raise WorkerError(f"the d3rlpy worker failed: {reply.get('error', 'no message')}")
    return reply


class D3rlpyWorker:
    """A running worker: ``setup`` once, then ``time(algo, steps, mode)`` per measurement.

    ``popen`` is :class:`subprocess.Popen` (tests pass a fake); ``threads`` > 0 sets the worker's
    ``OMP_NUM_THREADS`` (torch's intra-op threads).
    """

    def __init__(self, python: str | Path | None = None, threads: int = 0, popen: Callable = subprocess.Popen):
        self.python = Path(python) if python else default_python()
        env = dict(os.environ)
        if threads > 0:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = popen(
            [str(self.python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
            env=env,
        )

    def _stderr_tail(self, chars: int = 2000) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read()[-chars:]
        except (OSError, ValueError):
            return ""

    def request(self, message: dict) -> dict:
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise WorkerError(f"the d3rlpy worker ({self.python}) is not running: {self._stderr_tail()}") from None
        line = self.proc.stdout.readline()
        if not line:
            raise WorkerError(f"the d3rlpy worker ({self.python}) exited: {self._stderr_tail()}")
        return parse_reply(line)

    def setup(self, algos: dict[str, dict], obs_dim: int, action_dim: int, transitions: int, warmup: int, seed: int = 0,
              device: str = "cpu:0") -> dict:
        return self.request({"cmd": "setup", "obs_dim": obs_dim, "action_dim": action_dim, "transitions": transitions,
                             "warmup": warmup, "seed": seed, "device": device, "algos": algos})

    def time(self, algo: str, steps: int, mode: str) -> float:
        reply = self.request({"cmd": "time", "algo": algo, "steps": steps, "mode": mode})
        return float(reply["seconds"])

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.request({"cmd": "quit"})
                self.proc.wait(timeout=30)
        except (WorkerError, subprocess.TimeoutExpired, OSError, ValueError):
            self.proc.kill()
        finally:
            self._stderr.close()
