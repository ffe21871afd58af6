"""Cal-QL — calibrated offline RL pre-training for efficient online fine-tuning (Nakamoto et al., 2023);
algorithms.md §7.9.

CQL (:mod:`seamrl.algos.cql`) with a calibrated push-down: inside the logsumexp every
policy-sample value (actions from π(·|s) and π(·|s')) becomes

    max(Q_k(s, ã), G^MC(s)),    G^MC(s_t) = Σ_{k≥t} γ^{k−t} r_k  (discounted return-to-go of s's episode)

so the conservative penalty never pushes Q below the behaviour policy's Monte-Carlo return.
Uniform samples are not calibrated. A sparse-reward episode made only of failure rewards gets
G = r_fail / (1 − γ) (official code). G is computed on the run's transformed rewards.

Online transitions: the official code's behaviour (§7.9 [!], §9.3 default) — calibration stays on
and every completed online episode gets its own return-to-go. A transition enters the replay at
once, with no bound (G = −∞) until its episode ends (or is cut at a checkpoint, as a time-out);
then the trainer writes the episode's G through :func:`episode_columns`.
Use ``--set replay_init=half`` for Cal-QL's 50/50 offline/online batches (``mixing_ratio`` 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax.numpy as jnp
import numpy as np
from scipy.signal import lfilter

from seamrl.algos import cql
from seamrl.algos.common import Batch

SETTINGS = ("offline", "offline-to-online")
POLICY = "tanh-gaussian"
NO_BOUND = -np.inf  # G of a transition whose online episode has not ended yet


@dataclass(frozen=True)
class Config(cql.Config):
    """CQL defaults (§7.8) with Cal-QL's data conventions (§7.9); AntMaze / Adroit in ``PRESETS``."""

    normalize_observations: bool = False  # Cal-QL configs: normalize false
    dataset_action_clip: float = 1e-5  # ±0.99999 (§1.1.4)
    sparse_failure_reward: float | None = None  # transformed failure reward r_fail of sparse tasks


PRESETS: dict[str, dict] = {
    "antmaze": {
        "cql_alpha": 5.0, "cql_lagrange": True, "cql_target_gap": 0.8, "max_target_backup": True,
        "actor_lr": 1e-4, "temperature_lr": 1e-4, "hidden_dims": (256, 256), "critic_hidden_dims": (256,) * 4,
        "reward_scale": 10.0, "reward_shift": -5.0, "sparse_failure_reward": -5.0,
    },
    "adroit": {
        "cql_alpha": 1.0, "max_target_backup": True, "actor_lr": 1e-4, "temperature_lr": 1e-4,
        "hidden_dims": (512, 512), "critic_hidden_dims": (512,) * 3,
        "reward_scale": 10.0, "reward_shift": 5.0, "sparse_failure_reward": -5.0,
    },
}

State = cql.State
init = cql.init
act = cql.act


def mc_lower_bound(batch: Batch) -> jnp.ndarray:
    """G^MC of each row; batches without the column (synthetic data) are not calibrated."""
    return batch.get("mc_returns", jnp.full(batch["rewards"].shape, NO_BOUND))


update = cql.make_update(mc_lower_bound)


def failed_episodes(rewards: np.ndarray, episode_ids: np.ndarray, failure_reward: float | None) -> np.ndarray:
    """Bool per row: its episode holds only the failure reward (sparse tasks)."""
    if failure_reward is None:
        return np.zeros(len(rewards), bool)
    other = np.bincount(episode_ids, weights=(rewards != np.float32(failure_reward)).astype(np.float64))
    return other[episode_ids] == 0


def prepare_dataset(dataset, config: Config):
    """Attach ``infos["mc_returns"]``: discounted return-to-go of every row on transformed rewards."""
    from seamrl.train.transforms import fit_transforms

    ones = np.ones(dataset.action_dim, np.float32)
    rewards = fit_transforms(config, dataset.obs_dim, -ones, ones, dataset).reward(dataset.rewards)
    returns = replace(dataset, rewards=rewards).returns_to_go(config.discount)
    failed = failed_episodes(rewards, dataset.episode_ids, config.sparse_failure_reward)
    if failed.any():
        returns = np.where(failed, np.float32(config.sparse_failure_reward) / (1.0 - config.discount), returns)
    return replace(dataset, infos={**dataset.infos, "mc_returns": returns.astype(np.float32)})


def batch_columns(config: Config) -> dict[str, float]:
    """Extra replay columns and the value an online transition holds until its episode ends."""
    return {"mc_returns": NO_BOUND}


def episode_columns(config: Config, rewards: np.ndarray) -> dict[str, np.ndarray]:
    """G^MC of a finished online episode (transformed rewards, in order)."""
    rewards = np.asarray(rewards, np.float64)
    returns = lfilter([1.0], [1.0, -config.discount], rewards[::-1])[::-1]
    if failed_episodes(rewards, np.zeros(len(rewards), np.int64), config.sparse_failure_reward).all():
        returns = np.full(len(rewards), config.sparse_failure_reward / (1.0 - config.discount))
    return {"mc_returns": returns.astype(np.float32)}
