"""Policies taken out of a run: a small file with the actor and everything needed to act.

``seamrl export RUN_DIR --out policy.npz`` writes the actor's parameters, the algorithm name
and its resolved config, the environment spec and the run's observation / action transforms.
:func:`load_policy` rebuilds a callable ``policy(obs) -> actions`` (numpy in, numpy out, in
the environment's action box) without the critics, optimiser states or replay buffer — the
file is a few hundred kB for 2×256 networks.

Every agent state in seamrl keeps its policy network in a field named ``actor``; that is the
only thing this module relies on.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from seamrl import algos
from seamrl.algos.common import AgentSpec
from seamrl.errors import ConfigError
from seamrl.train.transforms import Transforms


def export_policy(run_dir: str | Path, out: str | Path, checkpoint_name: str = "latest") -> Path:
    """Write the actor of ``run_dir/checkpoints/<checkpoint_name>.ckpt`` to ``out`` (.npz)."""
    from seamrl.train import load_trainer

    trainer = load_trainer(run_dir, checkpoint_name)
    leaves = jax.tree_util.tree_leaves(jax.device_get(trainer.state.actor.params))
    meta = {
        "algo": trainer.run.algo,
        "task": trainer.run.task,
        "config": asdict(trainer.config),
        "spec": asdict(trainer.agent_spec),
        "transforms": trainer.transforms.to_json(),
        "source": f"{run_dir}:{checkpoint_name}",
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, meta=np.asarray(json.dumps(meta)), **{f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves)})
    return out


class Policy:
    """A loaded policy: ``policy(obs, deterministic=True)`` with obs of shape (n, obs_dim) or (obs_dim,)."""

    def __init__(self, path: str | Path, seed: int = 0):
        path = Path(path)
        try:
            data = np.load(path)
            meta = json.loads(str(data["meta"]))
        except (OSError, KeyError, ValueError) as err:
            raise ConfigError(f"{path} is not a seamrl policy file ({err}).") from None
        self.meta = meta
        self.task = meta["task"]
        module = algos.get(meta["algo"])
        config = module.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()})
        state = module.init(jax.random.PRNGKey(0), AgentSpec(**meta["spec"]), config)
        treedef = jax.tree_util.tree_structure(state.actor.params)
        leaves = [jnp.asarray(data[f"leaf_{i}"]) for i in range(treedef.num_leaves)]
        self._state = state.replace(actor=state.actor.replace(params=jax.tree_util.tree_unflatten(treedef, leaves)))
        self.transforms = Transforms.from_json(meta["transforms"])
        # the per-call key is folded in inside the jitted call (a host-side fold_in costs as much as the policy)
        self._act = jax.jit(lambda st, o, key, i, det: module.act(st, o, jax.random.fold_in(key, i), det), static_argnums=4)
        self._key = jax.random.PRNGKey(seed)
        self._calls = 0

    def __call__(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        single = obs.ndim == 1
        batch = self.transforms.observation(obs[None] if single else obs)
        action = self._act(self._state, batch, self._key, np.uint32(self._calls), deterministic)
        self._calls += 1
        action = self.transforms.action_to_env(np.asarray(action))
        return action[0] if single else action


def load_policy(path: str | Path, seed: int = 0) -> Policy:
    return Policy(path, seed)
