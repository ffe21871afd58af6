"""IVR — implicit value regularization (Xu et al., ICLR 2023): SQL (χ²) and EQL (KL); algorithms.md §2.

With q = min_k Q̄_k(s, a) (target critics) and v = V(s), as implemented in ryanxhr/IVR (§2.2):

Value, SQL (``divergence="chi2"``):  z = (q − v)/(2α) + 1,   L_V = mean(1[z > 0] z² + v/α)
Value, EQL (``divergence="kl"``):    x = min((q − v)/α, 5),  M = sg(max(max_batch x, −1)),
                                     L_V = mean(exp(x − M) + exp(−M) v/α)
Critic:  L_Q = Σ_k mean (Q_k(s, a) − r − γ m V(s'))²      (freshly updated V, no target V)
Actor:   L_π = −mean w log π(a|s)                          (q from Q̄, v from the updated V)

Actor weights (``weight_mode``), all clipped at ``max_weight`` = 100:

* ``"code"`` (default, the official code's, §2.2 [!]): SQL w = (q − v)_+ ; EQL w = exp(10 (q − v)/α).
* ``"theory"`` (the closed-form optimal ratio w* of §2.1): SQL w = (1 + (q − v)/(2α))_+ ;
  EQL w = exp((q − v)/α).

Update order (official code): V → actor → Q → Polyak on Q̄ (τ = 0.005).
Offline-to-online continues the same update on a buffer pre-filled with the dataset, acting
stochastically online (IVR's IQL-inherited ``train_finetune.py``, §2.5).

α depends on the divergence *and* the task family (§2.4). ``Config.alpha`` is ``None`` by default,
meaning "the family's default for the chosen divergence": ``sql_alpha`` for χ², ``eql_alpha`` for
KL; the family presets set both, so ``--set divergence=kl`` on AntMaze gives EQL's 0.5, not SQL's
0.1. An explicit ``alpha`` wins. :func:`resolve_alpha` does this; ``init`` records the resolved
value in ``state.config.alpha``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from seamrl.algos.common import (
    AgentConfig,
    AgentSpec,
    Batch,
    apply_grad,
    cosine_then_constant,
    make_state,
    polyak,
    split,
)
from seamrl.algos import iql
from seamrl.algos.iql import act, actor_loss, critic_loss  # noqa: F401 — protocol `act`; same weighted-BC actor, Q backup and acting as IQL
from seamrl.errors import ConfigError
from seamrl.nets import GaussianPolicy, StateValue, critic_ensemble

SETTINGS = ("offline", "offline-to-online")
POLICY = "gaussian"

DIVERGENCES = {"chi2": "chi2", "sql": "chi2", "kl": "kl", "eql": "kl"}  # accepted names → canonical
WEIGHT_MODES = ("code", "theory")
EQL_CODE_TEMPERATURE = 10.0  # official EQL actor: exp(10 (q − v)/α), not exp((q − v)/α) (§2.2 [!])
EQL_EXP_CLIP = 5.0  # EQL value loss: (q − v)/α clipped above at 5 (§2.2)
EQL_MIN_SHIFT = -1.0  # EQL value loss: the batch max-shift M is at least −1 (§2.2)


@dataclass(frozen=True)
class Config(AgentConfig):
    """ryanxhr/IVR MuJoCo defaults (§2.3–2.4: configs/mujoco_config.py, run_mujoco.sh); per-family
    values (AntMaze, Kitchen, ...) in ``PRESETS``."""

    divergence: str = "chi2"  # "chi2" = SQL, "kl" = EQL ("sql" / "eql" accepted as aliases)
    alpha: float | None = None  # None → sql_alpha or eql_alpha below, by divergence (see resolve_alpha)
    sql_alpha: float = 1.0  # §2.4 MuJoCo SQL α
    eql_alpha: float = 2.0  # §2.4 MuJoCo EQL α
    weight_mode: str = "code"  # actor weights: "code" (official, §2.2 [!]) | "theory" (w* of §2.1)
    max_weight: float = 100.0  # §1.5: advantage weights clipped at 100
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    online_actor_lr: float = 3e-4  # constant actor lr after the cosine decay of the offline phase (§1.7.6)
    hidden_dims: tuple[int, ...] = (256, 256)
    tau: float = 0.005
    value_layer_norm: bool = True  # §2.3: LayerNorm before each ReLU of V (all IVR configs)
    value_dropout: float = 0.0  # §2.3: AntMaze 0.5 (active while training V only)
    actor_dropout: float = 0.0  # §2.3: Kitchen 0.1
    reward_transform: str = "range"  # §1.2: r · 1000 / (R_max − R_min)
    dataset_action_clip: float = 1e-5  # §1.1.4: dataset actions clipped to ±(1 − 1e-5)

    def __post_init__(self):
        if str(self.divergence).lower() not in DIVERGENCES:
            raise ConfigError(f"IVR divergence '{self.divergence}' is unknown; expected 'chi2' (SQL) or 'kl' (EQL).")
        if self.weight_mode not in WEIGHT_MODES:
            raise ConfigError(f"IVR weight_mode '{self.weight_mode}' is unknown; expected 'code' or 'theory'.")
        for name in ("alpha", "sql_alpha", "eql_alpha"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"IVR {name} is {value}; it must be positive.")


PRESETS: dict[str, dict] = {
    # §2.4 MuJoCo column (same as the Config defaults, spelled out)
    "locomotion": {"sql_alpha": 1.0, "eql_alpha": 2.0, "reward_transform": "range"},
    # §2.4 AntMaze: lr 2e-4, SQL α 0.1, EQL α 0.5 (umaze-diverse: 3.0 / 5.0, set by hand), V dropout 0.5, r − 1
    "antmaze": {
        "sql_alpha": 0.1,
        "eql_alpha": 0.5,
        "actor_lr": 2e-4,
        "critic_lr": 2e-4,
        "value_lr": 2e-4,
        "online_actor_lr": 2e-4,
        "value_dropout": 0.5,
        "reward_transform": "none",
        "reward_shift": -1.0,
    },
    # §2.4 Kitchen: SQL α 0.5, EQL α 2.0, actor dropout 0.1, raw rewards
    "kitchen": {"sql_alpha": 0.5, "eql_alpha": 2.0, "actor_dropout": 0.1, "reward_transform": "none"},
    # not in IVR's configs [I]: MuJoCo α, raw rewards (as IQL's maze preset; §1.2 lists no transform for IVR-Adroit)
    "maze": {"reward_transform": "none"},
    "adroit": {"reward_transform": "none"},
}


def canonical_divergence(config: Config) -> str:
    """'chi2' or 'kl'."""
    return DIVERGENCES[str(config.divergence).lower()]


def resolve_alpha(config: Config) -> float:
    """The α in use: ``config.alpha`` if set, else ``sql_alpha`` (χ²) or ``eql_alpha`` (KL)."""
    if config.alpha is not None:
        return float(config.alpha)
    return float(config.sql_alpha if canonical_divergence(config) == "chi2" else config.eql_alpha)


# ---------------------------------------------------------------------------------------
# Pure losses and weights (shared with UNIVR, §3.2).


def sql_value_loss(q: jnp.ndarray, v: jnp.ndarray, alpha: float) -> jnp.ndarray:
    """SQL (χ²) value loss as implemented: mean(1[z > 0] z² + v/α), z = (q − v)/(2α) + 1.

    The squared *positive part* (§2.1 [!]): where z ≤ 0 the squared term and its gradient are 0.
    Equals (1/α) × the dual E[v + α f((q − v)/α)] with f(x) = ((x/2 + 1)_+)², same minimiser.
    ``q`` is treated as a constant by the caller (target critics).
    """
    z = (q - v) / (2.0 * alpha) + 1.0
    return jnp.mean(jnp.where(z > 0, z, 0.0) ** 2 + v / alpha)


def eql_value_loss(q: jnp.ndarray, v: jnp.ndarray, alpha: float) -> jnp.ndarray:
    """EQL (KL) value loss, overflow-safe as implemented (§2.2).

    x = min((q − v)/α, 5); M = sg(max(max_batch x, −1)); L = mean(exp(x − M) + exp(−M) v/α).
    This is exp(−M) × the plain mean(exp((q − v)/α) + v/α) wherever x < 5: a per-batch rescaling
    of the gradient, same stationary point. Finite for any (q − v)/α.
    """
    x = jnp.minimum((q - v) / alpha, EQL_EXP_CLIP)
    m = jax.lax.stop_gradient(jnp.maximum(jnp.max(x), EQL_MIN_SHIFT))
    return jnp.mean(jnp.exp(x - m) + jnp.exp(-m) * v / alpha)


def value_loss_fn(divergence: str):
    """``sql_value_loss`` for 'chi2'/'sql', ``eql_value_loss`` for 'kl'/'eql'."""
    return sql_value_loss if DIVERGENCES[divergence.lower()] == "chi2" else eql_value_loss


def actor_weights(
    q: jnp.ndarray, v: jnp.ndarray, alpha: float, divergence: str, weight_mode: str = "code", max_weight: float = 100.0
) -> jnp.ndarray:
    """Weights of the weighted-BC actor loss, in [0, max_weight] (never inf/NaN).

    code:   SQL (q − v)_+ ;                 EQL exp(10 (q − v)/α)      (official, §2.2 [!])
    theory: SQL (1 + (q − v)/(2α))_+ ;      EQL exp((q − v)/α)         (w* of §2.1)
    """
    adv = q - v
    if DIVERGENCES[divergence.lower()] == "chi2":
        w = jnp.maximum(adv, 0.0) if weight_mode == "code" else jnp.maximum(1.0 + adv / (2.0 * alpha), 0.0)
    else:
        temperature = EQL_CODE_TEMPERATURE / alpha if weight_mode == "code" else 1.0 / alpha
        w = jnp.exp(temperature * adv)  # overflow → inf → clipped to max_weight below
    return jnp.clip(w, 0.0, max_weight)


# ---------------------------------------------------------------------------------------
# Agent.


State = iql.State  # the same networks as IQL: actor, twin Q, target twin Q, V (+ rng, step, static config)


def init(key: jax.Array, spec: AgentSpec, config: Config) -> State:
    config = dataclasses.replace(config, alpha=resolve_alpha(config))  # record the α in use
    k_actor, k_critic, k_value, rng = jax.random.split(key, 4)
    obs, action = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim))
    actor_net = GaussianPolicy(spec.action_dim, config.hidden_dims, dropout=config.actor_dropout)
    critic_net = critic_ensemble(2, config.hidden_dims)
    value_net = StateValue(config.hidden_dims, layer_norm=config.value_layer_norm, dropout=config.value_dropout)
    actor_lr = cosine_then_constant(config.actor_lr, spec.offline_steps, config.online_actor_lr)
    actor = make_state(actor_net, actor_net.init(k_actor, obs), actor_lr)
    critic = make_state(critic_net, critic_net.init(k_critic, obs, action), config.critic_lr)
    value = make_state(value_net, value_net.init(k_value, obs), config.value_lr)
    return State(actor, critic, critic.params, value, rng, jnp.zeros((), jnp.int32), config)


def _target_q(state: State, batch: Batch) -> jnp.ndarray:
    return state.critic.apply_fn(state.critic_target, batch["observations"], batch["actions"]).min(axis=0)


def value_loss(params, state: State, batch: Batch, key: jax.Array):
    """L_V on min Q̄(s, a); V runs in training mode (dropout active when ``value_dropout`` > 0)."""
    q = _target_q(state, batch)
    v = state.value.apply_fn(params, batch["observations"], train=True, rngs={"dropout": key})
    loss = value_loss_fn(state.config.divergence)(q, v, resolve_alpha(state.config))
    return loss, {"value_loss": loss, "v_mean": v.mean(), "adv_mean": (q - v).mean()}


def advantage_weights(state: State, batch: Batch) -> jnp.ndarray:
    """Actor weights from min Q̄(s, a) and the current (freshly updated) V, evaluated without dropout."""
    c = state.config
    q = _target_q(state, batch)
    v = state.value.apply_fn(state.value.params, batch["observations"])
    return actor_weights(q, v, resolve_alpha(c), c.divergence, c.weight_mode, c.max_weight)


def update(state: State, batch: Batch) -> tuple[State, dict]:
    rng, k_value, k_actor = split(state.rng, 2)
    value, value_info = apply_grad(state.value, lambda p: value_loss(p, state, batch, k_value))
    state = state.replace(value=value)
    weights = advantage_weights(state, batch)  # new V
    actor, actor_info = apply_grad(state.actor, lambda p: actor_loss(p, state, batch, weights, k_actor))
    critic, critic_info = apply_grad(state.critic, lambda p: critic_loss(p, state, batch))  # new V
    state = state.replace(
        actor=actor,
        critic=critic,
        critic_target=polyak(state.critic_target, critic.params, state.config.tau),
        rng=rng,
        step=state.step + 1,
    )
    return state, {**value_info, **actor_info, **critic_info}

