"""SSAR — selective state-adaptive regularisation (Luo et al., ICML 2025); algorithms.md §5.

The β machinery shared by CQL(SA) (:mod:`seamrl.algos.cql_sa`) and TD3+BC(SA)
(:mod:`seamrl.algos.td3bc_sa`); each backbone only supplies its slack e(s, a) (§5.3).

  β_φ(s) = 1.5 β_init sigmoid(z_φ(s)),  z's output bias ln 2 ⇒ β = β_init at init      (§5.2)
  L_β(φ) = mean_i [e_i β_φ(s_i) τ_i],  e detached: β falls where e > 0, rises where e < 0 (§5.3)
  every ``n_update_period`` steps: freeze n if mean_τ e > 0, else n ← min(n_end, n + (n_end − n_start)/10)  (§5.4)
  τ ∈ {0, 1}: trust flags of the sub-dataset D̂ (``prepare_dataset``, §5.5), 1 for online data
  β̃ = sg(β_φ(s)) · τ^[loosen_bound] · decay(N) is the backbone's per-sample coefficient,
      passed as ``batch["reg_weight"]`` (CQL's α_cql, TD3+BC's BC weight)
  decay = 1 offline; online (N gradient steps after the switch) linear max(1 − N/N_end, 0)
      for TD3+BC, cos(π/2 · min(N/N_end, 1)) for CQL; β and n are frozen online (§5.9)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import warnings
from dataclasses import dataclass, replace
from typing import Callable

import flax.linen as nn
import flax.struct as struct
import jax
import jax.numpy as jnp
import numpy as np

from seamrl.algos import iql
from seamrl.algos.common import AgentSpec, Batch, apply_grad, make_state, polyak
from seamrl.errors import ConfigError
from seamrl.nets import MLP

SELECTIONS = ("auto", "traj", "iql", "success", "all")
ANTMAZE = {"n_end": 5.0, "loosen_bound": False, "trust_selection": "success"}  # umaze (§5.8); medium/large: n_start 5

# §5.8: dataset → (CQL(SA), TD3+BC(SA)) selection as (kind, G_T or IQL expectile, n_end, loosen_bound)
DATASETS: dict[str, tuple[tuple, tuple]] = {
    "halfcheetah-medium": (("traj", 6000, 3, True), ("traj", 5200, 3, True)),
    "halfcheetah-medium-replay": (("traj", 6000, 3, True), ("iql", 0.7, 3, True)),
    "halfcheetah-medium-expert": (("traj", 11000, 3, True), ("iql", 0.7, 1.5, False)),
    "halfcheetah-expert": (("traj", 11000, 3, True), ("traj", 10500, 1.5, True)),
    "hopper-medium": (("traj", 2500, 3, True), ("traj", 1800, 3, True)),
    "hopper-medium-replay": (("iql", 0.7, 3, True), ("iql", 0.7, 3, True)),
    "hopper-medium-expert": (("iql", 0.5, 1.5, True), ("iql", 0.5, 1.5, True)),
    "hopper-expert": (("traj", 3500, 1.5, True), ("traj", 3500, 1.5, True)),
    "walker2d-medium": (("traj", 3600, 3, True), ("traj", 2500, 3, True)),
    "walker2d-medium-replay": (("iql", 0.7, 3, True), ("iql", 0.7, 3, True)),
    "walker2d-medium-expert": (("iql", 0.7, 3, True), ("iql", 0.7, 1.5, True)),
    "walker2d-expert": (("traj", 4800, 3, True), ("traj", 4500, 1.5, True)),
}


@dataclass(frozen=True)
class Options:
    """SSAR's options, mixed into each backbone's Config (§5.2–5.5, §5.8–5.9)."""

    beta_lr: float = 1e-8  # CQL 1e-8, TD3+BC 3e-8; tiny on purpose (§5.10.1)
    beta_hidden_dims: tuple[int, ...] = (512, 512, 512)
    beta_grad_clip: float = 0.5
    n_start: float = 1.0
    n_end: float = 3.0  # MuJoCo 3; expert / medium-expert 1.5; AntMaze 5 (see DATASETS)
    n_update_period: int = 50_000
    n_increments: int = 10  # Δn = (n_end − n_start)/10 as in the code (the paper: /20)
    trust_selection: str = "auto"  # auto (DATASETS by name) | traj | iql | success | all
    return_threshold: float | None = None  # G_T of trust_selection=traj (raw undiscounted episode return)
    iql_expectile: float = 0.7  # trust_selection=iql: IQL pretraining (§5.5)
    iql_steps: int = 1_000_000
    loosen_bound: bool = True  # multiply the regulariser by τ (selective regularisation)
    beta_decay_steps: int = 400_000  # N_end of the online annealing; ≤ 0: no decay


class BetaNet(nn.Module):
    """β_φ(s) = 1.5 β_init sigmoid(z(s)); ReLU MLP with Xavier weights, output bias ln 2 (§5.2)."""

    beta_init: float
    hidden_dims: tuple[int, ...] = (512, 512, 512)

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        xavier = nn.initializers.xavier_uniform()
        h = MLP(self.hidden_dims, kernel_init=xavier)(obs)
        z = nn.Dense(1, kernel_init=xavier, bias_init=nn.initializers.constant(math.log(2.0)))(h)
        return 1.5 * self.beta_init * jax.nn.sigmoid(z.squeeze(-1))


@struct.dataclass
class Vars:
    beta: object  # TrainState of β_φ
    n: jnp.ndarray  # current n of the threshold C_n
    n_frozen: jnp.ndarray  # bool: n stops growing once mean_τ e > 0
    online_start: jnp.ndarray  # step counter at the offline→online switch; −1 while offline
    beta_init: float = struct.field(pytree_node=False)


def init_vars(key: jax.Array, spec: AgentSpec, config: Options, beta_init: float) -> Vars:
    net = BetaNet(beta_init, config.beta_hidden_dims)
    beta = make_state(net, net.init(key, jnp.zeros((1, spec.obs_dim))), config.beta_lr, config.beta_grad_clip)
    return Vars(beta, jnp.asarray(config.n_start, jnp.float32), jnp.zeros((), bool), jnp.asarray(-1, jnp.int32), beta_init)


def begin_phase(state, phase):
    """Online phases freeze β and n and start the annealing clock (§5.9)."""
    start = state.step if phase.kind == "online" else jnp.asarray(-1, jnp.int32)
    return state.replace(ssar=state.ssar.replace(online_start=jnp.asarray(start, jnp.int32)))


def decay(state, schedule: str) -> jnp.ndarray:
    """1 offline; online max(1 − N/N_end, 0) (``linear``) or cos(π/2 min(N/N_end, 1)) (``cosine``)."""
    n_end = state.config.beta_decay_steps
    online = state.ssar.online_start >= 0
    if n_end <= 0:
        return jnp.ones(())
    frac = jnp.minimum((state.step - state.ssar.online_start) / n_end, 1.0)
    value = 1.0 - frac if schedule == "linear" else jnp.cos(0.5 * jnp.pi * frac)
    return jnp.where(online, jnp.maximum(value, 0.0), 1.0).astype(jnp.float32)


def trust(batch: Batch) -> jnp.ndarray:
    """τ of each row; rows without the column (online data, synthetic batches) are trusted."""
    return batch.get("trust", jnp.ones(batch["rewards"].shape))


def coefficient(state, batch: Batch, schedule: str) -> tuple[jnp.ndarray, dict]:
    """β̃ = sg(β_φ(s)) · τ^[loosen_bound] · decay (§5.6, §5.7) and β's distribution on the batch."""
    beta = jax.lax.stop_gradient(state.ssar.beta.apply_fn(state.ssar.beta.params, batch["observations"]))
    weight = beta * decay(state, schedule)
    if state.config.loosen_bound:
        weight = weight * trust(batch)
    p10, p50, p90 = jnp.quantile(beta, jnp.array([0.1, 0.5, 0.9]))
    info = {"beta_mean": beta.mean(), "beta_p10": p10, "beta_p50": p50, "beta_p90": p90, "reg_weight_mean": weight.mean()}
    return weight, info


