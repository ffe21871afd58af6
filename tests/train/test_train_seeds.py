"""Seeds trained together (``--seeds``), extending a finished run, and a global compilation count."""

import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seamrl.config import RunConfig
from seamrl.train import Trainer, load_trainer, resume, train
from seamrl.train import trainer as trainer_mod
from seamrl.train.seeds import parse_seeds, train_seeds

OFFLINE = dict(algo="iql", task="Pendulum-v1", setting="offline", offline_steps=300, eval_every=100, checkpoint_every=100,
               updates_per_call=100, eval_episodes=2)


class Killed(Exception):
    pass


def _run(tmp_path, name, **kw):
    agent = kw.pop("agent", {})
    return RunConfig(**{**OFFLINE, **kw, "out": str(tmp_path / name)}, agent={"hidden_dims": (32, 32), **agent})


def _params(run_dir):
    return jax.tree.leaves(load_trainer(run_dir).state)


def _max_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b))


def test_parse_seeds():
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("2-4") == [2, 3, 4]
    for bad in ("", "a,b", "1,1", "-1"):
        with pytest.raises(Exception, match="--seeds"):
            parse_seeds(bad)


def test_shared_leaves_are_equal_integer_counters_and_flags():
    from seamrl.train.seeds import shared_leaves

    a = [jnp.int32(5), jnp.zeros(3), jax.random.PRNGKey(0), jnp.arange(3), jnp.ones((), bool), jnp.ones((), bool)]
    b = [jnp.int32(5), jnp.zeros(3), jax.random.PRNGKey(1), jnp.arange(3) + 1, jnp.ones((), bool), jnp.zeros((), bool)]
    assert shared_leaves([a, b]) == (True, False, False, False, True, False)  # floats and keys are always per seed


def test_stacked_uni_o4_keeps_its_stage_branches(tmp_path, pendulum_npz):
    """Uni-O4's stages (critics, BC, improvement, the AM-Q gate) are ``lax.cond`` on the step counter.
    Seeds in lockstep must keep every one as a branch: batching the counter (or a flag that selects
    between counters) turns them into selects that run AM-Q rollouts at every step for every seed."""
    from seamrl.train.seeds import _trainers, _vmapped_chunk, shared_leaves, stack_states

    agent = {"hidden_dims": (8, 8), "q_hidden": (8, 8), "v_hidden": (8, 8), "improve_steps": 20, "ope_every": 10,
             "num_members": 2, "dynamics_max_epochs": 1, "dynamics_hidden": (8, 8)}
    runs = [_run(tmp_path, f"s{s}", algo="unio4", dataset=str(pendulum_npz), seed=s, agent=agent) for s in (0, 1)]
    group = _trainers(runs, quiet=True)
    for t in group:
        t.start()
        t.begin_phase()
    lead = group[0]
    treedef, per_seed = jax.tree.structure(lead.state), [jax.tree.leaves(t.state) for t in group]
    shared = shared_leaves(per_seed)
    args = (lead.offline, lead.online, 0)
    one = str(jax.make_jaxpr(lambda s, k: lead.train_chunk(s, k, *args, k=4, ratio=None))(lead.state, lead.sample_key))
    together = str(jax.make_jaxpr(_vmapped_chunk(lead, 4, None, treedef, shared))(
        stack_states(treedef, per_seed, shared), jnp.stack([t.sample_key for t in group]), *args))
    assert one.count(" cond[") >= 4 and together.count(" cond[") == one.count(" cond[")


