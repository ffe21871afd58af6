"""The two policy classes of UNIVR (algorithms.md §3.5 Gaussian, §3.6 diffusion): what InPG needs.

UNIVR's estimators (``univr_inpg.policy_step``) are written once against this small interface; a policy
class provides, for actor parameters θ and a batch of states:

* ``module(action_dim, config)`` and ``init_args(obs, action)`` — the network and its init inputs;
* ``draw(key, batch, action_dim, config)`` — the randomness of ℓ for one update, one row per sample
  (Gaussian: none; diffusion: (t_i, ε_i)), so the same draw serves E1 steps 2, 4 and 7 (§3.6);
* ``log_lik(apply_fn, θ, obs, ref, draw, config)`` — ℓ_i(θ) (B,): Gaussian log π_θ(a^μ_i|s_i);
  diffusion −‖ε_i − ε_θ(√ᾱ_t a^μ_i + √(1 − ᾱ_t) ε_i, s_i, t_i)‖² (§3.4.1 notation, §3.6);
* ``rsample(apply_fn, θ, obs, key, config)`` — ã = h_θ(s, ξ), differentiable in θ (G_PG): Gaussian
  m + σξ with a straight-through clip to [−1, 1] (§3.5); diffusion the clipped DDPM sampler with
  gradients through the last ``pg_through_last_k_steps`` reverse steps (§3.6);
* ``reference_samples(apply_fn, θ̄, obs, key, k, bound)`` — K samples of π̄ (no gradient), clipped
  to ±bound (§3.2, §3.5);
* ``act(apply_fn, θ, obs, key, deterministic, config)`` — Gaussian: tanh-mean or a clipped sample;
  diffusion: one sampler draw either way (§3.6: evaluation uses a single sample);
* ``in_subset(path, config, subset)`` — the parameters of Θ_S for ``inpg_params`` "last" / "last2"
  (§3.4.1 implementation notes, §9.3).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seamrl.nets import GaussianPolicy, ScoreNet, gaussian_sample, normal_log_prob
from seamrl.nets import diffusion as ddpm


class Gaussian:
    """tanh-mean Normal with bounded log-std (§3.5)."""

    @staticmethod
    def module(action_dim: int, config):
        return GaussianPolicy(action_dim, tuple(config.hidden_dims), state_dependent_std=config.state_dependent_std,
                              log_std_min=config.log_std_min)

    @staticmethod
    def init_args(obs: jnp.ndarray, action: jnp.ndarray) -> tuple:
        return (obs,)

    @staticmethod
    def draw(key: jax.Array, batch: int, action_dim: int, config):
        return jnp.zeros((batch, 0))  # ℓ is exact: no randomness (a placeholder with one row per sample)

    @staticmethod
    def log_lik(apply_fn, params, obs, ref, draw, config) -> jnp.ndarray:
        mean, log_std = apply_fn(params, obs)
        return normal_log_prob(ref, mean, log_std)

    @staticmethod
    def rsample(apply_fn, params, obs, key, config) -> jnp.ndarray:
        mean, log_std = apply_fn(params, obs)
        a = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        return a + jax.lax.stop_gradient(jnp.clip(a, -1.0, 1.0) - a)  # straight-through clip (§3.5)

    @staticmethod
    def reference_samples(apply_fn, params, obs, key, k: int, bound: float, config) -> jnp.ndarray:
        mean, log_std = apply_fn(params, obs)
        noise = jax.random.normal(key, (k,) + mean.shape)
        return jnp.clip(mean + jnp.exp(log_std) * noise, -bound, bound)

    @staticmethod
    def act(apply_fn, params, obs, key, deterministic: bool, config) -> jnp.ndarray:
        mean, log_std = apply_fn(params, obs)
        if deterministic:
            return mean  # tanh-squashed mean
        return jnp.clip(gaussian_sample(key, mean, log_std), -1.0, 1.0)

    @staticmethod
    def in_subset(path: tuple, config, subset: str) -> bool:
        """"last": the heads (mean, log-std); "last2": the heads and the last hidden layer."""
        top = path[1]
        if top != "MLP_0":
            return True
        return subset == "last2" and path[2] == f"Dense_{len(config.hidden_dims) - 1}"


class Diffusion:
    """ε-prediction DDPM with the MLP "U-net" score network (§3.6)."""

    @staticmethod
    def module(action_dim: int, config):
        return ScoreNet(action_dim, config.diffusion_steps, tuple(config.score_widths))

    @staticmethod
    def init_args(obs: jnp.ndarray, action: jnp.ndarray) -> tuple:
        return (obs, action, jnp.zeros((obs.shape[0],), jnp.int32))

    @staticmethod
    def draw(key: jax.Array, batch: int, action_dim: int, config):
        return ddpm.sample_noise(key, batch, action_dim, config.diffusion_steps)  # (t (B,), ε (B, A))

    @staticmethod
    def log_lik(apply_fn, params, obs, ref, draw, config) -> jnp.ndarray:
        t, eps = draw
        eps_fn = lambda s, x, tt: apply_fn(params, s, x, tt)  # noqa: E731
        return -ddpm.denoising_loss(eps_fn, ddpm.make_schedule(config.diffusion_steps), obs, ref, t, eps)

    @staticmethod
    def _sample(apply_fn, params, obs, key, config, grad_last_k: int) -> jnp.ndarray:
        eps_fn = lambda s, x, tt: apply_fn(params, s, x, tt)  # noqa: E731
        schedule = ddpm.make_schedule(config.diffusion_steps)
        action_dim = params["params"]["out"]["bias"].shape[-1]
        return ddpm.ddpm_sample(eps_fn, schedule, obs, key, action_dim, grad_last_k=grad_last_k)

    @staticmethod
    def rsample(apply_fn, params, obs, key, config) -> jnp.ndarray:
        return Diffusion._sample(apply_fn, params, obs, key, config, config.pg_through_last_k_steps)

    @staticmethod
    def reference_samples(apply_fn, params, obs, key, k: int, bound: float, config) -> jnp.ndarray:
        sample = lambda kk: Diffusion._sample(apply_fn, params, obs, kk, config, 0)  # noqa: E731
        return jnp.clip(jax.lax.stop_gradient(jax.vmap(sample)(jax.random.split(key, k))), -bound, bound)

    @staticmethod
    def act(apply_fn, params, obs, key, deterministic: bool, config) -> jnp.ndarray:
        return Diffusion._sample(apply_fn, params, obs, key, config, 0)

    @staticmethod
    def in_subset(path: tuple, config, subset: str) -> bool:
        """"last": the output layer; "last2": it and the second dense layer of the last up block."""
        if path[1] == "out":
            return True
        n = len(config.score_widths)
        last_block = f"up_{n - 2}" if n > 1 else "middle"
        return subset == "last2" and path[1] == last_block and path[2] == "Dense_2"


POLICY_CLASSES = {"gaussian": Gaussian, "diffusion": Diffusion}


def policy_class(config):
    """The policy class of ``config.policy``."""
    return POLICY_CLASSES[config.policy]