def beta_loss(params, state, obs: jnp.ndarray, slack: jnp.ndarray, flags: jnp.ndarray):
    """L_β = mean_i [e_i β_φ(s_i) τ_i] (§5.3)."""
    beta = state.ssar.beta.apply_fn(params, obs)
    loss = (jax.lax.stop_gradient(slack) * beta * flags).mean()
    return loss, {"beta_loss": loss}


def beta_step(state, batch: Batch, slack: jnp.ndarray, it: jnp.ndarray, enabled: jnp.ndarray) -> tuple[object, dict]:
    """One β step and the n schedule (§5.4) at iteration ``it`` when ``enabled`` and offline."""
    cfg, v = state.config, state.ssar
    flags = trust(batch)
    enabled = enabled & (v.online_start < 0)
    loss, _ = beta_loss(v.beta.params, state, batch["observations"], slack, flags)
    beta = jax.lax.cond(
        enabled, lambda b: apply_grad(b, lambda p: beta_loss(p, state, batch["observations"], slack, flags))[0], lambda b: b, v.beta
    )
    e_mean = (slack * flags).sum() / jnp.maximum(flags.sum(), 1.0)
    check = enabled & (it > 0) & (it % cfg.n_update_period == 0) & ~v.n_frozen
    grow = check & (e_mean <= 0)
    n = jnp.where(grow, jnp.minimum(cfg.n_end, v.n + (cfg.n_end - cfg.n_start) / cfg.n_increments), v.n)
    v = v.replace(beta=beta, n=n.astype(jnp.float32), n_frozen=v.n_frozen | (check & (e_mean > 0)))
    info = {"beta_loss": loss, "ssar_slack": e_mean, "ssar_n": v.n, "trust_frac": flags.mean()}
    return state.replace(ssar=v), info


