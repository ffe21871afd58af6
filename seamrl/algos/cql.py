"""CQL — conservative Q-learning (Kumar et al., 2020) as tested by CORL; algorithms.md §7.8, §5.6.

Target:  y = r + γ m min_k Q̄_k(s', a'),  a' ~ π(·|s')            (no entropy backup)
         max_target_backup: the max over n samples a' of min_k Q̄_k(s', a')      (AntMaze)
Critic:  L_Q = Σ_k mean (Q_k(s, a) − y)² + Σ_k α' mean_i w_i (clip(CQL_k(s_i) − Q_k(s_i, a_i), c_min, c_max) − g)
         CQL_k(s) = T log Σ_j exp(x_j / T) over 3n importance-weighted candidates (§5.6):
           x = Q_k(s, u) − log 0.5^|A|,     u ~ U[−1, 1]^|A|
           x = Q_k(s, ã) − log π(ã|·),      ã ~ π(·|s) and ã ~ π(·|s')    (log π detached)
         w = α_cql, or the per-sample coefficient β̃ that SSAR puts in ``batch["reg_weight"]``;
         Lagrange variant (AntMaze): α' = clip(exp(log α'), 0, 1e6), g = target gap, and α'
         ascends on the penalty; otherwise α' = 1, g = 0.
Actor / temperature: SAC's losses (:mod:`seamrl.algos.sac`), target entropy −|A|.
All losses are taken at the pre-update parameters, then every optimiser steps (CORL order),
then Polyak on Q̄ (τ = 0.005). Cal-QL (:mod:`seamrl.algos.calql`) passes a lower bound G(s):
the policy-sample values become max(Q, G) before the logsumexp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import flax.linen as nn
import flax.struct as struct
import jax
import jax.numpy as jnp

from seamrl.algos import sac
from seamrl.algos.common import AgentConfig, AgentSpec, Batch, apply_grad, make_state, polyak, split
from seamrl.nets import TanhGaussianPolicy, critic_ensemble, tanh_normal_sample

SETTINGS = ("offline", "offline-to-online")
POLICY = "tanh-gaussian"


@dataclass(frozen=True)
class Config(AgentConfig):
    """CORL CQL MuJoCo defaults (§7.8); AntMaze / Adroit in ``PRESETS``."""

    actor_lr: float = 3e-5
    critic_lr: float = 3e-4
    temperature_lr: float = 3e-5  # CORL steps log α_ent with the policy lr (§5.6)
    hidden_dims: tuple[int, ...] = (256, 256, 256)  # actor, and critics unless critic_hidden_dims
    critic_hidden_dims: tuple[int, ...] | None = None
    critic_layer_norm: bool = False  # off in CORL, on in SSAR (§1.5)
    tau: float = 0.005
    target_entropy: float | None = None  # None → −|A|
    cql_alpha: float = 10.0
    cql_n_actions: int = 10
    cql_temperature: float = 1.0
    cql_lagrange: bool = False
    cql_target_gap: float = 0.8  # g, only with cql_lagrange (AntMaze 0.8)
    cql_clip_diff_min: float = -math.inf
    cql_clip_diff_max: float = math.inf
    max_target_backup: bool = False
    normalize_observations: bool = True  # §1.3 (off for AntMaze)
    learning_starts: int = 0  # fine-tuning starts from the pretrained actor


PRESETS: dict[str, dict] = {
    "antmaze": {
        "cql_alpha": 5.0, "cql_lagrange": True, "cql_target_gap": 0.8, "max_target_backup": True,
        "cql_clip_diff_min": -200.0, "actor_lr": 1e-4, "temperature_lr": 1e-4, "normalize_observations": False,
        "reward_scale": 10.0, "reward_shift": -5.0, "critic_hidden_dims": (256,) * 5,
    },
    "adroit": {"cql_alpha": 1.0, "actor_lr": 1e-4, "temperature_lr": 1e-4},
}


class Actor(nn.Module):
    """CORL's tanh-Gaussian actor: log σ = clip(c₁ · raw + c₀, −20, 2) with learnable c₁ = 1, c₀ = −1 (§1.4)."""

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256, 256)

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        mean, raw = TanhGaussianPolicy(self.action_dim, self.hidden_dims, -math.inf, math.inf, "clip")(obs)
        multiplier = self.param("log_std_multiplier", nn.initializers.constant(1.0), ())
        offset = self.param("log_std_offset", nn.initializers.constant(-1.0), ())
        return mean, jnp.clip(multiplier * raw + offset, -20.0, 2.0)


