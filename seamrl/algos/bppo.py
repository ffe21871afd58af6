"""BPPO — behaviour proximal policy optimisation (Zhuang et al., 2023); algorithms.md §7.12.

Supervised stage (the first ``offline_steps − improve_steps`` updates; each part for its own budget):
    BC:  L_β = −mean log π_β(a|s)          Gaussian, tanh mean, log σ = −5 + 2.5 (tanh(raw) + 1) ∈ (−5, 0)
    V:   L_V = mean (V(s) − G)²            G = Monte-Carlo return-to-go of the row (``mc_returns``)
    Q:   L_Q = mean (Q(s, a) − r − γ m Q̄(s', a'))²   a' = next dataset action (``next_actions``); rows
         whose episode was cut by a time-out have no a' and bootstrap from V(s') (``next_valid`` = 0);
         Q̄ ← Polyak(τ = 0.005) every 2 Q steps.
Improvement stage (``improve_steps`` updates), π_θ and π_k both start from π_β:
    a ~ π_k(·|s),   Â = standardised (Q(s, a) − V(s)), × ω if positive else × (1 − ω)
    L_π = −mean min(ρ Â, clip(ρ, 1 ± ε_i) Â) − c_H H[π_θ],   ρ = π_θ(a|s) / π_k(a|s)     (Eq. 4)
    ε_i = ε₀ · 0.96^min(i, 200),  lr_i = lr₀ · 0.98^⌊min(i, 200)/2⌋,  grad-norm clip 0.5
Behaviour-policy replacement (π_k ← π_θ): the official code evaluates π_θ online after every step
and replaces π_k when the score improves. A pure update cannot act, so [I] the gate here is the
one-step Q estimate Uni-O4 builds on, J(π) = mean_s Q(s, μ_π(s)) (AM-Q with horizon 1 and no model,
seamrl/ope.py), evaluated for π_θ *and* π_k on the same batch states every ``gate_every`` steps:
replace when J(π_θ) > J(π_k). (A stored best-so-far score, as the online gate keeps, would be the
maximum of noisy batch estimates and stop replacements early.) The BC checkpoint is the last one,
not the best online one (§7.12).

Data (consecutive-row style, §1.1): ``prepare_dataset`` attaches the MC returns (on transformed
rewards) and the next action of every row; the bootstrap mask stays the trainer's 1 − terminal with
the dataset's own next observations, so time-outs bootstrap (from V, having no next action).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import flax.linen as nn
import flax.struct as struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from seamrl import ope
from seamrl.algos import ppo
from seamrl.algos.common import AgentConfig, AgentSpec, Batch, apply_grad, make_state, polyak, split, while_on
from seamrl.errors import ConfigError
from seamrl.nets import GaussianPolicy, StateActionValue, StateValue, gaussian_sample, normal_log_prob

SETTINGS = ("offline",)
POLICY = "gaussian"
NAN = jnp.float32(jnp.nan)


@dataclass(frozen=True)
class Config(AgentConfig):
    """Official BPPO defaults (§7.12)."""

    batch_size: int = 512
    normalize_observations: bool = True  # (the code's tip: off for hopper-medium)
    policy_hidden: tuple[int, ...] = (1024, 1024)
    q_hidden: tuple[int, ...] = (1024, 1024)
    v_hidden: tuple[int, ...] = (512, 512, 512)
    bc_lr: float = 1e-4
    q_lr: float = 1e-4
    v_lr: float = 1e-4
    bc_steps: int = 500_000  # capped at the supervised stage
    critic_steps: int | None = None  # None: the whole supervised stage (official: 2e6)
    tau: float = 0.005
    target_every: int = 2
    improve_steps: int = 1000  # the last updates of the offline phase
    improve_lr: float = 1e-4
    clip: float = 0.25  # ε₀
    clip_decay: float = 0.96  # ε ← ε · 0.96 per step while i < decay_until
    lr_decay: float = 0.98  # StepLR(step 2, γ 0.98) while i < decay_until
    decay_until: int = 200
    omega: float = 0.9  # asymmetric advantage weight
    ent_coef: float = 0.0  # (0.01 suggested for medium datasets)
    grad_clip: float = 0.5
    gate_every: int = 1


PRESETS: dict[str, dict] = {}


@struct.dataclass
class State:
    bc: object  # π_β (supervised stage)
    actor: object  # π_θ
    behaviour: dict  # π_k params
    critic: object  # SARSA Q
    critic_target: dict
    value: object  # Monte-Carlo V
    rng: jax.Array
    step: jnp.ndarray
    config: Config = struct.field(pytree_node=False)
    pretrain_steps: int = struct.field(pytree_node=False, default=0)


def policy_net(action_dim: int, hidden: tuple[int, ...], activation=nn.relu) -> GaussianPolicy:
    """Uni-O4 / BPPO actor: tanh on the mean and a state-dependent log σ ∈ (−5, 0) (§1.4, §4.3)."""
    return GaussianPolicy(action_dim, hidden, log_std_min=-5.0, log_std_max=0.0, state_dependent_std=True, log_std_mode="tanh",
                          activation=activation)


def stages(spec: AgentSpec, improve_steps: int) -> int:
    """Length of the supervised stage: the offline budget minus the improvement steps."""
    if spec.offline_steps and spec.offline_steps <= improve_steps:
        raise ConfigError(f"offline_steps={spec.offline_steps} must exceed improve_steps={improve_steps} (supervised stage first).")
    return max(spec.offline_steps - improve_steps, 0)


def improve_lr(config) -> optax.Schedule:
    """lr₀ · 0.98^⌊min(i, 200)/2⌋ (StepLR for the first 200 steps)."""
    return lambda i: config.improve_lr * config.lr_decay ** (jnp.minimum(i, config.decay_until) // 2)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    k_bc, k_q, k_v, rng = jax.random.split(key, 4)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim))
    pi, q_net, v_net = policy_net(spec.action_dim, config.policy_hidden), StateActionValue(config.q_hidden), StateValue(config.v_hidden)
    bc = make_state(pi, pi.init(k_bc, obs), config.bc_lr)
    actor = make_state(pi, bc.params, improve_lr(config), config.grad_clip)
    critic = make_state(q_net, q_net.init(k_q, obs, act), config.q_lr)
    value = make_state(v_net, v_net.init(k_v, obs), config.v_lr)
    return State(bc, actor, bc.params, critic, critic.params, value, rng, jnp.zeros((), jnp.int32), config,
                 stages(spec, config.improve_steps))


# ------------------------------------------------------------------ data columns


def prepare_dataset(dataset, config: Config):
    """Attach ``mc_returns`` (discounted return-to-go on transformed rewards), ``next_actions`` and
    ``next_valid`` (1 where the next row continues the episode, so a' exists)."""
    from seamrl.train.transforms import fit_transforms

    ones = np.ones(dataset.action_dim, np.float32)
    tf = fit_transforms(config, dataset.obs_dim, -ones, ones, dataset)
    returns = replace(dataset, rewards=tf.reward(dataset.rewards)).returns_to_go(config.discount)
    ends = dataset.episode_ends
    next_actions = np.concatenate([dataset.actions[1:], dataset.actions[-1:]])
    next_actions = np.clip(tf.action_from_env(next_actions), -1.0, 1.0)
    infos = {"mc_returns": returns.astype(np.float32), "next_actions": next_actions, "next_valid": (~ends).astype(np.float32)}
    return replace(dataset, infos={**dataset.infos, **infos})


def batch_columns(config: Config) -> dict[str, float]:
    return {"mc_returns": 0.0, "next_actions": 0.0, "next_valid": 0.0}


# ------------------------------------------------------------------ losses


def bc_loss(params, apply_fn, obs: jnp.ndarray, actions: jnp.ndarray):
    """−mean log π_β(a|s)."""
    loss = -normal_log_prob(actions, *apply_fn(params, obs)).mean()
    return loss, {"bc_loss": loss}


def mc_value_loss(params, state: State, batch: Batch):
    """(V(s) − G)²; a batch without ``mc_returns`` (synthetic data, no trainer) regresses r + γ m V(s')."""
    v = state.value.apply_fn(params, batch["observations"])
    td = batch["rewards"] + state.config.discount * batch["masks"] * state.value.apply_fn(state.value.params, batch["next_observations"])
    loss = ((v - batch.get("mc_returns", td)) ** 2).mean()
    return loss, {"value_loss": loss, "v_mean": v.mean()}


def sarsa_loss(params, state: State, batch: Batch):
    """(Q(s, a) − r − γ m Q̄(s', a'))², V(s') where the episode was cut and a' is missing."""
    nxt, valid = batch["next_observations"], batch.get("next_valid", jnp.zeros_like(batch["rewards"]))
    next_q = state.critic.apply_fn(state.critic_target, nxt, batch.get("next_actions", batch["actions"]))
    boot = jnp.where(valid > 0, next_q, state.value.apply_fn(state.value.params, nxt))
    target = batch["rewards"] + state.config.discount * batch["masks"] * boot
    q = state.critic.apply_fn(params, batch["observations"], batch["actions"])
    loss = ((q - target) ** 2).mean()
    return loss, {"critic_loss": loss, "q_mean": q.mean()}


def weighted_advantage(adv: jnp.ndarray, omega: float | None) -> jnp.ndarray:
    """Batch-standardised Â, then × ω where positive and × (1 − ω) elsewhere (``omega=None``: unweighted)."""
    adv = ppo.standardise(adv)
    return adv if omega is None else jnp.where(adv > 0, omega, 1.0 - omega) * adv


def improve_step(actor, behaviour: dict, obs: jnp.ndarray, advantage_fn, key: jax.Array, clip, omega: float | None,
                 ent_coef: float = 0.0, penalty_fn=None):
    """One Adam step of π_θ on the clipped surrogate w.r.t. the behaviour policy π_k (Eq. 4 / 7).

    ``advantage_fn(obs, actions) -> A`` (no gradient); actions a ~ π_k(·|s). Uni-O4 vmaps this over
    members; its Eq. 25 adds ``penalty_fn(log π_θ(a|s), a)`` (unio4.disagreement_penalty).
    """
    mean_k, log_std_k = actor.apply_fn(behaviour, obs)
    actions = jax.lax.stop_gradient(gaussian_sample(key, mean_k, log_std_k))
    old_log_prob = normal_log_prob(actions, mean_k, log_std_k)
    adv = jax.lax.stop_gradient(weighted_advantage(advantage_fn(obs, actions), omega))

    def loss_fn(params):
        mean, log_std = actor.apply_fn(params, obs)
        log_prob = normal_log_prob(actions, mean, log_std)
        surrogate, clip_frac, approx_kl = ppo.clipped_surrogate(log_prob, old_log_prob, adv, clip)
        entropy = ppo.normal_entropy(log_std).mean()
        info = {"actor_loss": surrogate, "clip_frac": clip_frac, "approx_kl": approx_kl, "entropy": entropy}
        loss = surrogate - ent_coef * entropy
        if penalty_fn is not None:
            info["penalty"] = penalty_fn(log_prob, actions)
            loss = loss + info["penalty"]
        return loss, info

    return apply_grad(actor, loss_fn)


def q_score(policy_apply, params, q_fn, obs: jnp.ndarray) -> jnp.ndarray:
    """J(π) = mean_s Q(s, μ_π(s)): AM-Q with horizon 1 and no model (§4.5 with H = 1)."""
    stay = lambda s, a, k: (s, jnp.zeros(s.shape[0]), jnp.zeros(s.shape[0], bool))  # noqa: E731
    return ope.am_q(lambda o: policy_apply(params, o)[0], q_fn, stay, obs, 1, jax.random.PRNGKey(0))[0]


def replace_if_better(score: jnp.ndarray, reference: jnp.ndarray, params: dict, behaviour: dict):
    """π_k ← π_θ where ``score > reference`` (elementwise over members when vmapped)."""
    better = score > reference
    pick = lambda p, b: jnp.where(better.reshape(better.shape + (1,) * (p.ndim - better.ndim)), p, b)  # noqa: E731
    return jax.tree_util.tree_map(pick, params, behaviour), better


# ------------------------------------------------------------------ update


def supervised(state: State, batch: Batch) -> tuple[State, dict]:
    """BC, MC V and SARSA Q, each while its own budget lasts."""
    config, step = state.config, state.step
    critic_steps = state.pretrain_steps if config.critic_steps is None else config.critic_steps

    def critic_step():
        value, v_info = apply_grad(state.value, lambda p: mc_value_loss(p, state, batch))
        critic, q_info = apply_grad(state.critic, lambda p: sarsa_loss(p, state, batch))
        target = jax.lax.cond(step % config.target_every == 0, lambda: polyak(state.critic_target, critic.params, config.tau),
                              lambda: state.critic_target)
        return (value, critic, target), {**v_info, **q_info}

    bc, bc_info = while_on(step < config.bc_steps, lambda: apply_grad(
        state.bc, lambda p: bc_loss(p, state.bc.apply_fn, batch["observations"], batch["actions"])), state.bc)
    (value, critic, target), critic_info = while_on(step < critic_steps, critic_step,
                                                    (state.value, state.critic, state.critic_target))
    state = state.replace(bc=bc, actor=state.actor.replace(params=bc.params), behaviour=bc.params,
                          value=value, critic=critic, critic_target=target)
    return state, {**bc_info, **critic_info}


def advantage(state: State):
    return lambda obs, act: state.critic.apply_fn(state.critic.params, obs, act) - state.value.apply_fn(state.value.params, obs)


def improve(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict]:
    config = state.config
    i = state.step - state.pretrain_steps
    clip = config.clip * config.clip_decay ** jnp.minimum(i, config.decay_until)
    actor, info = improve_step(state.actor, state.behaviour, batch["observations"], advantage(state), key, clip, config.omega,
                               config.ent_coef)
    q_fn = lambda o, a: state.critic.apply_fn(state.critic.params, o, a)  # noqa: E731
    obs = batch["observations"]
    score, reference = (q_score(actor.apply_fn, p, q_fn, obs) for p in (actor.params, state.behaviour))
    gate = (i + 1) % config.gate_every == 0
    behaviour, better = replace_if_better(jnp.where(gate, score, -jnp.inf), reference, actor.params, state.behaviour)
    return state.replace(actor=actor, behaviour=behaviour), {**info, "gate_score": score, "replaced": better.astype(jnp.float32)}


def make_update(supervised_fn, improve_fn, supervised_keys: tuple[str, ...], improve_keys: tuple[str, ...]):
    """``update(state, batch)`` running the supervised stage before ``state.pretrain_steps``, then the
    improvement; the metrics of the stage not running are NaN (the trainer averages with nanmean)."""

    def update(state, batch: Batch):
        rng, key = split(state.rng, 1)

        def sup(s):
            s, info = supervised_fn(s, batch)
            return s, {**{k: NAN for k in improve_keys}, **info}

        def imp(s):
            s, info = improve_fn(s, batch, key)
            return s, {**{k: NAN for k in supervised_keys}, **info}

        state, info = jax.lax.cond(state.step >= state.pretrain_steps, imp, sup, state)
        return state.replace(rng=rng, step=state.step + 1), info

    return update


update = make_update(supervised, improve, ("bc_loss", "value_loss", "v_mean", "critic_loss", "q_mean"),
                     ("actor_loss", "clip_frac", "approx_kl", "entropy", "gate_score", "replaced"))
act = ppo.act  # π_θ's mean (π_β during the supervised stage), or a sample clamped to [−1, 1]
