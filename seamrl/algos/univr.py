"""UNIVR — unified RL via implicit value regularization (Xu et al., NeurIPS 2025); algorithms.md §3.

Policy classes (``policy``): "gaussian" (§3.5) and "diffusion" (§3.6: ε-prediction DDPM, T = 10, VP
schedule, clipped ancestral sampler, MLP "U-net"); both behind the small interface of
:mod:`seamrl.algos.univr_policies`, so the estimators (:mod:`seamrl.algos.univr_inpg`) are written
once. InPG estimators (``estimator``): E1 (default, below), E2 (§3.4.2, per-state projection) and
the diagnostic E3 (§3.4.3, Gaussian only: closed-form u = ⟨p, g⟩_+/‖g‖² in distribution-parameter
space, weight net unused). Online-from-scratch runs need no flag: see "Online from scratch" below.

Per update (§3.7), on a batch (s, a, r, s', m) with reference actions a^μ:

* a^μ: offline (``state.online`` False) the dataset actions; online (``state.online`` True) fresh
  samples from π̄(·|s) (§3.2), unclipped as ℓ's targets (``clip_reference_bc``). One jitted update
  serves both phases (``lax.cond`` on the flag, no recompilation; π̄ is sampled only online).
* V step (§3.2): IVR's dual loss (``ivr.sql_value_loss`` for χ², ``ivr.eql_value_loss`` for KL) on
  q = min_k Q̄_k(s, clip(a^μ)) (target critics, actions clipped to ±(1 − ``dataset_action_clip``),
  §3.5), averaged over ``reference_samples`` draws online.
* Q step: Σ_k mean (Q_k(s, a) − r − γ m V(s'))² on the *stored* actions, with the new V.
* Weight-net step, estimator E1 (§3.4.1): with ℓ_i(θ) = log π_θ(a^μ_i|s_i) (diffusion:
  −‖ε_i − ε_θ(x_{t_i}, s_i, t_i)‖², one draw (t_i, ε_i) per update), u_i = act(w_φ(s_i, a^μ_i)),
  G_PG = ∇_θ mean_i min_k Q_k(s_i, ã_i) (reparameterised ã: Gaussian m + σξ with a straight-through
  clip to [−1, 1]; diffusion the sampler, back-propagated through its last ``pg_through_last_k_steps``
  reverse steps; current critics frozen), G_BC = ∇_θ mean_i sg(u_i) ℓ_i, r = sg(G_PG − G_BC) over the
  parameter subset Θ_S (``inpg_params``), c_i = ⟨∇_θ ℓ_i, r⟩ by ONE ``jax.jvp`` of θ ↦ (ℓ_1..ℓ_B) along
  r, and L_w(φ) = −(2/B) Σ_i sg(c_i) u_i + ρ mean_i u_i²  (its gradient is ∇_φ ‖G_PG − G_BC(w_φ)‖²).
* Actor step: ŵ = clip((u − min u)/(max u − min u + 1e-6), w_min, w_max), detached, from the
  updated weight net; L_π = −mean ŵ ℓ_i(θ) (Gaussian: weighted log-likelihood; diffusion: weighted
  denoising loss, Eq. 9), with the same draw as G_BC.
* Polyak on Q̄ (τ = 0.005); online: π̄ ← λ π + (1 − λ) π̄ (parameters, per gradient step, §3.3).

Phases (``begin_phase``): an online phase sets ``state.online``; an online phase after an earlier
phase (the offline → online switch) sets π̄ ← π (§3.3, §3.7 O2O step 2); online from scratch has
π̄ = π from ``init``. Optimiser states and targets are kept across the switch.

Online from scratch vs offline / O2O (§3.5, §3.9) is decided in ``init`` from the ``AgentSpec``: a
run with online steps and no offline steps uses ``online_hidden_dims`` (3×256), ``online_lr``
(1e-3), ``online_state_dependent_std`` (True), λ = ``online_ref_lambda`` (0.2, Table 3 MuJoCo) and, [I, measured],
for the Gaussian ``estimator`` E3, ``clip_reference_bc`` True and ``log_std_min`` −2.3 (σ ≥ 0.1) unless set;
otherwise ``hidden_dims`` (4×256), ``lr`` (2e-4), ``state_dependent_std`` (False) and, for O2O,
λ = ``o2o_ref_lambda`` (0.01, Table 5). An explicit ``ref_lambda`` wins. The values in use are
recorded in ``state.config``.

Logged per update (``metrics.csv``): ``v_mean``, ``q_mean``, ``q_pi_mean`` (min Q at π's samples ã),
``adv_mean``; the weights ŵ (``weight_mean/std/min/max``), ``u_dead_frac`` (weight-net outputs at 0),
``alignment_pos_frac`` (c_i > 0), ``df_estimate`` and its bound ``df_upper`` (§3.10.4); where π acts:
``pi_at_bound_frac`` (share of ã's components at ±1), ``pi_ref_gap`` (mean |ã − a^μ|) and, online,
``ref_action_shift`` (mean |a^π̄ − stored action|, how far π̄ has left the buffer's actions).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import flax.struct as struct
import jax
import jax.numpy as jnp

from seamrl.algos.common import AgentConfig, AgentSpec, Batch, apply_grad, make_state, polyak, split
from seamrl.algos.iql import critic_loss  # Q ← r + γ m V(s') on stored actions, as IQL/IVR
from seamrl.algos.ivr import DIVERGENCES, canonical_divergence, eql_value_loss, resolve_alpha, sql_value_loss
from seamrl.algos.univr_inpg import WeightNet, policy_step
from seamrl.algos.univr_policies import POLICY_CLASSES, policy_class
from seamrl.config import task_family
from seamrl.errors import ConfigError
from seamrl.nets import StateValue, critic_ensemble
from seamrl.nets import diffusion as ddpm

SETTINGS = ("offline", "online", "offline-to-online")
POLICY = "gaussian|diffusion"

POLICIES = tuple(POLICY_CLASSES)  # §3.1: "gaussian" (§3.5), "diffusion" (§3.6)
ESTIMATORS = ("E1", "E2", "E3")  # §3.4.1–3.4.3
E3_TARGETS = ("projection", "alignment", "cosine")  # §3.4.3 per-state least squares | [I] variants
PARAM_SUBSETS = ("all", "last2", "last")  # Θ_S of §3.4.1 (notes) / §3.4.2
WEIGHT_ACTIVATIONS = ("relu", "softplus")


@dataclass(frozen=True)
class Config(AgentConfig):
    """UNIVR defaults (algorithms.md §3.9, [P:UNIVR Tables 2–5]) and the [I] decisions of §3.4–3.6."""

    policy: str = "gaussian"  # §3.1: "gaussian" (§3.5) | "diffusion" (§3.6)
    divergence: str = "chi2"  # §3.1 "Which f?": χ² (SQL form) default; "kl" (EQL form) behind the flag
    alpha: float | None = None  # None → sql_alpha (χ²) or eql_alpha (KL), as ivr.resolve_alpha
    sql_alpha: float = 1.0  # Table 4 MuJoCo α = 1.0 (Table 3 online MuJoCo: 1.0)
    eql_alpha: float = 2.0  # [I] the paper gives no KL α; IVR's EQL MuJoCo value (§2.4)
    ref_lambda: float | None = None  # λ of π̄ ← λπ + (1 − λ)π̄; None → online_ref_lambda / o2o_ref_lambda
    online_ref_lambda: float = 0.2  # Table 3: MuJoCo (Hopper, Walker, ...) λ = 0.2
    o2o_ref_lambda: float = 0.01  # Table 5: λ = 0.01 everywhere
    lr: float = 2e-4  # Table 2: 0.0002 offline (and O2O, §3.7 O2O step 5), all networks
    online_lr: float = 1e-3  # Table 2 / §D.1: 0.001 online from scratch
    hidden_dims: tuple[int, ...] = (256, 256, 256, 256)  # Table 2: MLP [256, 256, 256, 256]
    online_hidden_dims: tuple[int, ...] = (256, 256, 256)  # §D.1 "3-layer MLP" online (§9.3: 3 hidden layers)
    state_dependent_std: bool = False  # §3.5 [I]: offline / O2O state-independent log-std (IVR style)
    online_state_dependent_std: bool = True  # §3.5 [I]: online from scratch, state-dependent log-std head
    diffusion_steps: int = 10  # Table 2: 10 diffusion steps (§3.6, §9.3: VP schedule, clipped DDPM)
    score_widths: tuple[int, ...] = (512, 256, 128)  # §3.6: U-net down widths (up 256 → 512)
    pg_through_last_k_steps: int = 10  # §3.6: G_PG back-propagated through the last k reverse steps (10 = all)
    best_of_n: int = 1  # §3.6: acting with the best of N samples under min Q (not the paper's; 1 = off)
    tau: float = 0.005  # Table 2 target smoothing
    value_layer_norm: bool = True  # §3.5 [I, as IVR]
    w_min: float = 0.1  # Table 2 / §D.1
    w_max: float = 0.9
    # §3.4.1 E1 (weight net + JVP) | "E2" (§3.4.2) | "E3" (§3.4.3, Gaussian only); None → E1, but E3 for the
    # Gaussian online from scratch (below)
    estimator: str | None = None
    e3_target: str = "projection"  # §3.4.3 t = ⟨p, g⟩₊/‖g‖² | "alignment" | "cosine" ([I], univr_inpg.e3_weights)
    # Θ_S: "all" | "last2" | "last"; None → "last2" for E2 and for the diffusion policy (§9.3: the last two
    # layers for large / diffusion nets; 9.7 against 11.4 GFLOP per update), "all" otherwise (§3.4.1 step 3)
    inpg_params: str | None = None
    e2_regress: bool = True  # §3.4.2: regress w_φ onto sg(t_i) (MSE); False: u_i = t_i directly
    ridge: float = 1e-4  # ρ of L_w (§3.4.1 step 5)
    # §3.4.1: "relu" u = max(w, 0) [P] | "softplus", the spec's switch "if many outputs die"; None → relu for the
    # Gaussian, softplus for the diffusion policy, whose relu net died on pointmaze-umaze-v0 (every output of one
    # seed for good, so ŵ ≡ 0.1: diffusion BC), measured in benchmarks/README.md "UNIVR with the diffusion policy"
    weight_activation: str | None = None
    uniform_weight_guard: bool = False  # §3.4.1 optional guard: uniform ŵ when (max u − min u) < 1e-3 mean u
    reference_samples: int = 1  # §3.2 K: π̄ samples per state in the online V loss (BC uses the first)
    reward_transform: str = "range"  # §3.7 offline step 1: MuJoCo ×1000/(R_max − R_min)
    dataset_action_clip: float = 1e-5  # §3.5: dataset actions clipped to ±(1 − 1e-5); π̄ samples in the V loss too
    # §3.5 [I] also clips the π̄ samples that are ℓ's targets online. Fitting π on clipped samples of π̄ ≈ π is
    # biased: near the bound they have a smaller spread and an inward-pulled mean, so σ shrinks and the mean
    # drifts every step (hopper-medium O2O: 38 → 14 normalised in 2k online steps). None → False (unclipped
    # targets) when fine-tuning, True online from scratch (below).
    clip_reference_bc: bool | None = None
    log_std_min: float | None = None  # §3.5 [I]: log σ clipped to [log_std_min, 2]; None → −5 (IVR), −2.3 online from scratch
    # Online from scratch (§3.7 online) [I, measured on Hopper-v5, benchmarks/README.md "UNIVR online from scratch"]:
    # with E1 every output of the relu weight net died within 3k updates (while the critic is flat, G_PG ≈ 0 makes
    # u = 0 the least-squares optimum) and stayed dead, so π learnt by uniform BC on π̄'s samples; with unclipped
    # targets σ then grows to the log-std cap, with clipped ones it shrinks to ≈ 0.02. E3 (no weight net), clipped
    # targets and a floor σ ≥ 0.1 (log 0.1 = −2.3, TD3's exploration noise) learnt on both seeds probed. These are
    # the defaults that the None values above resolve to there (the Gaussian; diffusion keeps E1).

    def __post_init__(self):
        def bad(message: str):
            raise ConfigError(f"UNIVR {message}")

        if self.policy not in POLICIES:
            bad(f"policy '{self.policy}' is unknown; expected 'gaussian' or 'diffusion'.")
        if str(self.divergence).lower() not in DIVERGENCES:
            bad(f"divergence '{self.divergence}' is unknown; expected 'chi2' or 'kl'.")
        if self.estimator is not None and self.estimator not in ESTIMATORS:
            bad(f"estimator '{self.estimator}' is unknown; expected one of {', '.join(ESTIMATORS)}.")
        if self.estimator == "E3" and self.policy != "gaussian":
            bad("estimator 'E3' works in the Gaussian's parameter space (§3.4.3); use 'E1' or 'E2' with a diffusion policy.")
        if self.e3_target not in E3_TARGETS:
            bad(f"e3_target '{self.e3_target}' is unknown; expected one of {', '.join(E3_TARGETS)}.")
        if self.inpg_params is not None and self.inpg_params not in PARAM_SUBSETS:
            bad(f"inpg_params '{self.inpg_params}' is unknown; expected one of {', '.join(PARAM_SUBSETS)}.")
        if self.weight_activation is not None and self.weight_activation not in WEIGHT_ACTIVATIONS:
            bad(f"weight_activation '{self.weight_activation}' is unknown; expected 'relu' or 'softplus'.")
        for name in ("alpha", "sql_alpha", "eql_alpha"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                bad(f"{name} is {value}; it must be positive.")
        for name in ("ref_lambda", "online_ref_lambda", "o2o_ref_lambda"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                bad(f"{name} is {value}; it must lie in [0, 1].")
        if not 0.0 <= self.w_min <= self.w_max <= 1.0:
            bad(f"weight clip [{self.w_min}, {self.w_max}] must satisfy 0 ≤ w_min ≤ w_max ≤ 1.")
        for name in ("reference_samples", "diffusion_steps", "best_of_n"):
            if getattr(self, name) < 1:
                bad(f"{name} is {getattr(self, name)}; it must be at least 1.")
        if not 0 <= self.pg_through_last_k_steps <= self.diffusion_steps:
            bad(f"pg_through_last_k_steps is {self.pg_through_last_k_steps}; it must lie in [0, diffusion_steps].")


PRESETS: dict[str, dict] = {
    "locomotion": {"sql_alpha": 1.0, "reward_transform": "range"},  # Tables 3–4
    # Table 4 offline AntMaze α = 0.1 (umaze-diverse 2.0 and O2O 0.5: task_presets). §3.7: AntMaze rewards r − 1.
    "antmaze": {"sql_alpha": 0.1, "reward_transform": "none", "reward_shift": -1.0},
    # Table 5 O2O: door/hammer/relocate-cloned α = 2.0 (pen-cloned 1.0: task_presets)
    "adroit": {"sql_alpha": 2.0, "reward_transform": "none"},
    "kitchen": {"reward_transform": "none"},  # [I] no UNIVR value; IVR's raw rewards
    "maze": {"reward_transform": "none"},
}

# Per-environment rows of Tables 3 (online: α, λ), 4 (offline: α) and 5 (O2O: α); matched on the lower-cased task name.
ONLINE_TABLE3 = {"antbulletenv": {"online_ref_lambda": 0.1}, "bipedalwalker": {"online_ref_lambda": 0.1},
                 "finger-turn_hard": {"sql_alpha": 0.5, "online_ref_lambda": 0.1},
                 "quadruped-walk": {"sql_alpha": 0.5, "online_ref_lambda": 0.1}}
O2O_TABLE5 = {"pen-": {"sql_alpha": 1.0}, "antmaze": {"sql_alpha": 0.5}}  # door/hammer/relocate: the adroit preset (2.0)
OFFLINE_TABLE4 = {"antmaze-umaze-diverse": {"sql_alpha": 2.0}}
# [I, measured] Table 5's λ = 0.01 is for AntMaze / Adroit; the paper has no MuJoCo O2O. On hopper-medium-v0
# (50k offline steps, seed 0) λ = 0.01 lost the policy within 2k online steps (1127 → 8 return); λ = 0.001
# reached 93 normalised at 7.5k steps but lost it at 10k: a slower π̄ delays the collapse, it does not
# prevent it (benchmarks/README.md, UNIVR O2O).
O2O_LOCOMOTION = {"o2o_ref_lambda": 0.001}
LOG_STD_MIN = -5.0  # §3.5: IVR's lower log-std bound
SCRATCH_LOG_STD_MIN = -2.3  # [I, measured] online from scratch: σ ≥ 0.1 (see Config: online from scratch)


def task_presets(task: str, setting: str) -> dict:
    """Table 3 online rows for the non-MuJoCo envs, Table 5's O2O α for pen and AntMaze (0.5, where
    offline AntMaze uses 0.1), Table 4's umaze-diverse α = 2.0, and the O2O λ for MuJoCo locomotion
    (``O2O_LOCOMOTION``, not in the paper)."""
    table = {"online": ONLINE_TABLE3, "offline-to-online": O2O_TABLE5, "offline": OFFLINE_TABLE4}.get(setting, {})
    t = task.lower()
    values = next((values for key, values in table.items() if key in t), {})
    if setting == "offline-to-online" and task_family(task) == "locomotion":
        values = {**O2O_LOCOMOTION, **values}
    return values


@struct.dataclass
class State:
    actor: object  # TrainState of π_θ (Gaussian policy or score network)
    actor_ref: object  # π̄ parameters (same module as the actor)
    critic: object
    critic_target: object
    value: object
    weight: object  # TrainState of w_φ
    rng: jax.Array
    step: jnp.ndarray
    online: jnp.ndarray  # bool scalar: μ = π̄ (True) or the dataset (False)
    config: Config = struct.field(pytree_node=False)


def resolve(config: Config, spec: AgentSpec) -> Config:
    """The config in use: α, λ, Θ_S, the weight activation and (online from scratch) the online architecture / lr, recorded."""
    from_scratch = spec.offline_steps == 0 and spec.online_steps > 0
    lam = config.ref_lambda
    if lam is None:
        lam = config.online_ref_lambda if from_scratch else config.o2o_ref_lambda
    changes = {"alpha": resolve_alpha(config), "ref_lambda": float(lam)}
    if from_scratch:
        changes.update(
            hidden_dims=tuple(config.online_hidden_dims),
            lr=config.online_lr,
            state_dependent_std=config.online_state_dependent_std,
        )
    scratch_gaussian = from_scratch and config.policy == "gaussian"  # the measured online defaults (Config)
    estimator = config.estimator or ("E3" if scratch_gaussian else "E1")
    clip_bc = from_scratch if config.clip_reference_bc is None else config.clip_reference_bc
    log_std_min = (SCRATCH_LOG_STD_MIN if from_scratch else LOG_STD_MIN) if config.log_std_min is None else config.log_std_min
    subset = config.inpg_params or ("last2" if estimator == "E2" or config.policy == "diffusion" else "all")
    activation = config.weight_activation or ("softplus" if config.policy == "diffusion" else "relu")
    return dataclasses.replace(config, **changes, estimator=estimator, inpg_params=subset, clip_reference_bc=clip_bc,
                               log_std_min=log_std_min, weight_activation=activation)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    config = resolve(config, spec)
    k_actor, k_critic, k_value, k_weight, rng = jax.random.split(key, 5)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim))
    dims = tuple(config.hidden_dims)
    pc = policy_class(config)
    actor_net = pc.module(spec.action_dim, config)
    critic_net = critic_ensemble(2, dims)
    value_net = StateValue(dims, layer_norm=config.value_layer_norm)
    bias = 1.0 if config.weight_activation == "relu" else math.log(math.e - 1.0)  # u ≈ 1 at init
    weight_net = WeightNet(dims, bias_init=bias)
    actor = make_state(actor_net, actor_net.init(k_actor, *pc.init_args(obs, act)), config.lr)
    critic = make_state(critic_net, critic_net.init(k_critic, obs, act), config.lr)
    value = make_state(value_net, value_net.init(k_value, obs), config.lr)
    weight = make_state(weight_net, weight_net.init(k_weight, obs, act), config.lr)
    return State(
        actor=actor,
        actor_ref=actor.params,  # π̄ = π at init (online from scratch, §3.7 online step 1)
        critic=critic,
        critic_target=critic.params,
        value=value,
        weight=weight,
        rng=rng,
        step=jnp.zeros((), jnp.int32),
        online=jnp.zeros((), jnp.bool_),
        config=config,
    )


def begin_phase(state: State, phase) -> State:
    """Online phase: μ = π̄; after an earlier phase (offline → online switch) π̄ ← π (§3.3)."""
    online = phase.kind == "online"
    state = state.replace(online=jnp.asarray(online, jnp.bool_))
    if online and phase.index > 0:
        state = state.replace(actor_ref=jax.tree_util.tree_map(jnp.array, state.actor.params))
    return state


# ---------------------------------------------------------------------------------------
# Pieces of the update (pure; the tests drive them directly).


def reference_actions(state: State, batch: Batch, key: jax.Array) -> jnp.ndarray:
    """(K, B, A) actions from μ: dataset actions offline, π̄ samples online (§3.2), clipped to the
    action bound only with ``clip_reference_bc`` (the V loss clips them itself: ``value_loss``)."""
    c = state.config
    actions = batch["actions"]
    shape = (c.reference_samples,) + actions.shape
    bound = 1.0 - c.dataset_action_clip if c.clip_reference_bc else jnp.inf

    def from_pi_bar():
        pc = policy_class(c)
        return pc.reference_samples(state.actor.apply_fn, state.actor_ref, batch["observations"], key,
                                    c.reference_samples, bound, c)

    return jax.lax.cond(state.online, from_pi_bar, lambda: jnp.broadcast_to(actions, shape))


def value_loss(params, state: State, obs: jnp.ndarray, ref: jnp.ndarray):
    """L_V on q = min_k Q̄_k(s, a^μ), a^μ clipped to ±(1 − ``dataset_action_clip``) (the actions the env
    would execute; a no-op on dataset actions), each of the K reference samples a term of the mean."""
    c = state.config
    bound = 1.0 - c.dataset_action_clip
    q = jax.vmap(lambda a: state.critic.apply_fn(state.critic_target, obs, jnp.clip(a, -bound, bound)).min(axis=0))(ref)  # (K, B)
    v = state.value.apply_fn(params, obs)
    fn = sql_value_loss if canonical_divergence(c) == "chi2" else eql_value_loss
    loss = fn(q, jnp.broadcast_to(v, q.shape), resolve_alpha(c))
    return loss, {"value_loss": loss, "v_mean": v.mean(), "adv_mean": (q - v).mean()}


def update(state: State, batch: Batch) -> tuple[State, dict]:
    c = state.config
    rng, k_ref, k_pg = split(state.rng, 2)
    obs = batch["observations"]
    ref = reference_actions(state, batch, k_ref)  # (K, B, A)
    value, v_info = apply_grad(state.value, lambda p: value_loss(p, state, obs, ref))  # V (target Q at a^μ)
    state = state.replace(value=value)
    critic, c_info = apply_grad(state.critic, lambda p: critic_loss(p, state, batch))  # Q (new V)
    q_fn = lambda s, a: critic.apply_fn(critic.params, s, a).min(axis=0)  # noqa: E731  current critics
    actor, weight, p_info = policy_step(state.actor, state.weight, obs, ref[0], q_fn, k_pg, c)
    averaged = polyak(state.actor_ref, actor.params, c.ref_lambda)  # π̄ ← λπ + (1 − λ)π̄ (online only)
    actor_ref = jax.tree_util.tree_map(lambda new, old: jnp.where(state.online, new, old), averaged, state.actor_ref)
    state = state.replace(
        actor=actor,
        actor_ref=actor_ref,
        critic=critic,
        critic_target=polyak(state.critic_target, critic.params, c.tau),
        weight=weight,
        rng=rng,
        step=state.step + 1,
    )
    ref_shift = jnp.abs(ref[0] - batch["actions"]).mean()  # 0 offline; > 0 online (μ = π̄)
    return state, {**v_info, **c_info, **p_info, "ref_action_shift": ref_shift}


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool) -> jnp.ndarray:
    """Gaussian: tanh-mean (deterministic) or a clipped sample; diffusion: one sampler draw (§3.6),
    or with ``best_of_n`` > 1 the best of N draws under min_k Q_k (current critics)."""
    c = state.config
    pc = policy_class(c)
    sample = lambda o, k: pc.act(state.actor.apply_fn, state.actor.params, o, k, deterministic, c)  # noqa: E731
    if c.best_of_n > 1:
        q_fn = lambda o, a: state.critic.apply_fn(state.critic.params, o, a).min(axis=0)  # noqa: E731
        return ddpm.best_of_n(sample, q_fn, obs, key, c.best_of_n)
    return sample(obs, key)
