"""AM-Q cost of the dynamics step: run every member, then pick one elite per row (the official code's
way, kept here as the reference), against seamrl's ``dynamics.step``, which deals the rows to the
elites in equal shares. Hopper sizes: 7 members of 4×200, 5 elites, a 3×256 policy, a 2×256 Q.

    python scripts/amq_step_speed.py [--horizon 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from seamrl import ope
from seamrl.nets import dynamics as dyn
from seamrl.nets.mlp import MLP

OBS, ACT, POLICIES, STARTS = 11, 3, 4, 512


def all_members_step(model: dyn.DynamicsModel, obs, act, key):
    """Every member on every row, then one uniformly random elite's sample per row."""
    k_member, k_noise = jax.random.split(key)
    mean, logvar = dyn.predict(model, obs, act)
    sample = mean + jnp.exp(0.5 * logvar) * jax.random.normal(k_noise, mean.shape)
    pick = model.elites[jax.random.randint(k_member, (obs.shape[0],), 0, model.elites.shape[0])]
    chosen = sample[pick, jnp.arange(obs.shape[0])]
    return obs + chosen[:, :-1], chosen[:, -1], jnp.zeros(obs.shape[0], bool)


def dealt_step(model: dyn.DynamicsModel, obs, act, key):
    nxt, reward, _ = dyn.step(model, obs, act, key)
    return nxt, reward, jnp.zeros(obs.shape[0], bool)  # never terminal: both pay the whole horizon


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    net = dyn.GaussianEnsemble(OBS + 1, 7, (200,) * 4)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((7, 1, OBS + ACT)))
    model = dyn.DynamicsModel(params, jnp.zeros(OBS + ACT), jnp.ones(OBS + ACT), jnp.arange(5, dtype=jnp.int32), jnp.zeros(7), net)
    policy = MLP((256, 256, 256), ACT)
    policies = jax.vmap(lambda k: policy.init(k, jnp.zeros((1, OBS))))(jax.random.split(jax.random.PRNGKey(1), POLICIES))
    critic = MLP((256, 256), 1)
    critic_params = critic.init(jax.random.PRNGKey(2), jnp.zeros((1, OBS + ACT)))

    def q(s, a):
        return critic.apply(critic_params, jnp.concatenate([s, a], -1))[:, 0]

    start = 0.1 * jax.random.normal(jax.random.PRNGKey(3), (STARTS, OBS))
    timings = {}
    for name, model_step in (("all members, then pick", all_members_step), ("dealt to the elites", dealt_step)):
        def scores(params, key, model_step=model_step):
            return jax.vmap(lambda p: ope.am_q(lambda o: jnp.tanh(policy.apply(p, o)), q,
                                               lambda s, a, k: model_step(model, s, a, k), start, args.horizon, key)[0])(params)

        fn = jax.jit(scores)
        fn(policies, jax.random.PRNGKey(0)).block_until_ready()
        runs = []
        for r in range(args.repeats):
            t = time.perf_counter()
            fn(policies, jax.random.PRNGKey(r + 1)).block_until_ready()
            runs.append(time.perf_counter() - t)
        timings[name] = sorted(runs)[len(runs) // 2]
        print(f"{name}: {timings[name]:.2f} s per AM-Q ({POLICIES} policies × {STARTS} states × {args.horizon} steps, median of {args.repeats})")
    first, second = timings.values()
    print(f"speed-up: {first / second:.1f}×")


if __name__ == "__main__":
    main()