def make_update(base_update: Callable, slack: Callable, schedule: str, beta_every: Callable = lambda cfg: 1) -> Callable:
    """Backbone update with β̃ as ``batch["reg_weight"]``, then (offline, every ``beta_every(config)``
    steps) the β step with the updated actor."""

    def update(state, batch: Batch):
        it = state.step
        weight, info = coefficient(state, batch, schedule)
        state, metrics = base_update(state, {**batch, "reg_weight": weight})
        state, beta_info = beta_step(state, batch, slack(state, batch), it, it % beta_every(state.config) == 0)
        return state, {**metrics, **info, **beta_info}

    return update


def make_init(state_cls: type, base_init: Callable, beta_init: Callable) -> Callable:
    """``init`` of a (SA) agent: the backbone's state extended with SSAR's variables; ``state_cls``
    subclasses the backbone's State with a ``ssar`` field, ``beta_init(config)`` gives β_init."""

    def init(key: jax.Array, spec: AgentSpec, config: Options):
        k_base, k_beta = jax.random.split(key)
        base = base_init(k_base, spec, config)
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        return state_cls(**fields, ssar=init_vars(k_beta, spec, config, beta_init(config)))

    return init


def beta_values(state, obs: jnp.ndarray) -> jnp.ndarray:
    """β_φ(s) of a CQL(SA) / TD3+BC(SA) state (for reports)."""
    return state.ssar.beta.apply_fn(state.ssar.beta.params, obs)


# ---------------------------------------------------------------------------------------- D̂ (§5.5)


def dataset_key(name: str) -> str:
    """'hopper-medium-v2' → 'hopper-medium'."""
    return re.sub(r"-v\d+$", "", name.lower())


MIN_TRUSTED = 0.01  # below this fraction of trusted rows the regulariser is off almost everywhere: refused


def resolve_selection(dataset_name: str, config: Options, backbone: int, own_scale: bool = False) -> tuple[str, float | None, float]:
    """(kind, G_T, IQL expectile) for the dataset: explicit options, else the §5.8 table (auto).

    ``own_scale``: data under a D4RL name that is not D4RL's (seamrl's suite, rebuilt by its own
    agents): the table's G_T are D4RL returns (on the suite, 1800 on hopper-medium keeps 0.3% of the
    episodes, 5200 on halfcheetah-medium none), so its "traj" rows become §5.5's data-relative rule,
    IQL advantage > 0."""
    kind, threshold, expectile = config.trust_selection, config.return_threshold, config.iql_expectile
    if kind not in SELECTIONS:
        raise ConfigError(f"trust_selection '{kind}' is unknown; expected one of {', '.join(SELECTIONS)}.")
    if kind != "auto":
        return kind, threshold, expectile
    key = dataset_key(dataset_name)
    if "antmaze" in key:
        return "success", None, expectile
    if key not in DATASETS:
        if threshold is not None:
            return "traj", threshold, expectile
        warnings.warn(f"SSAR: no sub-dataset rule for '{dataset_name}'; every transition is trusted "
                      "(set trust_selection=traj with return_threshold=G_T, or trust_selection=iql).", stacklevel=2)
        return "all", None, expectile
    kind, value, n_end, loosen = DATASETS[key][backbone]
    if (n_end, loosen) != (config.n_end, config.loosen_bound):
        warnings.warn(f"SSAR on '{dataset_name}': the paper uses n_end={n_end}, loosen_bound={loosen} "
                      f"(this run: {config.n_end}, {config.loosen_bound}).", stacklevel=2)
    if own_scale and kind == "traj":
        return "iql", None, expectile
    return kind, (value if kind == "traj" else threshold), (value if kind == "iql" else expectile)


