"""Algorithm registry: name → module implementing the agent protocol (see ``common.py``)."""

from __future__ import annotations

import difflib
import importlib
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


def get(name: str) -> ModuleType:
    """The module of algorithm ``name``; one-sentence error with a suggestion when unknown."""
    key = name.lower().replace("-", "").replace("+", "")
    if key not in ALGORITHMS:
        close = difflib.get_close_matches(key, ALGORITHMS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"Unknown algorithm '{name}'{hint} Known: {', '.join(sorted(ALGORITHMS))}.")
    return importlib.import_module(f"seamrl.algos.{key}")
