"""The online phase of replay agents: collect with a vector of envs, store, update (algorithms.md §1.7).

One loop serves one seed and several seeds in lockstep (``--seeds``). It steps every seed's own
envs and keeps every seed's counters, episodes and events; what it does with agent states and
replays goes through a *learner*:

* :class:`Alone` — one trainer's own state, replay and scanned updates (a plain run);
* ``seamrl.train.seeds.Lockstep`` — the seeds' states and replays stacked on the device: one
  ``vmap``-ed call acts for every seed and one applies every seed's updates.

A learner's methods take and return one entry per seed of the group, in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from seamrl import envs
from seamrl.data import buffer

if TYPE_CHECKING:
    from seamrl.train.trainer import Phase, Trainer


class Learner(Protocol):
    capacity: int  # rows of each seed's online replay

    def explore(self, observations: list[np.ndarray], env_step: int) -> list[np.ndarray]: ...
    def add(self, rows: list[dict]) -> None: ...
    def update(self, k: int, phase: Phase) -> None: ...
    def ptr(self) -> int: ...  # the row the next ``add`` writes first (the same for every seed)
    def set_rows(self, seed: int, rows: np.ndarray, columns: dict[str, np.ndarray]) -> None: ...
    def sync(self, replay: bool) -> None: ...  # trainers' ``state`` (and ``online``) current, for events
    @property
    def state(self): ...  # the agent state (seeds in lockstep: stacked)


class Alone:
    """One trainer's own state, replay and updates."""

    def __init__(self, trainer: Trainer):
        self.t = trainer
        self.capacity = trainer.online.capacity

    def explore(self, observations, env_step):
        return [np.asarray(self.t._explore(self.t.state, observations[0], env_step))]

    def add(self, rows):
        self.t.online = buffer.add(self.t.online, rows[0])

    @property
    def state(self):
        return self.t.state

    def update(self, k, phase):
        self.t._updates(k, phase)

    def ptr(self):
        return int(self.t.online.ptr)

    def set_rows(self, seed, rows, columns):
        self.t.online = buffer.set_rows(self.t.online, rows, columns)

    def sync(self, replay):
        pass


def online_phase(group: list[Trainer], phase: Phase, learner: Learner) -> None:
    """Run ``phase`` for every trainer of ``group`` (same config and counters) to its end."""
    lead, n = group[0], group[0].run.num_envs
    vecs = [envs.make_vector(t.run.task, n, seed=t._reset_seed(), **t._env_kwargs(phase)) for t in group]
    obs = [vec.reset(seed=t._reset_seed())[0] for t, vec in zip(group, vecs)]
    from_scratch = phase.index == 0
    returns = [np.zeros(n) for _ in group]
    tracked = hasattr(lead.algo, "episode_columns")  # (row, reward) of every step of the episodes in progress
    episodes = [[[] for _ in range(n)] for _ in group]

    def end_episode(s: int, i: int) -> None:
        """Columns the agent computes from a finished episode (Cal-QL's MC returns), written in place."""
        if tracked and episodes[s][i]:
            rows, rewards = (np.asarray(x) for x in zip(*episodes[s][i]))
            learner.set_rows(s, rows, group[s].algo.episode_columns(group[s].config, rewards))
        episodes[s][i] = []

    while lead.counters.phase_step < phase.steps:
        before = lead.counters.phase_step
        if from_scratch and before < lead.config.learning_starts:
            actions = [t.random_actions() for t in group]
        else:
            actions = learner.explore([t.transforms.observation(o) for t, o in zip(group, obs)], lead.counters.env_steps)
        results = [vec.step(t.transforms.action_to_env(a)) for t, vec, a in zip(group, vecs, actions)]
        ptr = learner.ptr() if tracked else 0
        learner.add([t.transition(o, a, result) for t, o, a, result in zip(group, obs, actions, results)])
        for s, (t, (next_obs, reward, terminated, truncated, _)) in enumerate(zip(group, results)):
            returns[s] += reward
            for i in range(n) if tracked else ():
                episodes[s][i].append(((ptr + i) % learner.capacity, float(t.transforms.reward(reward[i]))))
            for i in np.flatnonzero(terminated | truncated):
                end_episode(s, i)
                t.counters.finished.append(float(returns[s][i]))
                returns[s][i] = 0.0
                t.counters.episodes += 1
            obs[s] = next_obs
            t.counters.env_steps += n
            t.counters.phase_step += n
        learning = not from_scratch or before >= lead.config.learning_starts
        warm = phase.index > 0 and lead.counters.phase_step <= lead.run.warmup_steps
        if learning and not warm and (lead.counters.phase_step // n) % lead.run.update_every == 0:
            learner.update(lead.run.update_every * lead.config.utd * n, phase)
        if lead.events_due(phase, before):
            learner.sync(replay=False)
        if any([t._events(phase, before) for t in group]):
            # Cut in-progress episodes (time-outs) so the resumed run restarts from the same place.
            for s in range(len(group)):
                for i in range(n):
                    end_episode(s, i)
            learner.sync(replay=True)
            for s, (t, vec) in enumerate(zip(group, vecs)):
                t.save()
                obs[s], _ = vec.reset(seed=t._reset_seed())
                returns[s][:] = 0.0
    learner.sync(replay=True)
    for vec in vecs:
        vec.close()

