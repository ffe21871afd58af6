"""The trainer end to end on Pendulum: every setting runs, outputs are complete, and a killed
run resumed from its checkpoint continues exactly like an uninterrupted one."""

import csv
import json

import numpy as np
import pytest

from seamrl.config import RunConfig
from seamrl.train import Trainer, resume, train
from seamrl.train import trainer as trainer_mod


class Killed(Exception):
    pass


def _run(tmp_path, name, **kw):
    base = dict(eval_episodes=2, seed=3, out=str(tmp_path / name))
    agent = kw.pop("agent", {})
    return RunConfig(**{**base, **kw}, agent={"hidden_dims": (32, 32), **agent})


def _rows(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in csv.DictReader(f)]


def _kill_after_first_checkpoint(monkeypatch):
    original = Trainer.save

    def save(self, name="latest", with_replay=True):
        path = original(self, name, with_replay)
        if name == "latest":
            raise Killed
        return path

    monkeypatch.setattr(trainer_mod.Trainer, "save", save)
    return original


CASES = {
    "online-sac": dict(algo="sac", task="Pendulum-v1", setting="online", online_steps=600, eval_every=200, checkpoint_every=300, agent={"learning_starts": 200}),
    "offline-iql": dict(algo="iql", task="Pendulum-v1", setting="offline", offline_steps=600, eval_every=200, checkpoint_every=200, updates_per_call=100),
    "online-ppo": dict(algo="ppo", task="Pendulum-v1", setting="online", online_steps=640, eval_every=128, checkpoint_every=256, num_envs=2,
                       agent={"num_steps": 64, "num_minibatches": 4, "update_epochs": 2}),
    "o2o-td3bc": dict(algo="td3bc", task="Pendulum-v1", setting="offline-to-online", offline_steps=300, online_steps=400, eval_every=100, checkpoint_every=200, replay_init="half"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_matches_uninterrupted_run(case, tmp_path, monkeypatch, pendulum_npz):
    kw = dict(CASES[case], dataset=str(pendulum_npz))
    summary_a, dir_a = train(_run(tmp_path, "a", **kw), quiet=True)

    original = _kill_after_first_checkpoint(monkeypatch)
    with pytest.raises(Killed):
        train(_run(tmp_path, "b", **kw), quiet=True)
    monkeypatch.setattr(trainer_mod.Trainer, "save", original)
    summary_b, dir_b = resume(tmp_path / "b", quiet=True)

    assert _rows(dir_a) == _rows(dir_b)
    assert summary_a["final"] == summary_b["final"] and summary_a["grad_steps"] == summary_b["grad_steps"]
    # compare the saved agent states leaf by leaf
    from seamrl.train import checkpoint

    leaves_a = checkpoint.load(dir_a / "checkpoints" / "latest.ckpt")["agent"]
    leaves_b = checkpoint.load(dir_b / "checkpoints" / "latest.ckpt")["agent"]
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(x, y)


def test_run_outputs_and_phase_switch(tmp_path, pendulum_npz):
    run = _run(tmp_path, "o2o", algo="iql", task="Pendulum-v1", setting="offline-to-online", dataset=str(pendulum_npz),
               offline_steps=200, online_steps=200, eval_every=100, updates_per_call=100)
    summary, run_dir = train(run, quiet=True)
    assert {p.name for p in run_dir.iterdir()} >= {"metrics.csv", "summary.json", "config.json", "checkpoints"}
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    # start, 2 offline evaluations, 2 online evaluations; both phases evaluated
    assert [r["phase_kind"] for r in rows] == ["offline", "offline", "offline", "online", "online"]
    assert int(rows[-1]["env_step"]) == 200 and int(rows[-1]["grad_step"]) == 400
    assert all(r["eval_return_mean"] for r in rows)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["agent"]["expectile"] == 0.7 and config["run"]["setting"] == "offline-to-online"
    assert [p["kind"] for p in summary["phases"]] == ["offline", "online"]
    assert summary["phases"][0]["final"] is not None and summary["phases"][1]["first"] is not None
    from seamrl.report.plot import read_curve

    x, _, switches, _ = read_curve(run_dir)  # offline gradient steps, then online env steps
    assert list(x) == [0, 100, 200, 300, 400] and switches == [200]


def test_begin_phase_hook_is_called_at_each_phase(tmp_path, pendulum_npz, monkeypatch):
    from seamrl.algos import iql

    seen = []
    monkeypatch.setattr(iql, "begin_phase", lambda state, phase: seen.append((phase.kind, phase.index)) or state, raising=False)
    run = _run(tmp_path, "hook", algo="iql", task="Pendulum-v1", setting="offline-to-online", dataset=str(pendulum_npz),
               offline_steps=100, online_steps=100, eval_every=100, updates_per_call=100)
    train(run, quiet=True)
    assert seen == [("offline", 0), ("online", 1)]


def test_replay_init_none_drops_dataset_at_switch(tmp_path, pendulum_npz):
    run = _run(tmp_path, "none", algo="td3bc", task="Pendulum-v1", setting="offline-to-online", dataset=str(pendulum_npz),
               offline_steps=100, online_steps=0, eval_every=100, replay_init="none")
    trainer = Trainer(run, tmp_path / "none", quiet=True)
    assert int(trainer.offline.size) == 2000
    trainer.counters.phase = 1
    trainer.begin_phase()
    assert int(trainer.offline.size) == 0 and trainer.online.capacity == run.buffer_size


def test_no_recompilation_after_warmup(tmp_path, pendulum_npz):
    """The trainer's scanned update compiles once per (K, sampling ratio) and never again."""
    run = _run(tmp_path, "compile", algo="sac", task="Pendulum-v1", setting="offline-to-online", dataset=str(pendulum_npz),
               offline_steps=300, online_steps=0, eval_every=100, updates_per_call=100)
    trainer = Trainer(run, tmp_path / "compile", quiet=True)
    phase = trainer.phases[0]
    for _ in range(4):
        trainer._updates(100, phase)
    assert trainer._chunk._cache_size() == 1
    trainer.policy()(np.zeros((3, 3), np.float32))
    compiled = trainer._act._cache_size()  # jit caches are shared across trainers: count the growth
    for _ in range(3):
        trainer._updates(100, phase)
        trainer.policy()(np.zeros((3, 3), np.float32))
    assert trainer._act._cache_size() == compiled and trainer._chunk._cache_size() == 1


def test_vector_env_collection_counts_steps_and_episodes(tmp_path):
    run = _run(tmp_path, "vec", algo="td3", task="Pendulum-v1", setting="online", online_steps=800, eval_every=400,
               num_envs=4, checkpoint_every=0, agent={"learning_starts": 400})
    trainer = Trainer(run, tmp_path / "vec", quiet=True)
    summary = trainer.fit()
    assert summary["env_steps"] == 800
    assert summary["grad_steps"] == 400  # one update per env step after the 400 warm-up steps
    assert trainer.counters.episodes == 4  # Pendulum episodes last 200 steps: 4 envs × 200 steps each
    assert int(trainer.online.size) == 800


def test_resuming_a_finished_run_returns_its_summary(tmp_path, pendulum_npz):
    run = _run(tmp_path, "done", algo="td3bc", task="Pendulum-v1", setting="offline", dataset=str(pendulum_npz),
               offline_steps=100, eval_every=100, updates_per_call=100)
    summary, run_dir = train(run, quiet=True)
    csv_bytes = (run_dir / "metrics.csv").read_bytes()
    again, _ = resume(run_dir, quiet=True)
    assert again["final"] == summary["final"] and again["grad_steps"] == 100
    assert len(_rows(run_dir)) == 2  # nothing re-run, nothing appended
    assert (run_dir / "metrics.csv").read_bytes() == csv_bytes
    assert again["phases"][0]["grad_steps_per_s"] == summary["phases"][0]["grad_steps_per_s"] > 0  # kept, not lost


def test_metrics_csv_keeps_its_columns_when_a_resumed_run_logs_other_metrics(tmp_path):
    """A run resumed under code whose update returns other metrics: every value stays under its own
    column (a metric gone is empty, a new one is added at the end), not shifted into its neighbour's."""
    import csv
    from types import SimpleNamespace

    from seamrl.train.trainer import FIXED_COLUMNS, Trainer

    def row(metrics: dict) -> dict:
        return {**{c: "" for c in FIXED_COLUMNS}, "env_step": 1, **metrics}

    old = SimpleNamespace(dir=tmp_path, metric_keys=["a_loss", "b_norm", "c_mean"], counters=SimpleNamespace(csv_rows=0))
    Trainer._append_csv(old, row({"a_loss": 1.0, "b_norm": 2.0, "c_mean": 3.0}))
    old.counters.csv_rows = 1
    Trainer._append_csv(old, row({"a_loss": 1.5, "b_norm": 2.5, "c_mean": 3.5}))
    resumed = SimpleNamespace(dir=tmp_path, metric_keys=["a_loss", "c_mean"], counters=SimpleNamespace(csv_rows=2))
    Trainer._append_csv(resumed, row({"a_loss": 4.0, "c_mean": 6.0}))  # b_norm gone
    newer = SimpleNamespace(dir=tmp_path, metric_keys=["a_loss", "c_mean", "d_frac"], counters=SimpleNamespace(csv_rows=3))
    Trainer._append_csv(newer, row({"a_loss": 7.0, "c_mean": 9.0, "d_frac": 0.5}))  # d_frac new
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[-4:] == ["a_loss", "b_norm", "c_mean", "d_frac"]
    assert [(r["a_loss"], r["b_norm"], r["c_mean"], r["d_frac"]) for r in rows] == [
        ("1.0", "2.0", "3.0", ""), ("1.5", "2.5", "3.5", ""), ("4.0", "", "6.0", ""), ("7.0", "", "9.0", "0.5")]


def test_resume_truncation_keeps_the_rows_it_keeps_byte_for_byte(tmp_path):
    from seamrl.train.trainer import _truncate_csv

    path = tmp_path / "metrics.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n3,4\r\n5,6\r\n")  # as csv.DictWriter writes it
    _truncate_csv(path, 2)
    assert path.read_bytes() == b"a,b\r\n1,2\r\n3,4\r\n"


def _interrupt_at(monkeypatch, step: int):
    """Send this process SIGINT (as Ctrl-C does) once a trainer's offline phase reaches ``step``."""
    import os
    import signal

    original = Trainer.after_updates

    def after_updates(self, phase, n):
        original(self, phase, n)
        if phase.kind == "offline" and self.counters.phase_step == step and self.run.seed == 3:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(trainer_mod.Trainer, "after_updates", after_updates)
    return original


@pytest.mark.parametrize("setting, step", [("offline", 100), ("offline-to-online", 300)])
def test_ctrl_c_in_an_offline_phase_saves_a_checkpoint_that_resumes_exactly(setting, step, tmp_path, monkeypatch, pendulum_npz):
    """No checkpoint falls due before the end (checkpoint_every 1000); Ctrl-C stops after the chunk in
    flight with one, mid-phase (100 of 300) or at the phase's last chunk (300) before the online phase."""
    import signal

    kw = dict(algo="td3bc", task="Pendulum-v1", setting=setting, dataset=str(pendulum_npz), offline_steps=300, online_steps=200,
              eval_every=100, updates_per_call=100, checkpoint_every=1000)
    _, dir_a = train(_run(tmp_path, "a", **kw), quiet=True)
    original = _interrupt_at(monkeypatch, step)
    with pytest.raises(trainer_mod.Interrupted, match=f"stopped at gradient step {step} of phase 0"):
        train(_run(tmp_path, "b", **kw), quiet=True)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
    from seamrl.train import checkpoint

    assert checkpoint.load(tmp_path / "b" / "checkpoints" / "latest.ckpt")["counters"]["phase_step"] == step
    monkeypatch.setattr(trainer_mod.Trainer, "after_updates", original)
    _, dir_b = resume(tmp_path / "b", quiet=True)
    assert _rows(dir_a) == _rows(dir_b)

    for x, y in zip(checkpoint.load(dir_a / "checkpoints" / "latest.ckpt")["agent"],
                    checkpoint.load(dir_b / "checkpoints" / "latest.ckpt")["agent"]):
        np.testing.assert_array_equal(x, y)


def test_ctrl_c_stops_seeds_in_lockstep_with_a_checkpoint_each(tmp_path, monkeypatch, pendulum_npz):
    from seamrl.train.seeds import train_seeds

    kw = dict(algo="iql", task="Pendulum-v1", setting="offline", dataset=str(pendulum_npz), offline_steps=300, eval_every=100,
              updates_per_call=100, checkpoint_every=1000)
    _, dir_a = train_seeds(_run(tmp_path, "a", **kw), [3, 4], quiet=True)
    original = _interrupt_at(monkeypatch, 200)
    with pytest.raises(trainer_mod.Interrupted, match="stopped at gradient step 200"):
        train_seeds(_run(tmp_path, "b", **kw), [3, 4], quiet=True)
    from seamrl.train import checkpoint

    for seed in (3, 4):
        assert checkpoint.load(tmp_path / "b" / f"s{seed}" / "checkpoints" / "latest.ckpt")["counters"]["phase_step"] == 200
    monkeypatch.setattr(trainer_mod.Trainer, "after_updates", original)
    summary, dir_b = resume(tmp_path / "b", quiet=True)
    assert summary["stacked_phases"] == [0]
    for seed in (3, 4):
        assert _rows(dir_a / f"s{seed}") == _rows(dir_b / f"s{seed}")