@struct.dataclass
class State:
    actor: object
    critic: object
    critic_target: object
    temperature: object
    alpha_prime: object  # Lagrange multiplier α' (log α' init 1.0); unused without cql_lagrange
    rng: jax.Array
    step: jnp.ndarray
    target_entropy: float = struct.field(pytree_node=False)
    config: Config = struct.field(pytree_node=False)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    k_actor, k_critic, k_temp, k_prime, rng = jax.random.split(key, 5)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = Actor(spec.action_dim, config.hidden_dims)
    critic_net = critic_ensemble(2, config.critic_hidden_dims or config.hidden_dims, config.critic_layer_norm)
    temp_net, prime_net = sac.Temperature(1.0), sac.Temperature(math.e)
    actor = make_state(actor_net, actor_net.init(k_actor, obs), config.actor_lr)
    critic = make_state(critic_net, critic_net.init(k_critic, obs, act), config.critic_lr)
    temperature = make_state(temp_net, temp_net.init(k_temp), config.temperature_lr)
    alpha_prime = make_state(prime_net, prime_net.init(k_prime), config.critic_lr)
    target_entropy = -float(spec.action_dim) if config.target_entropy is None else float(config.target_entropy)
    step = jnp.zeros((), jnp.int32)
    return State(actor, critic, critic.params, temperature, alpha_prime, rng, step, target_entropy, config)


def repeat(x: jnp.ndarray, n: int) -> jnp.ndarray:
    """(B, …) → (n, B, …)."""
    return jnp.broadcast_to(x, (n, *x.shape))