@pytest.mark.parametrize("algo", ["iql", "td3bc"])  # td3bc: a cond on the shared step counter (delayed actor step)
def test_seeds_together_match_single_seed_runs(tmp_path, pendulum_npz, algo):
    summary, run_dir = train_seeds(_run(tmp_path, "together", dataset=str(pendulum_npz), algo=algo), [3, 4], quiet=True)
    assert json.loads((run_dir / "seeds.json").read_text()) == {"seeds": [3, 4]}
    assert summary["seeds"] == [3, 4] and [r["grad_steps"] for r in summary["runs"]] == [300, 300]
    assert summary["stacked_phases"] == [0]  # the offline phase ran vmapped, not seed after seed
    from seamrl.report.tables import runs_table

    table = runs_table([str(run_dir)])
    assert f"| {algo} | Pendulum-v1 | offline | 3 |" in table and f"| {algo} | Pendulum-v1 | offline | 4 |" in table
    assert f"| {algo} | Pendulum-v1 | offline | 2 |" in table  # the mean ± std row over 2 seeds
    assert json.loads((run_dir / "summary.json").read_text())["final_mean"] == pytest.approx(np.mean([r["final"] for r in summary["runs"]]))
    alone = {}
    for seed in (3, 4):
        _, d = train(_run(tmp_path, f"alone{seed}", dataset=str(pendulum_npz), seed=seed, algo=algo), quiet=True)
        alone[seed] = _params(d)
        rows = (run_dir / f"s{seed}" / "metrics.csv").read_text().splitlines()
        assert len(rows) == len((d / "metrics.csv").read_text().splitlines()) == 5  # header + start + 3 evaluations
    together = {seed: _params(run_dir / f"s{seed}") for seed in (3, 4)}
    # the same computation, batched: equal up to float reassociation; the seeds themselves differ
    assert _max_diff(together[3], alone[3]) < 1e-3 and _max_diff(together[4], alone[4]) < 1e-3
    assert _max_diff(together[3], together[4]) > 0.05


def test_seeds_resume_after_a_kill_between_two_seeds_checkpoints(tmp_path, monkeypatch, pendulum_npz):
    original, saves = Trainer.save, []

    def save(self, name="latest", with_replay=True):
        path = original(self, name, with_replay)
        saves.append(self.run.seed)
        if len(saves) == 3:  # seed 0 has saved twice, seed 1 once: their counters now differ
            raise Killed
        return path

    monkeypatch.setattr(trainer_mod.Trainer, "save", save)
    with pytest.raises(Killed):
        train_seeds(_run(tmp_path, "killed", dataset=str(pendulum_npz)), [0, 1], quiet=True)
    monkeypatch.setattr(trainer_mod.Trainer, "save", original)
    summary, run_dir = resume(tmp_path / "killed", quiet=True)
    assert [r["grad_steps"] for r in summary["runs"]] == [300, 300] and summary["stacked_phases"] == []
    for seed in (0, 1):
        assert len((run_dir / f"s{seed}" / "metrics.csv").read_text().splitlines()) == 5


def test_extending_a_finished_run_equals_the_longer_run(tmp_path, pendulum_npz):
    """Exact for agents without a learning-rate schedule over the phase length (IQL's cosine actor
    schedule is rebuilt for the new length, so it would differ from step 0 on)."""
    _, short = train(_run(tmp_path, "short", algo="td3bc", dataset=str(pendulum_npz), offline_steps=200), quiet=True)
    summary, _ = resume(short, quiet=True, steps={"offline_steps": 300})
    _, long = train(_run(tmp_path, "long", algo="td3bc", dataset=str(pendulum_npz)), quiet=True)
    assert summary["grad_steps"] == 300 and summary["phases"][0]["steps"] == 300
    assert json.loads((short / "config.json").read_text())["run"]["offline_steps"] == 300
    assert _max_diff(_params(short), _params(long)) == 0.0
    strip = lambda text: [line.split(",")[:4] + line.split(",")[5:] for line in text.splitlines()]  # noqa: E731 (no wall time)
    assert strip((short / "metrics.csv").read_text()) == strip((long / "metrics.csv").read_text())


