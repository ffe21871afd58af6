"""How fast UNIVR's online policy moves, and where to: InPG (E1) with μ = π̄ on a 1-D bandit.

States s ~ U[−1, 1]; the Gaussian policy (2×64, σ fixed at 0.2 at the start, π̄ = π) is updated by
``univr_inpg.policy_step`` on π̄'s samples, then π̄ ← λπ + (1 − λ)π̄, as in UNIVR's online update
(algorithms.md §3.3, §3.7), against a fixed Q̂ instead of learnt critics:

* ``linear``:    Q̂(s, a) = k·a, a critic that keeps rising past any data (how a ReLU critic extrapolates);
* ``quadratic``: Q̂(s, a) = −k·(a − 0.3)², a critic with its maximum inside the action box.

Printed: the policy's mean action at s = 0 after 250 / 500 / 1k / 2k / 4k steps for k, λ and the lr.
With the linear critic the mean runs to the action bound at a rate set by λ and the lr, not by the
support of any data; with the quadratic one it settles near the maximiser. Cost: about a minute.

    python scripts/univr_online_drift.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seamrl.algos import univr
from seamrl.algos import univr_inpg as inpg
from seamrl.algos.common import AgentSpec, polyak
from seamrl.algos.univr_policies import policy_class

CHECKPOINTS = (250, 500, 1000, 2000, 4000)


def mean_action_path(critic: str, k: float, lam: float, lr: float, steps: int = max(CHECKPOINTS), sigma: float = 0.2):
    """The mean action at s = 0 after each step of online InPG against the fixed Q̂."""
    config = univr.Config(hidden_dims=(64, 64), lr=lr, ref_lambda=lam)
    state = univr.init(jax.random.PRNGKey(0), AgentSpec(1, 1, offline_steps=1), config)
    params = state.actor.params["params"]
    params = {"params": {**params, "log_std": jnp.full_like(params["log_std"], np.log(sigma))}}
    pc = policy_class(state.config)
    if critic == "linear":
        q_fn = lambda s, a: k * a.sum(-1)  # noqa: E731
    else:
        q_fn = lambda s, a: -k * ((a - 0.3) ** 2).sum(-1)  # noqa: E731

    def body(carry, key):
        actor, weight, ref = carry
        k_obs, k_ref, k_pg = jax.random.split(key, 3)
        obs = jax.random.uniform(k_obs, (256, 1), minval=-1.0, maxval=1.0)
        a_ref = pc.reference_samples(actor.apply_fn, ref, obs, k_ref, 1, jnp.inf, state.config)[0]  # a^μ ~ π̄
        actor, weight, _ = inpg.policy_step(actor, weight, obs, a_ref, q_fn, k_pg, state.config)
        ref = polyak(ref, actor.params, lam)  # π̄ ← λπ + (1 − λ)π̄
        return (actor, weight, ref), actor.apply_fn(actor.params, jnp.zeros((1, 1)))[0][0, 0]

    carry = (state.actor.replace(params=params), state.weight, params)
    _, means = jax.jit(lambda c, key: jax.lax.scan(body, c, jax.random.split(key, steps)))(carry, jax.random.PRNGKey(1))
    return np.asarray(means)


def main() -> None:
    print("| critic | k | λ | lr | " + " | ".join(f"{n} steps" for n in CHECKPOINTS) + " |")
    print("|---|---|---|---|" + "---|" * len(CHECKPOINTS))
    rows = [("linear", k, lam, 2e-4) for k in (1.0, 1e-3) for lam in (0.01, 0.001)]
    rows += [("linear", 1.0, 0.01, lr) for lr in (5e-5, 2e-5)]
    rows += [("quadratic", 1.0, lam, 2e-4) for lam in (0.01, 0.001)]
    for critic, k, lam, lr in rows:
        path = mean_action_path(critic, k, lam, lr)
        cells = " | ".join(f"{path[n - 1]:.2f}" for n in CHECKPOINTS)
        print(f"| {critic} | {k:g} | {lam:g} | {lr:g} | {cells} |")


if __name__ == "__main__":
    main()
