"""Uni-O4 — unified offline and online RL with multi-step on-policy optimisation (Lei et al.,
ICLR 2024); algorithms.md §4.

Offline phase (``update``, pure; stages by the offline step counter):
  supervised (first ``offline_steps − improve_steps`` updates, each part for its own budget)
    IQL critics (§4.2, iql.py's losses): expectile V, twin Q to r + γ m V(s'), Q̄ ← Polyak every 2 steps;
    ensemble BC with disagreement (§4.3, unio4_ensemble.py), E = 4 members;
    the dynamics ensemble (§4.4) is fitted on the phase's dataset before the phase (``begin_offline``);
  improvement (``improve_steps`` updates, §4.6): per member, π^i_θ and π^i_k start from BC member i,
    L_i = −mean min(ρ Â, clip(ρ, 1 ± ε) Â),  a ~ π^i_k,  Â = standardised min Q(s, a) − V(s)   (Eq. 7,
    bppo.improve_step vmapped over members), lr₀(1 − i/S), ε = ε₀(1 − min(i, 200)/S), grad clip 0.5;
    every ``ope_every`` steps: AM-Q of each π^i_θ (§4.5, inside the jitted update, from the batch's
    states); where it beats the member's best, best ← AM-Q and π^i_k ← π^i_θ.
  selection (§4.7) [I]: the acting policy is the member with the highest last AM-Q (the official
    code adds a small online check among the top 3, which a pure update cannot make).
Online phase (§4.8): PPO (ppo.update_rollout) from the selected actor and the offline IQL V; Uni-O4's
  online values below; observations keep the frozen offline statistics.
online-offline-online (§A.4, Eq. 25): the offline stage starts its members from the online actor (no BC)
  and learns critics and dynamics from the new logs; ``kl_update`` adds Eq. 25's disagreement term
  −α (log π^i_θ(a|s) − sg(log π^j_k(a|s))) to member i's loss (j: the other member with the highest log-prob, or a random one).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import flax.struct as struct
import jax
import jax.numpy as jnp
import optax

from seamrl.algos import bppo, iql, ppo
from seamrl.algos.common import AgentSpec, Batch, apply_grad, fresh_optimiser, make_state, polyak, while_on
from seamrl.algos.unio4_ensemble import (
    BC_MODES,
    TERMINATION_IDS,
    amq_scores,
    disagreement_losses,
    fit_model,
    member,
    members_apply,
    members_from,
    members_init,
    step_members,
)
from seamrl.nets import StateValue, critic_ensemble, dynamics, normal_log_prob

SETTINGS = ("offline", "offline-to-online", "online-offline-online")
POLICY = "gaussian"
NO_SCORE = -1e30  # best / last AM-Q before the first gate (finite: state leaves stay finite)


@dataclass(frozen=True)
class Config(ppo.Config):
    """Official code defaults (§4.2–4.9); the paper's values where they differ are in comments."""

    batch_size: int = 512
    normalize_observations: bool = True  # `is_state_norm` (per task in the scripts)
    # ensemble BC (§4.3)
    num_members: int = 4
    bc_lr: float = 1e-4
    bc_steps: int = 400_000  # capped at the supervised stage
    bc_alpha: float = 0.1
    bc_mode: str = "heuristic"  # heuristic | distribution | sign
    # IQL critics (§4.2)
    q_hidden: tuple[int, ...] = (1024, 1024)
    v_hidden: tuple[int, ...] = (512, 512, 512)  # paper Table 5: 256-256-256
    q_lr: float = 1e-4
    v_lr: float = 1e-4
    critic_steps: int | None = None  # None: the whole supervised stage (official: 2e6)
    expectile: float = 0.7
    tau: float = 0.005
    target_every: int = 2
    # offline multi-step PPO (§4.6)
    improve_steps: int = 10_000
    improve_lr: float = 1e-4
    improve_clip: float = 0.25
    decay_until: int = 200  # ε decays only for the first 200 steps (official code)
    improve_grad_clip: float = 0.5
    ope_every: int = 100
    ope_horizon: int = 1000
    # Eq. 25 (offline fine-tuning of the pipeline, code flag `is_kl_update`; off for D4RL): the loss of member i
    # adds −α (log π^i_θ(a|s) − sg(log π^j_k(a|s))), j = the other member with the highest (max) or a random one
    kl_update: bool = False
    kl_alpha: float = 0.1
    kl_strategy: str = "max"  # max | random
    # dynamics ensemble for AM-Q (§4.4)
    dynamics_members: int = 7
    dynamics_elites: int = 5
    dynamics_hidden: tuple[int, ...] = (200, 200, 200, 200)
    dynamics_lr: float = 1e-3
    dynamics_max_epochs: int | None = None
    # online PPO (§4.8)
    num_steps: int = 2048
    update_epochs: int = 10  # 10–30
    num_minibatches: int = 16  # mini-batch 128
    actor_lr: float = 2e-5
    critic_lr: float = 2e-4
    clip_coef: float = 0.05  # paper Table 5: 0.1
    ent_coef: float = 0.01
    norm_adv: str = "rollout"
    hidden_dims: tuple[int, ...] = (256, 256, 256)  # the policy
    activation: str = "relu"  # tanh for halfcheetah-m/-mr, hammer, relocate
    running_obs_norm: bool = False  # online PPO keeps the offline statistics (§1.3)
    running_reward_scale: bool = False  # on, the offline V no longer fits the scale (§4.8)
    # online-offline-online stage 1 is PPO from scratch (the paper pretrains with standard PPO, §A.4), not a
    # fine-tuning: CleanRL's values (ppo.Config) there; the online phases after an offline one use the values above
    pretrain_actor_lr: float = 3e-4
    pretrain_critic_lr: float = 3e-4
    pretrain_clip_coef: float = 0.2
    pretrain_ent_coef: float = 0.0
    # and PPO's running observation normalisation and reward scaling (§4.8, §7.4); the statistics freeze
    # when stage 1 ends, so the offline stage and stage 3 see the observations the actor was trained on
    pretrain_running_obs_norm: bool = True
    pretrain_running_reward_scale: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.bc_mode not in BC_MODES:
            raise ValueError(f"bc_mode '{self.bc_mode}' is unknown; expected one of {', '.join(BC_MODES)}")
        if self.kl_strategy not in ("max", "random"):
            raise ValueError(f"kl_strategy '{self.kl_strategy}' is unknown; expected max or random")


