"""PPO — proximal policy optimisation (Schulman et al., 2017), online from scratch; algorithms.md
§7.4 (CleanRL defaults) with the code-level choices of Uni-O4's online PPO (§4.8).

Rollout (trainer): T = ``num_steps`` steps of N envs with a ~ N(μ(s), σ) clamped to [−1, 1];
observations normalised with running statistics and rewards divided by the running std of the
discounted return (``running_obs_norm``, ``running_reward_scale``, gymnasium-wrapper semantics).

Advantages (§4.8 step 2), with V and log π_old from the collecting parameters:
    δ_t = r_t + γ (1 − d_t) V(s'_t) − V(s_t),   Â_t = δ_t + γλ (1 − done_t) Â_{t+1},   R_t = Â_t + V(s_t)
    (d_t terminal; done_t terminal or time-out; s'_t the real next state, so time-outs bootstrap)
Actor (Uni-O4 Eq. 1):   L_π = −mean min(ρ Â, clip(ρ, 1 − ε, 1 + ε) Â) − c_H mean H[π(·|s)],
                        ρ = π(a|s) / π_old(a|s),  Â standardised per mini-batch (or per rollout)
Critic (Uni-O4 §A.11):  L_V = c_V · ½ mean max((V − R)², (V_old + clip(V − V_old, −ε, ε) − R)²)
K epochs × M shuffled mini-batches under ``lax.scan``; actor and critic have their own Adam
(ε = 1e-5) with global-norm clipping 0.5 and an lr decayed linearly to 0 over the run's real
number of rollouts (§4.8 step 4). Networks: 2×64 tanh MLPs, orthogonal init (√2 hidden, 0.01
mean head, 1.0 value head), state-independent log σ initialised at 0 (§7.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import flax.linen as nn
import flax.struct as struct
import jax
import jax.numpy as jnp
import optax

from seamrl.algos import iql
from seamrl.algos.common import AgentConfig, AgentSpec, make_state, split
from seamrl.data.rollout import gae
from seamrl.nets import GaussianPolicy, StateValue, normal_log_prob

SETTINGS = ("online",)
POLICY = "gaussian"
ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


@dataclass(frozen=True)
class Config(AgentConfig):
    """CleanRL ``ppo_continuous_action`` defaults (§7.4); Uni-O4's online values in comments (§4.8)."""

    num_steps: int = 2048  # steps per env per rollout
    update_epochs: int = 10  # K (Uni-O4: 10–30)
    num_minibatches: int = 32  # M: mini-batch = num_steps·num_envs / M (Uni-O4: 2048/128 = 16)
    actor_lr: float = 3e-4  # (Uni-O4: 2e-5 for a pretrained actor)
    critic_lr: float = 3e-4  # (Uni-O4: 2e-4)
    anneal_lr: bool = True  # linear decay to 0 over the real budget (§4.8 step 4)
    gae_lambda: float = 0.95
    clip_coef: float = 0.2  # ε for the ratio and the value clip (Uni-O4: 0.05 code / 0.1 paper)
    clip_value: bool = True
    ent_coef: float = 0.0  # (Uni-O4: 0.01)
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    adam_eps: float = 1e-5
    norm_adv: str = "minibatch"  # "minibatch" (CleanRL) | "rollout" (Uni-O4, over all T·N samples) | "none"
    hidden_dims: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    learning_starts: int = 0
    running_obs_norm: bool = True
    running_reward_scale: bool = True

    def __post_init__(self):
        if self.norm_adv not in ("minibatch", "rollout", "none"):
            raise ValueError(f"norm_adv '{self.norm_adv}' is unknown; expected minibatch, rollout or none")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation '{self.activation}' is unknown; expected one of {', '.join(ACTIVATIONS)}")

    @property
    def grad_steps_per_rollout(self) -> int:
        return self.update_epochs * self.num_minibatches


PRESETS: dict[str, dict] = {}


@struct.dataclass
class State:
    actor: object
    critic: object
    rng: jax.Array
    step: jnp.ndarray  # rollouts consumed
    config: Config = struct.field(pytree_node=False)


def rollout_lr(lr: float, per_rollout: int, rollouts: int, anneal: bool) -> optax.Schedule:
    """lr · (1 − i / rollouts) during rollout i = ⌊count / per_rollout⌋ (CleanRL's per-iteration anneal)."""
    if not anneal or rollouts <= 0:
        return optax.constant_schedule(lr)
    return lambda count: lr * jnp.maximum(1.0 - (count // per_rollout) / rollouts, 0.0)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    k_actor, k_critic, rng = jax.random.split(key, 3)
    obs = jnp.zeros((1, spec.obs_dim))
    activation = ACTIVATIONS[config.activation]
    actor_net = GaussianPolicy(spec.action_dim, config.hidden_dims, activation=activation, mean_init_scale=0.01)
    critic_net = StateValue(config.hidden_dims, activation=activation)
    rollouts = spec.online_steps // (config.num_steps * spec.num_envs)
    lrs = [rollout_lr(lr, config.grad_steps_per_rollout, rollouts, config.anneal_lr) for lr in (config.actor_lr, config.critic_lr)]
    actor = make_state(actor_net, actor_net.init(k_actor, obs), lrs[0], config.max_grad_norm, config.adam_eps)
    critic = make_state(critic_net, critic_net.init(k_critic, obs), lrs[1], config.max_grad_norm, config.adam_eps)
    return State(actor, critic, rng, jnp.zeros((), jnp.int32), config)


def standardise(x: jnp.ndarray) -> jnp.ndarray:
    return (x - x.mean()) / (x.std() + 1e-8)


def clipped_surrogate(log_prob: jnp.ndarray, old_log_prob: jnp.ndarray, adv: jnp.ndarray, clip: float):
    """−mean min(ρ Â, clip(ρ, 1 ± ε) Â) and the diagnostics (clip fraction, approximate KL)."""
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip, 1.0 + clip) * adv).mean()
    clip_frac = (jnp.abs(ratio - 1.0) > clip).mean()
    approx_kl = ((ratio - 1.0) - log_ratio).mean()  # the k3 estimator of KL(π_old ‖ π)
    return loss, clip_frac, approx_kl


