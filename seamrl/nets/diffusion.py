"""Diffusion policy: ε-prediction DDPM with the VP schedule of IDQL (algorithms.md §3.6, §7.13).

Small pure pieces, shared by every diffusion-policy algorithm (UNIVR §3.6, IDQL §7.13,
Diffusion-QL, UEPO §6.1):

* :func:`vp_beta_schedule` / :func:`make_schedule` — β_t = 1 − exp(−β_min/T − ½(β_max − β_min)(2t − 1)/T²),
  t = 1..T (β_min = 0.1, β_max = 10); α_t = 1 − β_t, ᾱ_t = Π_{s≤t} α_s. Array index i holds t = i + 1.
* :func:`noisy_actions` — x_t = √ᾱ_t a + √(1 − ᾱ_t) ε (forward process).
* :func:`sample_noise` + :func:`denoising_loss` — per-sample ‖ε − ε_θ(x_t, s, t)‖² (UNIVR Eq. 9), with the
  draw (t, ε) explicit so that a caller can reuse it (UNIVR's InPG uses one draw in three places).
* :func:`ddpm_sample` — ancestral sampler, batched over states:
  x_{t−1} = (x_t − β_t/√(1 − ᾱ_t) ε_θ(x_t, s, t))/√α_t + 1[t > 1] √β_t z, clipped to [−1, 1] after every
  reverse step and at the end (IDQL ``clip_sampler=True``). Differentiable in the network parameters
  (reparameterised through the injected noise) through the last ``grad_last_k`` reverse steps only.
* :func:`best_of_n` — optional selection of the best of N samples under a score (IDQL-A); callers opt in.
* :class:`ScoreNet` — the MLP "U-net" of Mao et al. (2024b) used by UNIVR (§3.6), outputting ε.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

EpsFn = Callable[[jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray]  # (obs, x_t, t index) → ε̂

VP_BETA_MIN = 0.1  # §3.6 [C:philippe-eecs/IDQL vp_beta_schedule]
VP_BETA_MAX = 10.0


class Schedule(NamedTuple):
    """Noise schedule arrays of length T (index i ↔ diffusion step t = i + 1)."""

    betas: jnp.ndarray
    alphas: jnp.ndarray
    alpha_bars: jnp.ndarray

    @property
    def steps(self) -> int:
        return int(self.betas.shape[0])


def vp_beta_schedule(steps: int, beta_min: float = VP_BETA_MIN, beta_max: float = VP_BETA_MAX) -> np.ndarray:
    """β_t = 1 − exp(−β_min/T − ½(β_max − β_min)(2t − 1)/T²) for t = 1..T (float64 numpy)."""
    t = np.arange(1, steps + 1, dtype=np.float64)
    return 1.0 - np.exp(-beta_min / steps - 0.5 * (beta_max - beta_min) * (2.0 * t - 1.0) / steps**2)


def make_schedule(steps: int = 10, beta_min: float = VP_BETA_MIN, beta_max: float = VP_BETA_MAX) -> Schedule:
    """The VP schedule with α_t = 1 − β_t and ᾱ_t = Π α (computed in float64, stored as float32)."""
    betas = vp_beta_schedule(steps, beta_min, beta_max)
    alphas = 1.0 - betas
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return Schedule(f32(betas), f32(alphas), f32(np.cumprod(alphas)))


def noisy_actions(schedule: Schedule, actions: jnp.ndarray, t: jnp.ndarray, eps: jnp.ndarray) -> jnp.ndarray:
    """x_t = √ᾱ_t a + √(1 − ᾱ_t) ε for integer step indices ``t`` (B,)."""
    ab = schedule.alpha_bars[t][:, None]
    return jnp.sqrt(ab) * actions + jnp.sqrt(1.0 - ab) * eps


def sample_noise(key: jax.Array, batch: int, action_dim: int, steps: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """One draw per sample: step indices t ~ U{0..T−1} (B,) and ε ~ N(0, I) (B, A)."""
    k_t, k_eps = jax.random.split(key)
    return jax.random.randint(k_t, (batch,), 0, steps), jax.random.normal(k_eps, (batch, action_dim))


def denoising_loss(
    eps_fn: EpsFn, schedule: Schedule, obs: jnp.ndarray, actions: jnp.ndarray, t: jnp.ndarray, eps: jnp.ndarray
) -> jnp.ndarray:
    """Per-sample ‖ε − ε_θ(√ᾱ_t a + √(1 − ᾱ_t) ε, s, t)‖² (B,) (UNIVR Eq. 9; mean it for plain BC)."""
    pred = eps_fn(obs, noisy_actions(schedule, actions, t, eps), t)
    return jnp.sum((eps - pred) ** 2, axis=-1)


def _reverse_step(eps_fn: EpsFn, schedule: Schedule, obs: jnp.ndarray, clip: bool):
    def step(x, inputs):
        t, z = inputs
        tt = jnp.full((x.shape[0],), t)
        eps = eps_fn(obs, x, tt)
        x = (x - schedule.betas[t] / jnp.sqrt(1.0 - schedule.alpha_bars[t]) * eps) / jnp.sqrt(schedule.alphas[t])
        x = x + (t > 0) * jnp.sqrt(schedule.betas[t]) * z
        return (jnp.clip(x, -1.0, 1.0) if clip else x), None

    return step


def ddpm_sample(
    eps_fn: EpsFn,
    schedule: Schedule,
    obs: jnp.ndarray,
    key: jax.Array,
    action_dim: int,
    grad_last_k: int | None = None,
    clip: bool = True,
    temperature: float = 1.0,
) -> jnp.ndarray:
    """Ancestral DDPM samples a ~ π_θ(·|s), one per row of ``obs`` (B, A).

    ``eps_fn`` closes over the parameters; gradients w.r.t. them flow through the last
    ``grad_last_k`` reverse steps (None = all T, 0 = none): the iterate entering those steps is
    treated as a constant (Diffusion-QL back-propagates through all steps; UNIVR's
    ``pg_through_last_k_steps``). ``temperature`` scales the injected noise z (1 = DDPM).
    """
    steps = schedule.steps
    k = steps if grad_last_k is None else max(0, min(int(grad_last_k), steps))
    k_init, k_z = jax.random.split(key)
    x = jax.random.normal(k_init, (obs.shape[0], action_dim))
    z = temperature * jax.random.normal(k_z, (steps, obs.shape[0], action_dim))
    ts = jnp.arange(steps - 1, -1, -1)  # t = T..1 ↔ index T−1..0
    step = _reverse_step(eps_fn, schedule, obs, clip)
    if k < steps:  # the first T − k reverse steps carry no gradient
        x, _ = jax.lax.scan(step, x, (ts[: steps - k], z[: steps - k]))
        x = jax.lax.stop_gradient(x)
    if k > 0:
        x, _ = jax.lax.scan(step, x, (ts[steps - k :], z[steps - k :]))
    return jnp.clip(x, -1.0, 1.0) if clip else x


def best_of_n(
    sample_fn: Callable[[jnp.ndarray, jax.Array], jnp.ndarray],
    score_fn: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
    obs: jnp.ndarray,
    key: jax.Array,
    n: int,
) -> jnp.ndarray:
    """argmax over N samples of ``score_fn(obs, a)`` per state (IDQL-A with score = min_k Q̄_k).

    ``sample_fn(obs, key) -> (B, A)``; ``score_fn(obs, a) -> (B,)``. Returns (B, A).
    """
    samples = jax.vmap(lambda k: sample_fn(obs, k))(jax.random.split(key, n))  # (N, B, A)
    scores = jax.vmap(lambda a: score_fn(obs, a))(samples)  # (N, B)
    best = jnp.argmax(scores, axis=0)
    return jnp.take_along_axis(samples, best[None, :, None], axis=0)[0]


# ---------------------------------------------------------------------------------------
# Score network.


class ResidualBlock(nn.Module):
    """RB(x, e) = SiLU(W₂ (SiLU(W₁ x) + U SiLU(e))) + skip(x); skip = Linear if widths differ.

    The conditioning enters after the first activation, as in the cited code
    [C:maoliyuan/diffusion-DICE-Pytorch model.py ``Residual_Block``]; §3.6's one-line formula puts it
    inside the first activation.
    """

    width: int

    @nn.compact
    def __call__(self, x: jnp.ndarray, cond: jnp.ndarray) -> jnp.ndarray:
        h = nn.silu(nn.Dense(self.width)(x)) + nn.Dense(self.width)(nn.silu(cond))
        h = nn.silu(nn.Dense(self.width)(h))
        skip = x if x.shape[-1] == self.width else nn.Dense(self.width)(x)
        return h + skip


class ScoreNet(nn.Module):
    """ε_θ(x_t, s, t): the MLP "U-net" of Mao et al. (2024b) (algorithms.md §3.6).

    Time t (index 0..T−1) enters as τ = (t + 1)/T ∈ (0, 1] through fixed Gaussian random Fourier
    features (``embed_dim``, scale 30, not trained) → Linear(embed_dim); the state through
    Linear(|S| → embed_dim) + SiLU; both concatenated → Linear 128 → SiLU → Linear 128 = e.
    Residual blocks: down ``widths`` (512 → 256 → 128), middle widths[−1], up (with the skip of the
    matching down block concatenated) 256 → 512, then Linear(2·widths[0] → |A|) on
    [first down block, last up block]. Output: ε (not a score divided by the marginal std).
    """

    action_dim: int
    diffusion_steps: int = 10
    widths: Sequence[int] = (512, 256, 128)
    embed_dim: int = 32
    cond_dim: int = 128
    fourier_scale: float = 30.0

    @nn.compact
    def __call__(self, obs: jnp.ndarray, x: jnp.ndarray, t: jnp.ndarray) -> jnp.ndarray:
        tau = (jnp.asarray(t, jnp.float32).reshape(-1) + 1.0) / self.diffusion_steps
        freqs = self.fourier_scale * np.random.default_rng(0).standard_normal(self.embed_dim // 2).astype(np.float32)  # fixed
        proj = 2.0 * jnp.pi * tau[:, None] * freqs[None, :]
        t_emb = nn.Dense(self.embed_dim, name="time_embed")(jnp.concatenate([jnp.sin(proj), jnp.cos(proj)], axis=-1))
        s_emb = nn.silu(nn.Dense(self.embed_dim, name="state_embed")(obs))
        hidden = nn.silu(nn.Dense(self.cond_dim, name="cond_0")(jnp.concatenate([s_emb, t_emb], axis=-1)))
        cond = nn.Dense(self.cond_dim, name="cond_1")(hidden)
        downs, h = [], x
        for i, width in enumerate(self.widths):
            h = ResidualBlock(width, name=f"down_{i}")(h, cond)
            downs.append(h)
        h = ResidualBlock(self.widths[-1], name="middle")(h, cond)
        for i, (skip, width) in enumerate(zip(downs[:0:-1], self.widths[-2::-1])):  # up: (d3, 256), (d2, 512)
            h = ResidualBlock(width, name=f"up_{i}")(jnp.concatenate([skip, h], axis=-1), cond)
        return nn.Dense(self.action_dim, name="out")(jnp.concatenate([downs[0], h], axis=-1))