_WIDE = {"dynamics_hidden": (400,) * 4, "dynamics_lr": 3e-4}
PRESETS: dict[str, dict] = {
    "antmaze": {"expectile": 0.9, "reward_scale": 10.0, "reward_shift": -5.0, "improve_lr": 1e-5, "ope_horizon": 150,
                "q_hidden": (256, 256, 256), "v_hidden": (256, 256, 256), **_WIDE},
    "adroit": {"improve_lr": 1e-5, "ope_horizon": 100, "num_minibatches": 8, "dataset_action_clip": 1e-5, **_WIDE},
    "kitchen": {"improve_lr": 1e-5, "improve_steps": 1000, "ope_horizon": 4, **_WIDE},
}


@struct.dataclass
class State:
    actor: object  # acting policy: BC member / selected member offline, the PPO actor online
    online_critic: object  # PPO's V online, from the offline V at the switch
    members: object  # E BC members (vmapped TrainState)
    improving: object  # E policies π^i_θ of the improvement stage
    behaviour: dict  # E behaviour policies π^i_k
    best: jnp.ndarray  # (E,) AM-Q of π^i_k when adopted
    last: jnp.ndarray  # (E,) last AM-Q of π^i_θ
    critic: object  # IQL twin Q
    critic_target: dict
    value: object  # IQL V
    model: dynamics.DynamicsModel
    termination: jnp.ndarray  # index into dynamics.TERMINATIONS
    obs_mean: jnp.ndarray  # the run's observation transform (the model works on raw states)
    obs_std: jnp.ndarray
    obs_clip: jnp.ndarray
    model_ready: jnp.ndarray  # False until begin_offline fitted the model: one-step Q gate instead
    from_actor: jnp.ndarray  # online-offline-online: members start from the online actor, no BC
    rng: jax.Array
    step: jnp.ndarray  # offline updates
    rollouts: jnp.ndarray  # rollouts consumed (PPO)
    config: Config = struct.field(pytree_node=False)
    pretrain_steps: int = struct.field(pytree_node=False, default=0)
    ppo_config: Config | None = struct.field(pytree_node=False, default=None)  # the online phase's PPO values (online_stage)
    num_envs: int = struct.field(pytree_node=False, default=1)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    k_m, k_q, k_v, k_d, rng = jax.random.split(key, 5)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim))
    pi = bppo.policy_net(spec.action_dim, config.hidden_dims, ppo.ACTIVATIONS[config.activation])
    q_net, v_net = critic_ensemble(2, config.q_hidden), StateValue(config.v_hidden)
    members = members_init(k_m, pi, spec.obs_dim, config.num_members, config.bc_lr)
    improving = members_from(pi, members.params, optax.linear_schedule(config.improve_lr, 0.0, config.improve_steps), config.improve_grad_clip)
    # the online optimisers' lr schedules are set per online phase (begin_phase → online_stage)
    actor = make_state(pi, member(members.params, 0), config.actor_lr, config.max_grad_norm, config.adam_eps)
    value = make_state(v_net, v_net.init(k_v, obs), config.v_lr)
    online_critic = make_state(v_net, value.params, config.critic_lr, config.max_grad_norm, config.adam_eps)
    critic = make_state(q_net, q_net.init(k_q, obs, act), config.q_lr)
    d_net = dynamics.GaussianEnsemble(spec.obs_dim + 1, config.dynamics_members, config.dynamics_hidden)
    d_in = spec.obs_dim + spec.action_dim
    model = dynamics.DynamicsModel(d_net.init(k_d, jnp.zeros((config.dynamics_members, 1, d_in))), jnp.zeros(d_in), jnp.ones(d_in),
                                   jnp.arange(config.dynamics_elites, dtype=jnp.int32), jnp.zeros(config.dynamics_members), d_net)
    e = config.num_members
    no = jnp.zeros((), bool)
    return State(actor, online_critic, members, improving, members.params, jnp.full(e, NO_SCORE, jnp.float32), jnp.full(e, NO_SCORE, jnp.float32), critic,
                 critic.params, value, model, jnp.zeros((), jnp.int32), jnp.zeros(spec.obs_dim), jnp.ones(spec.obs_dim),
                 jnp.zeros(()), no, no, rng, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), config,
                 bppo.stages(spec, config.improve_steps), config, spec.num_envs)


