"""β(s) of an SSAR run (``cql_sa``, ``td3bc_sa``): the state-adaptive coefficient on every dataset
state, against the return of the episode the state came from (``seamrl plot beta RUN_DIR``).

Left: density of (episode return, β(s)) over all dataset states, with the per-episode mean β marked
for trusted (D̂) and untrusted episodes. Right: the distribution of β over trusted and untrusted states.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seamrl.errors import ConfigError


def beta_of_dataset(run_dir: str | Path, checkpoint: str = "latest") -> dict:
    """β(s), episode return, episode id and trust flag of every dataset row of the run, plus labels."""
    import jax.numpy as jnp

    from seamrl.algos import ssar
    from seamrl.train import load_trainer

    trainer = load_trainer(run_dir, checkpoint)
    if not hasattr(trainer.state, "ssar"):
        raise ConfigError(f"Run '{run_dir}' ({trainer.run.algo}) has no β network; `seamrl plot beta` needs a cql_sa or td3bc_sa run.")
    ds = trainer.dataset
    obs = trainer.transforms.observation(ds.observations)
    beta = np.concatenate([np.asarray(ssar.beta_values(trainer.state, jnp.asarray(obs[i:i + 65536]))) for i in range(0, len(obs), 65536)])
    return {
        "beta": beta,
        "episode_return": ds.episode_returns()[ds.episode_ids],
        "episode_id": np.asarray(ds.episode_ids),
        "trust": np.asarray(ds.infos.get("trust", np.ones(len(ds))), bool),
        "beta_init": trainer.state.ssar.beta_init,
        "title": f"{trainer.run.algo} on {trainer.run.task} (seed {trainer.run.seed}, {checkpoint})",
    }


def summary(data: dict) -> str:
    beta, ret = data["beta"], data["episode_return"]
    p10, p50, p90 = np.quantile(beta, [0.1, 0.5, 0.9])
    corr = float(np.corrcoef(beta, ret)[0, 1]) if beta.std() > 0 and ret.std() > 0 else float("nan")
    trusted = f", trusted {beta[data['trust']].mean():.4g} / untrusted {beta[~data['trust']].mean():.4g}" if data["trust"].any() and not data["trust"].all() else ""
    return f"β over {len(beta)} dataset states: mean {beta.mean():.4g}, p10 {p10:.4g}, p50 {p50:.4g}, p90 {p90:.4g}{trusted}; correlation with episode return {corr:.3f}"


def plot_beta(run_dir: str | Path, out: str | Path | None = None, checkpoint: str = "latest") -> str:
    """Write the β figure (default RUN_DIR/beta.png); returns a one-paragraph summary with the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = beta_of_dataset(run_dir, checkpoint)
    beta, ret, ids, trust = data["beta"], data["episode_return"], data["episode_id"], data["trust"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    if ret.std() > 0 and beta.std() > 0:
        hb = left.hexbin(ret, beta, gridsize=40, bins="log", cmap="Greys", mincnt=1)
        fig.colorbar(hb, ax=left, label="states (log)")
    else:
        left.scatter(ret, beta, s=2, c="0.5")
    lengths = np.bincount(ids)
    ep_beta, ep_ret = np.bincount(ids, weights=beta) / lengths, np.bincount(ids, weights=ret) / lengths
    ep_trust = np.bincount(ids, weights=trust) > 0
    left.scatter(ep_ret[ep_trust], ep_beta[ep_trust], s=10, c="tab:blue", label="episode mean β, trusted (D̂)")
    left.scatter(ep_ret[~ep_trust], ep_beta[~ep_trust], s=10, c="tab:orange", label="episode mean β, untrusted")
    left.axhline(data["beta_init"], color="k", ls=":", lw=1, label="β_init")
    left.set(xlabel="return of the state's episode", ylabel="β(s)")
    left.legend(fontsize=7)
    bins = np.linspace(beta.min(), beta.max() + 1e-12, 50)
    for mask, label, color in ((trust, "trusted", "tab:blue"), (~trust, "untrusted", "tab:orange")):
        if mask.any():
            right.hist(beta[mask], bins=bins, alpha=0.6, color=color, label=f"{label} ({mask.sum()} states)")
    right.set(xlabel="β(s)", ylabel="states")
    right.legend(fontsize=7)
    fig.suptitle(data["title"], fontsize=10)
    fig.tight_layout()
    path = Path(out) if out else Path(run_dir) / "beta.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"{summary(data)}\nplot written to {path}"