def test_fine_tuning_a_finished_offline_run_equals_the_offline_to_online_run(tmp_path, pendulum_npz):
    """``--resume OFFLINE_RUN --setting offline-to-online --online-steps N`` (both seeds of a --seeds run,
    copied to another directory first) ends where the offline-to-online run of the same seeds ends:
    same parameters, same metrics rows."""
    kw = dict(algo="td3bc", dataset=str(pendulum_npz), offline_steps=200)
    import shutil

    _, original = train_seeds(_run(tmp_path, "offline", **kw), [0, 1], quiet=True)
    offline = shutil.copytree(original, tmp_path / "copy")  # the copy is fine-tuned; the offline run stays as it was
    summary, _ = resume(offline, quiet=True, steps={"online_steps": 200}, setting="offline-to-online")
    assert json.loads((original / "s0" / "config.json").read_text())["run"]["setting"] == "offline"
    assert [[p["kind"] for p in r["phases"]] for r in summary["runs"]] == [["offline", "online"]] * 2
    _, o2o = train_seeds(_run(tmp_path, "o2o", setting="offline-to-online", online_steps=200, **kw), [0, 1], quiet=True)
    strip = lambda text: [line.split(",")[:4] + line.split(",")[5:] for line in text.splitlines()]  # noqa: E731 (no wall time)
    import csv

    from seamrl.report.tables import runs_table

    online = [float(r["eval_return_mean"]) for r in csv.DictReader(open(o2o / "s0" / "metrics.csv"))
              if r["phase"] == "1" and r["eval_return_mean"]]
    s0 = json.loads((o2o / "s0" / "summary.json").read_text())["phases"]
    assert s0[1]["lowest"] == min(online) and s0[1]["first"] == online[0]  # the dip after the switch
    table = runs_table([str(o2o)])
    assert f"{s0[0]['final']:.1f} → {online[0]:.1f} (lowest {min(online):.1f})" in table
    num = r"-?\d+\.\d ± \d+\.\d"  # before → after (lowest after), mean ± std over the two seeds
    assert re.search(rf"\| td3bc \| Pendulum-v1 \| offline-to-online \| 2 \| {num} → {num} \({num}\) \|", table)
    for seed in ("s0", "s1"):
        assert json.loads((offline / seed / "config.json").read_text())["run"]["setting"] == "offline-to-online"
        assert _max_diff(_params(offline / seed), _params(o2o / seed)) == 0.0
        assert strip((offline / seed / "metrics.csv").read_text()) == strip((o2o / seed / "metrics.csv").read_text())


