"""Algorithm registry: name → module implementing the agent protocol (see ``common.py``)."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from seamrl.errors import ConfigError

ALGORITHMS: dict[str, str] = {
    "bc": "Behaviour cloning and x%BC (§7.1)",
    "td3": "TD3, online (§7.2)",
    "sac": "Soft actor-critic, online (§7.3)",
    "td3bc": "TD3+BC (§7.5)",
    "iql": "Implicit Q-learning (§7.6)",
    "cql": "Conservative Q-learning, CORL's tested variant (§7.8)",
    "calql": "Cal-QL: CQL calibrated by Monte-Carlo returns, offline-to-online (§7.9)",
    "cql_sa": "CQL(SA): CQL with SSAR's state-adaptive, selective coefficient beta(s) (§5.6)",
    "td3bc_sa": "TD3+BC(SA): TD3+BC with SSAR's state-adaptive, selective BC weight beta(s) (§5.7)",
    "ppo": "PPO, online from scratch, rollout-based (§7.4, §4.8)",
    "ivr": "IVR: SQL (chi2) / EQL (kl) implicit value regularization (§2)",
    "univr": "UNIVR: implicit value regularization + in-sample policy gradient, Gaussian or diffusion policy (§3)",
    "bppo": "BPPO: behaviour cloning, SARSA Q / MC V, offline clipped-ratio improvement with a Q-gated behaviour replacement (§7.12)",
    "unio4": "Uni-O4: IQL critics, ensemble BC, AM-Q-gated offline multi-step PPO, online PPO fine-tuning (§4)",
}


def key(name: str) -> str:
    """The name a run records: a built-in's registry key (``TD3+BC`` → ``td3bc``), a user's file as an
    absolute path, a user's module path as given."""
    if name.endswith(".py") or "/" in name:
        return str(Path(name).expanduser().resolve())
    return name if "." in name else name.lower().replace("-", "").replace("+", "")


def get(name: str) -> ModuleType:
    """The module of algorithm ``name``; one-sentence error with a suggestion when unknown.

    An algorithm of the user's is a Python file (``path/to/my_agent.py``) or an importable module
    (``my_pkg.my_agent``) that implements the agent protocol (``common.py``, docs/design.md); it is
    used like a built-in one (train, resume, eval, export, tables).
    """
    if "." in name or "/" in name:
        return user_module(name)
    name_key = key(name)
    if name_key not in ALGORITHMS:
        close = difflib.get_close_matches(name_key, ALGORITHMS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"Unknown algorithm '{name}'{hint} Known: {', '.join(sorted(ALGORITHMS))}.")
    return importlib.import_module(f"seamrl.algos.{name_key}")


def user_module(path: str) -> ModuleType:
    """Import ``path`` and check that it has what the trainer calls: ``Config`` (an ``AgentConfig``),
    ``SETTINGS``, ``init``, ``act`` and ``update`` or ``update_rollout``."""
    from seamrl.algos.common import AgentConfig

    module = _load_file(path) if path.endswith(".py") or "/" in path else None
    try:
        module = module or importlib.import_module(path)
    except ImportError as err:
        raise ConfigError(f"Algorithm module '{path}' cannot be imported ({err}); it must be installed or on PYTHONPATH.") from None
    missing = [name for name in ("Config", "SETTINGS", "init", "act") if not hasattr(module, name)]
    if not (hasattr(module, "update") or hasattr(module, "update_rollout")):
        missing.append("update (or update_rollout)")
    if missing:
        raise ConfigError(f"Module '{path}' is not a seamrl algorithm: it has no {', '.join(missing)} (the agent protocol, docs/design.md).")
    if not (isinstance(module.Config, type) and issubclass(module.Config, AgentConfig)):
        raise ConfigError(f"Module '{path}': its Config must be a dataclass subclassing seamrl.algos.common.AgentConfig.")
    return module


def _load_file(path: str) -> ModuleType:
    """The module of a user's algorithm file, loaded once per process (under a name derived from its path)."""
    file = Path(key(path))
    if file.suffix != ".py" or not file.is_file():
        raise ConfigError(f"Algorithm file '{path}' does not exist; expected a Python file (.py) or a module path (my_pkg.my_agent).")
    name = "seamrl_user_" + hashlib.sha1(str(file).encode()).hexdigest()[:10] + "_" + file.stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: dataclasses and pickling look modules up by name
        try:
            spec.loader.exec_module(module)
        except Exception as err:
            del sys.modules[name]
            raise ConfigError(f"Algorithm file '{path}' fails on import: {type(err).__name__}: {err}.") from None
    return sys.modules[name]


def description(module: ModuleType) -> str:
    """The one-line description: the registry's for a built-in, the docstring's first line for a user's module."""
    name = module.__name__
    if name.startswith("seamrl.algos.") and name.rsplit(".", 1)[1] in ALGORITHMS:
        return ALGORITHMS[name.rsplit(".", 1)[1]]
    return (module.__doc__ or "").strip().split("\n")[0]