# ------------------------------------------------------------------ phase hooks


def begin_offline(state: State, dataset, transforms, task: str) -> State:
    """Host side, before an offline phase: fit the dynamics ensemble on the phase's data (§4.4)."""
    model = fit_model(state.model, dataset, transforms, state.config, jax.random.fold_in(state.rng, 4))
    return state.replace(model=model.replace(termination="none"), model_ready=jnp.ones((), bool),
                         termination=jnp.asarray(TERMINATION_IDS[dynamics.termination_for(task)], jnp.int32),
                         obs_mean=jnp.asarray(transforms.obs_mean), obs_std=jnp.asarray(transforms.obs_std),
                         obs_clip=jnp.asarray(transforms.obs_clip, jnp.float32))


def begin_phase(state: State, phase) -> State:
    """Offline after online (o-o-o): members ← the online actor. Online after offline: V ← the offline V,
    then PPO fine-tuning. Online first (o-o-o stage 1): PPO from scratch (``online_stage``)."""
    if phase.kind == "offline":
        if phase.index == 0:
            return state
        params = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (state.config.num_members, *x.shape)), state.actor.params)
        return state.replace(members=state.members.replace(params=params), from_actor=jnp.ones((), bool))
    if phase.index > 0:
        state = state.replace(online_critic=state.online_critic.replace(params=state.value.params))
    return online_stage(state, phase)


def online_stage(state: State, phase) -> State:
    """The online phase's PPO values and fresh Adam states, lr decayed over this phase's rollouts (§4.8
    step 4): from scratch (phase 0, ``pretrain_*``) or Uni-O4's fine-tuning values (after an offline phase)."""
    c = state.config
    ppo_config = c if phase.index > 0 else replace(
        c, actor_lr=c.pretrain_actor_lr, critic_lr=c.pretrain_critic_lr, clip_coef=c.pretrain_clip_coef,
        ent_coef=c.pretrain_ent_coef, running_obs_norm=c.pretrain_running_obs_norm,
        running_reward_scale=c.pretrain_running_reward_scale)
    rollouts = phase.steps // (c.num_steps * state.num_envs)
    lr = lambda value: ppo.rollout_lr(value, c.grad_steps_per_rollout, rollouts, c.anneal_lr)  # noqa: E731
    return state.replace(
        actor=fresh_optimiser(state.actor, lr(ppo_config.actor_lr), c.max_grad_norm, c.adam_eps),
        online_critic=fresh_optimiser(state.online_critic, lr(ppo_config.critic_lr), c.max_grad_norm, c.adam_eps),
        ppo_config=ppo_config,
    )