def test_fine_tuned_run_records_the_agent_options_of_its_new_phases(tmp_path, pendulum_npz):
    """config.json's ``agent`` is the config the online phase ran with (here α set for it), and
    ``agent_trained`` keeps the one the offline phase ran with; ``seamrl table`` labels by the former."""
    _, run_dir = train(_run(tmp_path, "offline", algo="td3bc", dataset=str(pendulum_npz), offline_steps=100), quiet=True)
    resume(run_dir, quiet=True, steps={"online_steps": 100}, setting="offline-to-online", overrides=["alpha=1.0"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["agent"]["alpha"] == 1.0 and config["agent_trained"]["alpha"] == 2.5
    assert config["run"]["setting"] == "offline-to-online"


def test_a_run_goes_on_only_in_a_setting_that_begins_with_its_phases(tmp_path, pendulum_npz):
    from seamrl.errors import ConfigError
    from seamrl.train.trainer import extended_run

    offline = _run(tmp_path, "x", dataset=str(pendulum_npz))
    for setting in ("online", "online-offline-online", "offline"):
        if setting == "offline":
            assert extended_run(offline, setting=setting) == offline
            continue
        with pytest.raises(ConfigError, match=f"cannot go on as '{setting}'"):
            extended_run(offline, setting=setting)
    with pytest.raises(ConfigError, match="does not support setting 'offline-to-online'"):
        extended_run(_run(tmp_path, "b", algo="bppo", dataset=str(pendulum_npz)), setting="offline-to-online")


def test_fine_tuning_applies_the_new_settings_presets_and_says_which_differ(tmp_path, capsys):
    """UNIVR's Table 5 O2O α for AntMaze (0.5) differs from its offline α (0.1): the fine-tuned run
    gets 0.5 from the switch on and a notice; --set keeps the old value or tunes the new phase."""
    from seamrl.algos import univr
    from seamrl.config import agent_config
    from seamrl.train.trainer import extended_run

    offline = RunConfig(algo="univr", task="antmaze-umaze-v2", setting="offline", offline_steps=10)
    new = extended_run(offline, {"online_steps": 10}, "offline-to-online")
    assert new.online_steps == 10 and agent_config(univr, new).sql_alpha == 0.5
    assert "sql_alpha 0.1 → 0.5" in capsys.readouterr().err
    tuned = extended_run(offline, {"online_steps": 10}, "offline-to-online", ["sql_alpha=0.1", "ref_lambda=0.001", "replay_init=half"])
    assert tuned.agent == {"sql_alpha": 0.1, "ref_lambda": 0.001} and tuned.replay_init == "half" and offline.agent == {}
    assert "sql_alpha" not in capsys.readouterr().err
    from seamrl.errors import ConfigError

    with pytest.raises(ConfigError, match="--set with --resume applies to phases the run adds"):
        extended_run(offline, {"offline_steps": 20}, None, ["ref_lambda=0.001"])
    # re-running the fine-tuning command resumes: --set values the run already has are accepted
    assert extended_run(tuned, None, "offline-to-online", ["ref_lambda=0.001", "replay_init=half"]) == tuned
    with pytest.raises(ConfigError, match="--set with --resume applies to phases the run adds"):
        extended_run(tuned, None, "offline-to-online", ["replay_init=none"])


def test_extending_an_online_run_keeps_its_replay(tmp_path):
    kw = dict(algo="td3", task="Pendulum-v1", setting="online", online_steps=300, eval_every=150, checkpoint_every=150,
              agent={"learning_starts": 100})
    _, run_dir = train(_run(tmp_path, "online", **kw), quiet=True)
    summary, _ = resume(run_dir, quiet=True, steps={"online_steps": 450})
    assert summary["env_steps"] == 450 and summary["grad_steps"] == 350
    from seamrl.train import checkpoint

    saved = checkpoint.load(run_dir / "checkpoints" / "latest.ckpt")["online"]
    assert saved["arrays"]["observations"].shape[0] == 450  # the 300 earlier transitions were kept, not replaced


def test_no_compilation_after_warm_up_in_a_whole_run(tmp_path, pendulum_npz):
    """Counts every XLA compilation (jax.monitoring) during an offline-to-online run: after the first
    evaluation of the online phase (updates, acting, evaluation all compiled once), there are none."""
    from jax import monitoring

    events, trainer = [], None

    def listener(name, _duration, **_kw):
        if name == "/jax/core/compile/backend_compile_duration" and trainer is not None:
            events.append((trainer.counters.phase, trainer.counters.phase_step))

    monitoring.register_event_duration_secs_listener(listener)
    run = _run(tmp_path, "compile", algo="sac", setting="offline-to-online", dataset=str(pendulum_npz), offline_steps=300,
               online_steps=800, eval_every=200, checkpoint_every=400, update_every=1)
    trainer = Trainer(run, tmp_path / "compile", quiet=True)
    trainer.fit()
    trainer = None
    late = [e for e in events if e[0] > 1 or (e[0] == 1 and e[1] > 200)]
    assert events and not late, f"compilations after warm-up at (phase, step) {late}"


ONLINE = dict(algo="sac", setting="online", online_steps=400, eval_every=200, checkpoint_every=200, lockstep="on",
              agent={"learning_starts": 100})


def _replay(run_dir):
    from seamrl.train import checkpoint

    return checkpoint.load(Path(run_dir) / "checkpoints" / "latest.ckpt")["online"]["arrays"]


@pytest.mark.parametrize("kw", [ONLINE, dict(algo="calql", setting="offline-to-online", offline_steps=100, online_steps=400,
                                             eval_every=200, checkpoint_every=200, lockstep="on")], ids=["sac-online", "calql-o2o"])
def test_online_seeds_in_lockstep_match_single_seed_runs(tmp_path, pendulum_npz, kw):
    """Online phases of --seeds runs advance in lockstep: each seed steps its own envs into its own replay
    (Cal-QL: its own Monte-Carlo return column, written when an episode ends) and learns from it with its
    own keys, so each ends where its single-seed run ends, up to float reassociation of the batched
    products; with lockstep=off each seed is exactly its single-seed run."""
    kw = {**kw, "dataset": str(pendulum_npz)}
    summary, together = train_seeds(_run(tmp_path, "together", **kw), [0, 1], quiet=True)
    assert summary["stacked_phases"] == ([0] if kw["setting"] == "online" else [0, 1])
    _, apart = train_seeds(_run(tmp_path, "apart", **{**kw, "lockstep": "off"}), [0, 1], quiet=True)
    assert json.loads((apart / "summary.json").read_text())["stacked_phases"] == []
    for seed in (0, 1):
        _, alone = train(_run(tmp_path, f"alone{seed}", seed=seed, **kw), quiet=True)
        assert _max_diff(_params(apart / f"s{seed}"), _params(alone)) == 0.0
        # scaled by the leaf's size: the parameters agree to ~5e-5, Cal-QL's critic Adam moments (first
        # layer) drift by up to ~2e-3 in 500 steps; the seeds themselves differ by > 0.05 (below)
        assert max(_max_diff([x], [y]) / (1 + float(np.max(np.abs(y)))) for x, y in
                   zip(_params(together / f"s{seed}"), _params(alone)) if np.size(y)) < 5e-3
        replay, alone_replay = _replay(together / f"s{seed}"), _replay(alone)
        assert replay.keys() == alone_replay.keys() and replay["observations"].shape[0] == 400
        # relative to each column's size (Cal-QL's returns-to-go reach ~600): the rows agree to ~1e-4
        assert max(float(np.max(np.abs(replay[k] - alone_replay[k]))) / (1 + float(np.max(np.abs(alone_replay[k]))))
                   for k in replay) < 1e-3
        rows = (together / f"s{seed}" / "metrics.csv").read_text().splitlines()
        assert len(rows) == len((alone / "metrics.csv").read_text().splitlines())
    assert _max_diff(_params(together / "s0"), _params(together / "s1")) > 0.05
    if kw["algo"] == "calql":  # episodes end every 200 steps: every row has its return-to-go, no row is unbounded
        assert np.all(np.isfinite(_replay(together / "s0")["mc_returns"]))


def test_online_lockstep_resumes_after_a_kill_exactly(tmp_path, monkeypatch):
    """Killed after both seeds saved their step-200 checkpoint (replays written back from the stacked
    one), the resumed run ends exactly where the uninterrupted one ends."""
    original, saves = Trainer.save, []

    def save(self, name="latest", with_replay=True):
        path = original(self, name, with_replay)
        saves.append(self.run.seed)
        if len(saves) == 2:
            raise Killed
        return path

    monkeypatch.setattr(trainer_mod.Trainer, "save", save)
    with pytest.raises(Killed):
        train_seeds(_run(tmp_path, "killed", task="Pendulum-v1", **ONLINE), [0, 1], quiet=True)
    monkeypatch.setattr(trainer_mod.Trainer, "save", original)
    assert [json.loads((tmp_path / "killed" / s / "config.json").read_text())["run"]["lockstep"] for s in ("s0", "s1")] == ["on"] * 2
    summary, killed = resume(tmp_path / "killed", quiet=True)
    assert summary["stacked_phases"] == [0] and [r["env_steps"] for r in summary["runs"]] == [400, 400]
    _, whole = train_seeds(_run(tmp_path, "whole", task="Pendulum-v1", **ONLINE), [0, 1], quiet=True)
    for seed in ("s0", "s1"):
        assert _max_diff(_params(killed / seed), _params(whole / seed)) == 0.0
        replay, whole_replay = _replay(killed / seed), _replay(whole / seed)
        assert all(np.array_equal(replay[k], whole_replay[k]) for k in replay)