def trust_flags(dataset, config: Options, backbone: int, seed: int = 0) -> np.ndarray:
    """τ ∈ {0, 1} per dataset row (float32); fewer than ``MIN_TRUSTED`` trusted rows is refused."""
    from seamrl.data.suite import is_suite_dataset

    kind, threshold, expectile = resolve_selection(dataset.name, config, backbone, own_scale=is_suite_dataset(dataset))
    returns = dataset.episode_returns()[dataset.episode_ids]
    if kind == "all":
        flags = np.ones(len(dataset), bool)
    elif kind == "traj":
        if threshold is None:
            raise ConfigError("SSAR trust_selection=traj needs return_threshold=G_T (an episode return).")
        flags = returns > threshold
    elif kind == "success":  # the episode ends with a reward above the failure reward
        last = dataset.rewards[np.flatnonzero(dataset.episode_ends)][dataset.episode_ids]
        flags = last > dataset.rewards.min()
    else:
        flags = iql_advantage_flags(dataset, expectile, config.iql_steps, seed)
    if flags.mean() < MIN_TRUSTED:
        rule = f"G_T = {threshold:g}" if kind == "traj" else f"trust_selection={kind}"
        median, top = np.percentile(dataset.episode_returns(), [50, 90])
        raise ConfigError(
            f"SSAR trusts {int(flags.sum())} of {len(flags)} rows ({flags.mean():.1%}) of {dataset.label} with {rule}, "
            f"so the regulariser would be off almost everywhere; its episode returns have median {median:.0f} and 90th "
            f"percentile {top:.0f}: set return_threshold=G_T below that, or trust_selection=iql or all.")
    return flags.astype(np.float32)


def prepare_dataset(dataset, config: Options, backbone: int):
    """Attach ``infos["trust"]``; trust flags travel with rows through ``replay_init=part``."""
    return replace(dataset, infos={**dataset.infos, "trust": trust_flags(dataset, config, backbone)})


def batch_columns(config: Options) -> dict[str, float]:
    """Extra replay column and its value for online transitions (τ = 1, §5.9.4)."""
    return {"trust": 1.0}


def iql_advantage_flags(dataset, expectile: float, steps: int, seed: int = 0, chunk: int = 1000) -> np.ndarray:
    """Train IQL's Q and V (2×256, no reward normalisation) and flag min_k Q_k(s, a) ≥ V(s) (§5.5).

    Cached under ``$SEAMRL_DATA/ssar/`` by a fingerprint of the data and the options, so resuming or
    plotting a run does not train IQL again.
    """
    from seamrl.train.tasks import data_home

    digest = hashlib.sha1()
    for array in (dataset.observations, dataset.actions, dataset.rewards, dataset.terminals):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(f"{expectile}-{steps}-{seed}".encode())
    path = data_home() / "ssar" / f"iql-{digest.hexdigest()[:16]}.npy"
    if path.exists():
        return np.load(path)
    data = {
        "observations": jnp.asarray(dataset.observations), "actions": jnp.asarray(dataset.actions),
        "rewards": jnp.asarray(dataset.rewards), "next_observations": jnp.asarray(dataset.next_observations),
        "masks": jnp.asarray(1.0 - dataset.terminals.astype(np.float32)),
    }
    spec = AgentSpec(dataset.obs_dim, dataset.action_dim)
    state = iql.init(jax.random.PRNGKey(seed), spec, iql.Config(expectile=expectile, reward_transform="none"))

    def step(state, key):  # IQL's value and critic steps (the actor is not needed)
        batch = jax.tree_util.tree_map(lambda x: x[jax.random.randint(key, (256,), 0, len(dataset))], data)
        value, _ = apply_grad(state.value, lambda p: iql.value_loss(p, state, batch))
        state = state.replace(value=value)
        critic, _ = apply_grad(state.critic, lambda p: iql.critic_loss(p, state, batch))
        return state.replace(critic=critic, critic_target=polyak(state.critic_target, critic.params, state.config.tau)), None

    chunk = max(1, min(chunk, steps))
    run = jax.jit(lambda s, k: jax.lax.scan(step, s, jax.random.split(k, chunk))[0])
    for i in range(0, steps, chunk):
        state = run(state, jax.random.PRNGKey(seed * 7919 + i + 1))
    flags = []
    for lo in range(0, len(dataset), 65536):
        batch = {k: v[lo:lo + 65536] for k, v in data.items()}
        q = state.critic.apply_fn(state.critic.params, batch["observations"], batch["actions"]).min(axis=0)
        flags.append(np.asarray(q >= state.value.apply_fn(state.value.params, batch["observations"])))
    flags = np.concatenate(flags)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, flags)
    return flags