def restart_improvement(state: State, **changes) -> State:
    """The state at the start of the improvement stage (§4.6), with ``changes`` to its config values
    (e.g. ``improve_lr``): π^i_θ = π^i_k = the BC members, a fresh Adam whose lr decays over
    ``improve_steps``; the critics, members and dynamics model are kept."""
    config = replace(state.config, **changes)
    improving = state.improving.replace(params=state.members.params)
    if {"improve_lr", "improve_steps", "improve_grad_clip"} & set(changes):  # a new schedule: a new optimiser
        lr = optax.linear_schedule(config.improve_lr, 0.0, config.improve_steps)
        restart = lambda m: fresh_optimiser(m, lr, config.improve_grad_clip)  # noqa: E731
    else:  # the same optimiser with fresh moments: the state keeps its structure (no recompilation)
        restart = lambda m: m.replace(opt_state=m.tx.init(m.params), step=jnp.zeros((), jnp.int32))  # noqa: E731
    return state.replace(config=config, improving=jax.vmap(restart)(improving), step=jnp.asarray(state.pretrain_steps, jnp.int32))


# ------------------------------------------------------------------ offline update


def q_min(state: State):
    return lambda obs, act: state.critic.apply_fn(state.critic.params, obs, act).min(axis=0)


def supervised(state: State, batch: Batch) -> tuple[State, dict]:
    """IQL critics (§4.2) and the BC ensemble (§4.3), each while its own budget lasts."""
    config, step = state.config, state.step
    critic_steps = state.pretrain_steps if config.critic_steps is None else config.critic_steps

    def critic_step():
        value, v_info = apply_grad(state.value, lambda p: iql.value_loss(p, state, batch))
        critic, q_info = apply_grad(state.critic, lambda p: iql.critic_loss(p, state.replace(value=value), batch))
        target = jax.lax.cond(step % config.target_every == 0, lambda: polyak(state.critic_target, critic.params, config.tau),
                              lambda: state.critic_target)
        return (value, critic, target), {**v_info, **q_info}

    def bc_loss(params):
        mean, log_std = members_apply(state.members.apply_fn, params, batch["observations"])
        losses, info = disagreement_losses(mean, log_std, batch["actions"], config.bc_alpha, config.bc_mode)
        return losses.sum(), info

    def bc_step():
        grads, info = jax.grad(bc_loss, has_aux=True)(state.members.params)
        return step_members(state.members, grads), info

    (value, critic, target), critic_info = while_on(step < critic_steps, critic_step,
                                                    (state.value, state.critic, state.critic_target))
    # online-offline-online: no BC, the members are the online actor (``from_actor`` is shared across seeds: a branch)
    members, bc_info = while_on((step < config.bc_steps) & ~state.from_actor, bc_step, state.members)
    actor = jax.tree_util.tree_map(lambda a, b: jnp.where(state.from_actor, a, b), state.actor,
                                   state.actor.replace(params=member(members.params, 0)))
    state = state.replace(members=members, actor=actor, value=value, critic=critic, critic_target=target)
    return state, {**critic_info, **bc_info}


