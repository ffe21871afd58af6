"""Online collection and evaluation speed, decomposed into what the trainer's online loop does.

For ``n`` envs of the package's sync vector env (:func:`seamrl.envs.make_vector`), one timed call
makes ``env_steps / n`` vector steps with, cumulatively:

* ``vec``: uniform-random actions (the vector env alone);
* ``policy``: + the trainer's jitted exploration call per step (``Trainer._explore``, which
  moves observations to the device and actions back);
* ``replay``: + the trainer's write of the step into the device replay (``buffer.add``);
* ``update``: + ``n · utd`` gradient updates per vector step through ``Trainer._updates``: the
  trainer's online loop without evaluation, checkpoints and logging;
* ``update-only``: the same ``Trainer._updates(n · utd)`` calls without any env (is the loop
  bound by its updates or by everything else?).

The reference is the raw single-env step rate of the same task (``gymnasium.make``, random
actions, reset at episode end). Evaluation runs :class:`seamrl.envs.Evaluator` on the policy's
jitted deterministic call and counts whole episodes (and their env steps).

The agent is an untrained ``collect_algo`` (SAC by default) built by a normal Trainer.
"""

from __future__ import annotations

import time
from pathlib import Path

import gymnasium as gym
import jax
import numpy as np

from seamrl import envs
from seamrl.config import RunConfig
from seamrl.data import buffer

VARIANTS = ("vec", "policy", "replay", "update", "update-only")


def raw_env(task: str, seed: int = 0) -> gym.Env:
    try:
        return gym.make(task)
    except gym.error.Error:  # a seamrl task name, not a Gymnasium id
        return envs.make(task, seed)


def raw_timer(task: str, steps: int, seed: int = 0):
    """Single env, random actions: ``{"seconds", "env_steps"}`` per call."""
    env = raw_env(task, seed)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(1000)]

    def timed() -> dict:
        start = time.perf_counter()
        for t in range(steps):
            _, _, terminated, truncated, _ = env.step(actions[t % 1000])
            if terminated or truncated:
                env.reset()
        return {"seconds": time.perf_counter() - start, "env_steps": steps}

    timed()
    return timed


def online_trainer(task: str, algo: str, tmp: Path):
    from seamrl.train import Trainer

    run = RunConfig(algo=algo, task=task, setting="online", online_steps=10**9, buffer_size=100_000)
    trainer = Trainer(run, tmp / f"collect-{algo}", quiet=True)
    trainer.begin_phase()
    return trainer


def vector_timer(trainer, n: int, variant: str, env_steps: int, seed: int = 0):
    """``env_steps // n`` vector steps of ``n`` envs with the parts of ``variant`` (see the module doc)."""
    from seamrl.train.trainer import Phase

    if variant not in VARIANTS:
        raise ValueError(f"variant '{variant}' is unknown; expected one of {', '.join(VARIANTS)}")
    vec = envs.make_vector(trainer.run.task, n, seed=seed)
    tf, phase, utd = trainer.transforms, Phase("online", trainer.run.online_steps, 0), trainer.config.utd
    rng = np.random.default_rng(seed)
    action_dim = trainer.env_spec.action_dim
    state = {"obs": vec.reset(seed=seed)[0], "t": 0}
    level = VARIANTS.index(variant)

    def run(steps: int) -> dict:
        obs, t = state["obs"], state["t"]
        start = time.perf_counter()
        for _ in range(steps):
            if level == 4:
                trainer._updates(n * utd, phase)
                t += n
                continue
            if level == 0:
                action = rng.uniform(-1.0, 1.0, (n, action_dim)).astype(np.float32)
            else:
                action = np.asarray(trainer._explore(trainer.state, tf.observation(obs), t))
            next_obs, reward, terminated, truncated, info = vec.step(tf.action_to_env(action))
            if level >= 2:
                rows = {
                    "observations": tf.observation(obs),
                    "actions": action,
                    "rewards": tf.reward(reward),
                    "next_observations": tf.observation(envs.real_next_obs(next_obs, info)),
                    "masks": 1.0 - terminated.astype(np.float32),
                }
                trainer.online = buffer.add(trainer.online, rows)
            if level == 3:
                trainer._updates(n * utd, phase)
            obs, t = next_obs, t + n
        jax.block_until_ready((trainer.online, trainer.state))
        seconds = time.perf_counter() - start
        state["obs"], state["t"] = obs, t
        trainer.counters.pending.clear()
        return {"seconds": seconds, "env_steps": steps * n}

    run(2)  # compile the calls for this n
    steps = max(1, env_steps // n)
    return lambda: run(steps)


def eval_timer(trainer, episodes: int, seed: int = 10_000):
    """``Evaluator(task)(policy, episodes)``: ``{"seconds", "episodes", "env_steps"}`` per call."""
    evaluator = envs.Evaluator(trainer.run.task)
    policy = trainer.policy(True)

    def timed() -> dict:
        start = time.perf_counter()
        result = evaluator(policy, episodes, seed)
        return {"seconds": time.perf_counter() - start, "episodes": episodes, "env_steps": int(sum(result["lengths"]))}

    timed()
    return timed