def sample_n(state: State, obs: jnp.ndarray, key: jax.Array, n: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """n samples of π(·|s) per state: (n, B, A) actions and (n, B) log-densities from one actor pass on (B, …)."""
    mean, log_std = state.actor.apply_fn(state.actor.params, obs)
    return tanh_normal_sample(key, repeat(mean, n), repeat(log_std, n))


def cql_target(state: State, batch: Batch, key: jax.Array) -> jnp.ndarray:
    """y = r + γ m min_k Q̄_k(s', a'); with max_target_backup the max over n samples a'."""
    cfg = state.config
    n = cfg.cql_n_actions if cfg.max_target_backup else 1
    next_action, _ = sample_n(state, batch["next_observations"], key, n)
    next_obs = repeat(batch["next_observations"], n)
    next_q = state.critic.apply_fn(state.critic_target, next_obs, next_action).min(axis=0).max(axis=0)
    return batch["rewards"] + cfg.discount * batch["masks"] * next_q


@struct.dataclass
class Candidates:
    """The 3n out-of-distribution actions of the CQL penalty (all detached)."""

    uniform: jnp.ndarray  # (n, B, A)
    current: jnp.ndarray  # (n, B, A) ~ π(·|s)
    log_pi_current: jnp.ndarray  # (n, B)
    next: jnp.ndarray  # (n, B, A) ~ π(·|s')
    log_pi_next: jnp.ndarray  # (n, B)


def candidates(state: State, batch: Batch, key: jax.Array) -> Candidates:
    n = state.config.cql_n_actions
    k_uniform, k_current, k_next = jax.random.split(key, 3)
    shape = (n, *batch["actions"].shape)
    uniform = jax.random.uniform(k_uniform, shape, minval=-1.0, maxval=1.0)
    current, log_pi = sample_n(state, batch["observations"], k_current, n)
    nxt, log_pi_next = sample_n(state, batch["next_observations"], k_next, n)
    return jax.lax.stop_gradient(Candidates(uniform, current, log_pi, nxt, log_pi_next))


def conservative_logsumexp(
    q_uniform: jnp.ndarray,
    q_current: jnp.ndarray,
    log_pi_current: jnp.ndarray,
    q_next: jnp.ndarray,
    log_pi_next: jnp.ndarray,
    action_dim: int,
    temperature: float = 1.0,
    lower_bound: jnp.ndarray | None = None,
) -> jnp.ndarray:
    """CQL_k(s) = T log Σ_j exp(x_j / T) (§5.6); q_* are (K, n, B), log_pi_* (n, B) → (K, B).

    ``lower_bound`` (B,) is Cal-QL's calibration: policy-sample values become max(Q, G)
    before the importance correction; uniform samples are untouched (§7.9).
    """
    if lower_bound is not None:
        q_current, q_next = jnp.maximum(q_current, lower_bound), jnp.maximum(q_next, lower_bound)
    log_uniform = action_dim * math.log(0.5)
    x = jnp.concatenate([q_uniform - log_uniform, q_next - log_pi_next, q_current - log_pi_current], axis=1)
    return temperature * jax.nn.logsumexp(x / temperature, axis=1)


def critic_loss(params, state: State, batch: Batch, target: jnp.ndarray, cand: Candidates, alpha_prime: jnp.ndarray,
                lower_bound: jnp.ndarray | None = None):
    """TD loss + α' Σ_k mean_i w_i (clip(CQL_k − Q_k(s, a)) − g); the aux carries the per-critic penalty for α'."""
    cfg = state.config
    obs = batch["observations"]
    q_fn = state.critic.apply_fn
    q = q_fn(params, obs, batch["actions"])
    td = ((q - target) ** 2).mean(axis=1).sum()
    obs_n = repeat(obs, cfg.cql_n_actions)
    q_current = q_fn(params, obs_n, cand.current)
    ood = conservative_logsumexp(
        q_fn(params, obs_n, cand.uniform), q_current, cand.log_pi_current, q_fn(params, obs_n, cand.next), cand.log_pi_next,
        cand.uniform.shape[-1], cfg.cql_temperature, lower_bound,
    )
    gap = jnp.clip(ood - q, cfg.cql_clip_diff_min, cfg.cql_clip_diff_max)
    weight = batch.get("reg_weight", cfg.cql_alpha)
    penalty = (weight * (gap - (cfg.cql_target_gap if cfg.cql_lagrange else 0.0))).mean(axis=1)  # (K,)
    loss = td + (alpha_prime * penalty).sum()
    info = {"critic_loss": loss, "td_loss": td, "q_mean": q.mean(), "cql_gap": (ood - q).mean(), "penalty": penalty}
    if lower_bound is not None:
        info["calql_bound_rate"] = (q_current < lower_bound).mean()  # share of policy samples lifted to G
    return loss, info


def lagrange_value(state: State, params=None) -> jnp.ndarray:
    """α' = clip(exp(log α'), 0, 1e6) with Lagrange, 1 without."""
    if not state.config.cql_lagrange:
        return jnp.ones(())
    return jnp.clip(state.alpha_prime.apply_fn(state.alpha_prime.params if params is None else params), 0.0, 1e6)


def lagrange_loss(params, state: State, penalty: jnp.ndarray):
    """Gradient ascent of α' on the penalty: L = −α' mean_k penalty_k."""
    alpha_prime = lagrange_value(state, params)
    loss = -(alpha_prime * jax.lax.stop_gradient(penalty)).mean()
    return loss, {"alpha_prime": alpha_prime, "alpha_prime_loss": loss}


LowerBound = Callable[[Batch], jnp.ndarray]


def make_update(lower_bound: LowerBound | None = None) -> Callable[[State, Batch], tuple[State, dict]]:
    """The CQL update; Cal-QL passes ``lower_bound(batch) -> G (B,)``."""

    def update(state: State, batch: Batch) -> tuple[State, dict]:
        rng, k_actor, k_target, k_cand = split(state.rng, 3)
        actor, actor_info = apply_grad(state.actor, lambda p: sac.actor_loss(p, state, batch, k_actor))
        temperature, temp_info = apply_grad(state.temperature, lambda p: sac.temperature_loss(p, state, actor_info["entropy"]))
        target = jax.lax.stop_gradient(cql_target(state, batch, k_target))
        cand, bound = candidates(state, batch, k_cand), None if lower_bound is None else lower_bound(batch)
        alpha_prime = jax.lax.stop_gradient(lagrange_value(state))
        critic, critic_info = apply_grad(state.critic, lambda p: critic_loss(p, state, batch, target, cand, alpha_prime, bound))
        penalty = critic_info.pop("penalty")
        prime = state.alpha_prime
        if state.config.cql_lagrange:
            prime, prime_info = apply_grad(state.alpha_prime, lambda p: lagrange_loss(p, state, penalty))
            critic_info.update(prime_info)
        state = state.replace(
            actor=actor,
            critic=critic,
            critic_target=polyak(state.critic_target, critic.params, state.config.tau),
            temperature=temperature,
            alpha_prime=prime,
            rng=rng,
            step=state.step + 1,
        )
        return state, {**critic_info, **actor_info, **temp_info}

    return update


update = make_update()
act = sac.act
