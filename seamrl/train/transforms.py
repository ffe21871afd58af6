"""Data transforms that belong to the run, not to the algorithm (algorithms.md §1.1–1.3).

They are computed once from the dataset, stored in every checkpoint, frozen at the
offline→online switch and applied identically to dataset rows and online transitions:

* observations: ``(s − mean) / (std + 1e-3)`` when the agent asks for it, identity otherwise;
* rewards: ``scale · (factor · r) + shift`` where ``factor = 1000 / (R_max − R_min)`` over the
  dataset's episode returns for ``reward_transform='range'`` (IVR/IQL; 1 otherwise);
* actions: the environment's box is mapped affinely onto [−1, 1] (agents only see [−1, 1]);
  dataset actions are optionally clipped to ±(1 − ε) (§1.1 item 4).

Rollout (on-policy) phases may instead normalise observations with running statistics and
scale rewards by the running std of the discounted return (:class:`RunningNormalisers`,
gymnasium's ``NormalizeObservation`` / ``NormalizeReward`` semantics, §7.4, §1.2 "dynamic").
The running observation statistics are written into the :class:`Transforms` after every
step, so evaluation, checkpoints and exported policies use the latest ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from seamrl.errors import ConfigError


@dataclass
class Transforms:
    obs_mean: np.ndarray
    obs_std: np.ndarray
    reward_factor: float
    reward_scale: float
    reward_shift: float
    action_low: np.ndarray
    action_high: np.ndarray
    obs_clip: float = 0.0  # clip normalised observations to ±obs_clip (running normalisation); 0: off

    def observation(self, obs: np.ndarray) -> np.ndarray:
        out = ((obs - self.obs_mean) / self.obs_std).astype(np.float32)
        return np.clip(out, -self.obs_clip, self.obs_clip) if self.obs_clip > 0 else out

    def reward(self, reward: np.ndarray) -> np.ndarray:
        return (self.reward_scale * (self.reward_factor * np.asarray(reward, np.float64)) + self.reward_shift).astype(np.float32)

    def action_to_env(self, action: np.ndarray) -> np.ndarray:
        """[−1, 1] → the environment's box."""
        return (self.action_low + 0.5 * (np.clip(action, -1.0, 1.0) + 1.0) * (self.action_high - self.action_low)).astype(np.float32)

    def action_from_env(self, action: np.ndarray) -> np.ndarray:
        """The environment's box → [−1, 1]."""
        return (2.0 * (action - self.action_low) / (self.action_high - self.action_low) - 1.0).astype(np.float32)

    def to_json(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "Transforms":
        arrays = ("obs_mean", "obs_std", "action_low", "action_high")
        return cls(**{k: (np.asarray(v, np.float32) if k in arrays else float(v)) for k, v in data.items()})


class RunningMoments:
    """Mean and variance of a stream of batches (parallel update of Chan et al.), float64.

    Starts at mean 0, variance 1 and a pseudo-count of 1e-4, like gymnasium's ``RunningMeanStd``.
    """

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean, self.var, self.count = np.zeros(shape), np.ones(shape), 1e-4

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        n, mean, var = x.shape[0], x.mean(0), x.var(0)
        delta, total = mean - self.mean, self.count + n
        m2 = self.var * self.count + var * n + delta**2 * self.count * n / total
        self.mean, self.var, self.count = self.mean + delta * n / total, m2 / total, total

    def state(self) -> dict:
        return {"mean": np.array(self.mean), "var": np.array(self.var), "count": self.count}

    def load(self, state: dict) -> None:
        self.mean, self.var, self.count = np.array(state["mean"]), np.array(state["var"]), state["count"]


class RunningNormalisers:
    """Running observation normalisation and reward scaling of rollout phases (§7.4).

    * observations: the statistics are updated with every batch of observations the envs
      return, then written into ``transforms`` (``(s − mean)/sqrt(var + 1e-8)``, clipped);
    * rewards: ``R ← γ R + r`` per env (reset after the episode ends),
      ``r / (std(R) + 1e-8)`` with running statistics of R, clipped (Uni-O4 ``RewardScaling``).
    """

    def __init__(self, config, obs_dim: int, num_envs: int):
        self.obs_on, self.reward_on = config.running_obs_norm, config.running_reward_scale
        self.clip, self.discount = float(config.running_clip), float(config.discount)
        self.obs, self.ret = RunningMoments((obs_dim,)), RunningMoments(())
        self.returns = np.zeros(num_envs)

    def observe(self, transforms: Transforms, obs: np.ndarray) -> None:
        if self.obs_on:
            self.obs.update(obs)
            transforms.obs_mean = self.obs.mean.astype(np.float32)
            transforms.obs_std = np.sqrt(self.obs.var + 1e-8).astype(np.float32)
            transforms.obs_clip = self.clip

    def reward(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        if not self.reward_on:
            return reward
        self.returns = self.discount * self.returns + reward
        self.ret.update(self.returns)
        self.returns = np.where(done, 0.0, self.returns)
        scaled = reward / (np.sqrt(self.ret.var) + 1e-8)
        return (np.clip(scaled, -self.clip, self.clip) if self.clip > 0 else scaled).astype(np.float32)

    def state(self) -> dict:
        return {"obs": self.obs.state(), "ret": self.ret.state(), "returns": self.returns.copy()}

    def load(self, state: dict) -> None:
        if state:
            self.obs.load(state["obs"])
            self.ret.load(state["ret"])
            self.returns = np.array(state["returns"])


def fit_transforms(config, obs_dim: int, action_low: np.ndarray, action_high: np.ndarray, dataset=None) -> Transforms:
    """Build the run's transforms from the agent config and (optionally) the dataset."""
    mean, std = np.zeros(obs_dim, np.float32), np.ones(obs_dim, np.float32)
    if config.normalize_observations and dataset is not None:
        mean = dataset.observations.mean(0).astype(np.float32)
        std = (dataset.observations.std(0) + 1e-3).astype(np.float32)
    factor = 1.0
    if config.reward_transform == "range":
        if dataset is not None:
            lo, hi = dataset.reward_range()
            factor = 1000.0 / max(hi - lo, 1e-6)
    elif config.reward_transform != "none":
        raise ConfigError(f"reward_transform '{config.reward_transform}' is unknown; expected 'none' or 'range'.")
    low, high = np.asarray(action_low, np.float32), np.asarray(action_high, np.float32)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ConfigError("The environment's action space is unbounded; seamrl needs a bounded Box action space.")
    return Transforms(mean, std, factor, config.reward_scale, config.reward_shift, low, high)


def dataset_rows(dataset, transforms: Transforms, action_clip: float) -> dict[str, np.ndarray]:
    """The dataset as replay rows (Q-learning style, §1.1): transformed, mask = 1 − terminal."""
    actions = transforms.action_from_env(dataset.actions)
    if action_clip > 0:
        actions = np.clip(actions, -1.0 + action_clip, 1.0 - action_clip)
    return {
        "observations": transforms.observation(dataset.observations),
        "actions": actions,
        "rewards": transforms.reward(dataset.rewards),
        "next_observations": transforms.observation(dataset.next_observations),
        "masks": 1.0 - dataset.terminals.astype(np.float32),
    }