def ope_scores(state: State, params: dict, obs: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
    """AM-Q of every member (one-step Q score when no model was fitted, e.g. outside the trainer)."""
    config, apply_fn, q_fn = state.config, state.improving.apply_fn, q_min(state)
    raw = obs * state.obs_std + state.obs_mean

    def amq():
        return amq_scores(apply_fn, params, q_fn, state.model, state.termination, raw, state.obs_mean, state.obs_std,
                          state.obs_clip, config.ope_horizon, key)

    return jax.lax.cond(state.model_ready, amq, lambda: jax.vmap(lambda p: bppo.q_score(apply_fn, p, q_fn, obs))(params))


def improve(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict]:
    config, obs = state.config, batch["observations"]
    i = state.step - state.pretrain_steps
    first = i == 0
    start = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(first, a, b), new, old)  # noqa: E731
    improving = state.improving.replace(params=start(state.members.params, state.improving.params))
    behaviour, best = start(state.members.params, state.behaviour), jnp.where(first, NO_SCORE, state.best)
    k_ope, k_act = jax.random.split(key)
    gate = i % config.ope_every == 0  # before this step's update: i = 0 scores the initial policies
    scores = jax.lax.cond(gate, lambda: ope_scores(state, improving.params, obs, k_ope), lambda: jnp.full_like(best, -jnp.inf))
    behaviour, better = bppo.replace_if_better(scores, best, improving.params, behaviour)
    best, last = jnp.where(better, scores, best), jnp.where(gate, scores, state.last)
    clip = config.improve_clip * (1.0 - jnp.minimum(i, config.decay_until) / config.improve_steps)
    adv = lambda o, a: q_min(state)(o, a) - state.value.apply_fn(state.value.params, o)  # noqa: E731
    step = partial(bppo.improve_step, obs=obs, advantage_fn=adv, clip=clip, omega=None)
    k_act, k_other = jax.random.split(k_act)
    if config.kl_update:  # Eq. 25: every member's behaviour policy, (E, B, A) means and log-stds
        behaviour_dist = jax.vmap(lambda p: state.improving.apply_fn(p, obs))(behaviour)

    def member_step(m, b, k, i):
        if not config.kl_update:
            return step(m, b, key=k)
        others = lambda a: other_log_prob(behaviour_dist, a, i, config.kl_strategy, jax.random.fold_in(k_other, i))  # noqa: E731
        return step(m, b, key=k, penalty_fn=lambda log_prob, a: disagreement_penalty(log_prob, others(a), config.kl_alpha))

    members_index = jnp.arange(config.num_members)
    improving, info = jax.vmap(member_step)(improving, behaviour, jax.random.split(k_act, config.num_members), members_index)
    actor = state.actor.replace(params=member(improving.params, jnp.argmax(last)))
    info = {"penalty": jnp.zeros(()), **{k: v.mean() for k, v in info.items()}}
    info.update(ope_best=best.max(), replaced=better.sum().astype(jnp.float32), selected=jnp.argmax(last).astype(jnp.float32))
    return state.replace(improving=improving, behaviour=behaviour, best=best, last=last, actor=actor), info


def other_log_prob(behaviour_dist, actions: jnp.ndarray, i, strategy: str, key: jax.Array) -> jnp.ndarray:
    """log π^j_k(a|s) of another member j ≠ i (Eq. 25): the highest over j (``max``) or one drawn at random."""
    means, log_stds = behaviour_dist
    log_probs = jax.vmap(lambda m, s: normal_log_prob(actions, m, s))(means, log_stds)  # (E, B)
    count = log_probs.shape[0]
    if strategy == "max":
        return jnp.where((jnp.arange(count) == i)[:, None], -jnp.inf, log_probs).max(axis=0)
    j = (i + 1 + jax.random.randint(key, (), 0, count - 1)) % count
    return log_probs[j]


def disagreement_penalty(log_prob: jnp.ndarray, others: jnp.ndarray, alpha: float) -> jnp.ndarray:
    """−α · mean(log π^i_θ(a|s) − sg(log π^j_k(a|s)))  (Uni-O4 Eq. 25, §4.6 table)."""
    return -alpha * jnp.mean(log_prob - jax.lax.stop_gradient(others))


update = bppo.make_update(supervised, improve, ("value_loss", "v_mean", "critic_loss", "q_mean", "bc_loss", "disagreement"),
                          ("actor_loss", "clip_frac", "approx_kl", "entropy", "penalty", "ope_best", "replaced", "selected"))


# ------------------------------------------------------------------ online (§4.8)


def update_rollout(state: State, rollout: dict) -> tuple[State, dict]:
    """PPO's update on the actor and the online V (ppo.update_rollout on a PPO view of the state)."""
    view, metrics = ppo.update_rollout(ppo.State(state.actor, state.online_critic, state.rng, state.rollouts, state.ppo_config), rollout)
    return state.replace(actor=view.actor, online_critic=view.critic, rng=view.rng, rollouts=view.step), metrics


act = ppo.act