def clipped_value_loss(v: jnp.ndarray, v_old: jnp.ndarray, returns: jnp.ndarray, clip: float, clip_value: bool = True):
    """½ mean max((V − R)², (V_old + clip(V − V_old, ±ε) − R)²)  (plain ½ mean (V − R)² without clipping)."""
    loss = (v - returns) ** 2
    if clip_value:
        loss = jnp.maximum(loss, (v_old + jnp.clip(v - v_old, -clip, clip) - returns) ** 2)
    return 0.5 * loss.mean()


def normal_entropy(log_std: jnp.ndarray) -> jnp.ndarray:
    return jnp.sum(log_std + 0.5 * (1.0 + math.log(2.0 * math.pi)), axis=-1)


def minibatch_step(actor, critic, mb: dict, config: Config):
    """One Adam step of the actor on L_π and one of the critic on L_V (same mini-batch)."""
    adv = standardise(mb["advantages"]) if config.norm_adv == "minibatch" else mb["advantages"]

    def actor_loss(params):
        mean, log_std = actor.apply_fn(params, mb["observations"])
        surrogate, clip_frac, approx_kl = clipped_surrogate(
            normal_log_prob(mb["actions"], mean, log_std), mb["log_probs"], adv, config.clip_coef)
        entropy = normal_entropy(log_std).mean()
        info = {"actor_loss": surrogate, "entropy": entropy, "clip_frac": clip_frac, "approx_kl": approx_kl}
        return surrogate - config.ent_coef * entropy, info

    def critic_loss(params):
        v = critic.apply_fn(params, mb["observations"])
        loss = clipped_value_loss(v, mb["values"], mb["returns"], config.clip_coef, config.clip_value)
        return config.vf_coef * loss, {"value_loss": loss}

    actor_grads, actor_info = jax.grad(actor_loss, has_aux=True)(actor.params)
    critic_grads, critic_info = jax.grad(critic_loss, has_aux=True)(critic.params)
    return actor.apply_gradients(grads=actor_grads), critic.apply_gradients(grads=critic_grads), {**actor_info, **critic_info}


def prepare(state: State, rollout: dict) -> dict:
    """Flat ``(T·N, ...)`` training samples: old log-probs and values, GAE advantages and returns."""
    config = state.config
    obs = rollout["observations"]
    values = state.critic.apply_fn(state.critic.params, obs)
    next_values = state.critic.apply_fn(state.critic.params, rollout["next_observations"])
    mean, log_std = state.actor.apply_fn(state.actor.params, obs)
    dones = jnp.maximum(rollout["terminals"], rollout["timeouts"])
    adv = gae(rollout["rewards"], values, next_values, rollout["terminals"], dones, config.discount, config.gae_lambda)
    samples = {
        "observations": obs,
        "actions": rollout["actions"],
        "log_probs": normal_log_prob(rollout["actions"], mean, log_std),
        "values": values,
        "returns": adv + values,
        "advantages": standardise(adv) if config.norm_adv == "rollout" else adv,
    }
    return jax.tree_util.tree_map(lambda x: x.reshape((-1, *x.shape[2:])), samples)


def update_rollout(state: State, rollout: dict) -> tuple[State, dict]:
    """K epochs over M shuffled mini-batches of one rollout (nested ``lax.scan``)."""
    config = state.config
    samples = prepare(state, rollout)
    n = samples["values"].shape[0]
    m = config.num_minibatches
    rng, key = split(state.rng, 1)

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, n)[: n // m * m]
        batches = jax.tree_util.tree_map(lambda x: x[order].reshape((m, n // m, *x.shape[1:])), samples)

        def step(nets, mb):
            actor, critic, info = minibatch_step(*nets, mb, config)
            return (actor, critic), info

        return jax.lax.scan(step, carry, batches)

    (actor, critic), info = jax.lax.scan(epoch, (state.actor, state.critic), jax.random.split(key, config.update_epochs))
    returns, values = samples["returns"], samples["values"]
    metrics = {k: v.mean() for k, v in info.items()}
    metrics["explained_variance"] = 1.0 - jnp.var(returns - values) / (jnp.var(returns) + 1e-8)
    return state.replace(actor=actor, critic=critic, rng=rng, step=state.step + 1), metrics


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool) -> jnp.ndarray:
    """The Gaussian actor's mean, or a sample clamped to [−1, 1] (§4.8 step 1); IQL's rule."""
    return iql.act(state, obs, key, deterministic)
