"""`seamrl bench`: options, interleaving, the JSON + Markdown it writes (no timing assertions)."""

import json
import sys

import pytest

from seamrl.bench import collection, suite
from seamrl.cli import main


def test_bench_collect_runs_and_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "--parts", "collect", "--repeats", "1", "--num-envs", "1,2", "--env-steps", "6",
                 "--update-env-steps", "4", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["command"].startswith("seamrl bench --parts collect --repeats 1 --num-envs 1,2")
    assert result["machine"]["cpu_count"] and result["versions"]["jax"] and len(result["load_average_start"]) == 3
    keys = {"collect/raw", *(f"collect/{v}/{n}" for v in collection.VARIANTS for n in (1, 2))}
    assert set(result["measurements"]) == keys
    for key in keys:
        (sample,) = result["measurements"][key]["samples"]
        assert sample["seconds"] > 0 and result["measurements"][key]["per_s"]["env_steps"] > 0
    assert result["measurements"]["collect/policy/2"]["samples"][0]["env_steps"] == 6  # 3 vector steps of 2 envs
    table = out.with_suffix(".md").read_text()
    assert "## Online collection" in table and "| 2 |" in table and "## Update throughput" not in table
    assert "written to" in capsys.readouterr().out


@pytest.mark.parametrize("args, fragment", [
    (["--parts", "collect,warp"], "warp"),
    (["--variants", "vec,teleport"], "teleport"),
    (["--num-envs", "1,x"], "--num-envs"),
    (["--algos", "iqll"], "did you mean 'iql'"),
])
def test_bad_bench_options_are_one_sentence_errors(args, fragment, tmp_path, capsys):
    assert main(["bench", *args, "--out", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert fragment in err[-1] and not (tmp_path / "b.json").exists()


def test_interleave_runs_every_timer_once_per_repeat_in_order_and_takes_medians():
    calls = []

    def timer(name, seconds):
        return lambda: calls.append(name) or {"seconds": seconds.pop(0), "steps": 10}

    result = suite.interleave({"a": timer("a", [1.0, 2.0, 4.0]), "b": timer("b", [1.0, 1.0, 1.0])}, repeats=3)
    assert calls == ["a", "b"] * 3
    assert result["a"]["per_s"]["steps"] == 5.0 and len(result["a"]["samples"]) == 3


def test_update_measurements_are_grouped_per_algorithm():
    timers = {k: None for k in ["pure-fixed/iql", "seamrl/bc", "d3rlpy-fit/iql", "seamrl/iql", "d3rlpy-update/iql", "pure-sampled/td3bc"]}
    order = list(suite._update_order(timers, ["iql", "bc"]))
    assert order == ["seamrl/iql", "d3rlpy-update/iql", "d3rlpy-fit/iql", "pure-fixed/iql", "seamrl/bc", "pure-sampled/td3bc"]


def test_markdown_of_every_part():
    rate = lambda steps, seconds=1.0, **extra: {"per_s": {"steps": steps / seconds, **extra}, "samples": []}  # noqa: E731
    result = {
        "command": "seamrl bench --demo", "started": "now", "wall_s": 1.0, "options": suite.asdict(suite.Options()),
        "machine": {"cpu": "cpu", "cpu_count": 2, "jax_backend": "cpu"}, "versions": {"jax": "0"},
        "load_average_start": [1.0, 1, 1], "load_average_end": [2.0, 2, 2],
        "networks": {"iql": {"nets": {r: {"hidden": [256, 256], "layer_norm": False} for r in ("actor", "critic", "value")}}},
        "d3rlpy": {"versions": {"d3rlpy": "2", "torch": "2"}, "threads": 2, "device": "cpu:0", "errors": {"cql": "TypeError: x"}},
        "update_errors": {"ppo": "ConfigError: y"},
        "measurements": {
            "seamrl/iql": rate(400), "d3rlpy-update/iql": rate(100), "d3rlpy-fit/iql": rate(80), "pure-fixed/iql": rate(500),
            "pure-sampled/iql": rate(450), "collect/raw": {"per_s": {"env_steps": 10000.0}},
            **{f"collect/{v}/{n}": {"per_s": {"env_steps": 1000.0 * n}} for v in collection.VARIANTS for n in (1, 2, 4, 8)},
            "eval": {"per_s": {"episodes": 2.0, "env_steps": 500.0}},
            "seeds/iql/1": rate(400), "seeds/iql/4": rate(1000), "peak/matmul": {"per_s": {"flops": 400e9}},
            "online/univr": rate(60), "online/sac": rate(150),
        },
        "online_networks": {"univr": {"nets": {r: {"hidden": [256] * 3, "layer_norm": r == "value"} for r in ("actor", "critic", "value")}}},
        "online_errors": {"bc": "ValueError: bc has no online setting"},
        "update_flops": {"iql": 0.5e9},
        "demo": {"wall_s": 300.0, "user_s": 400.0, "system_s": 5.0, "maxrss_mib": 900.0, "returncode": 0,
                 "phases": [{"kind": "offline", "grad_steps_per_s": 450.0}, {"kind": "online", "env_steps_per_s": 200.0}]},
    }
    table = suite.markdown(result)
    assert "| iql | 2×256 | 400 | 100 | 80.0 | 5.00 | 500 | 450 | 0.80 | 0.50 | 200 | 50% |" in table  # 0.5 GFLOP × 400/s of 400
    assert "400 GFLOP/s" in table
    assert "| 8 | 8,000 | 8,000 | 8,000 | 8,000 | 8,000 | 0.80 |" in table
    assert "| 2.00 | 500 | 250 |" in table and "| 300 | 405 | 900 | 450 | 200 | 0 |" in table
    assert "ppo: ConfigError" in table and "cql: TypeError" in table
    assert "| univr | actor 3×256, critic 3×256, value 3×256 LN | 60.0 | 0.40 |" in table and "| sac |  | 150 | 1.00 |" in table
    assert "not measured (online) bc: ValueError" in table
    assert "| algorithm | 1 seed | 4 seeds | 4 seeds / 1 seed |" in table and "| iql | 400 | 1,000 | 2.50 |" in table


def test_bench_seeds_part_measures_seed_steps(tmp_path):
    out = tmp_path / "seeds.json"
    assert main(["bench", "--parts", "seeds", "--seed-algos", "td3bc", "--seed-counts", "1,3", "--updates-per-call", "5",
                 "--repeats", "1", "--out", str(out)]) == 0
    m = json.loads(out.read_text())["measurements"]
    assert set(m) == {"seeds/td3bc/1", "seeds/td3bc/3"} and m["seeds/td3bc/3"]["samples"][0]["steps"] == 15


def test_bench_online_part_times_the_from_scratch_update_of_online_algorithms(tmp_path):
    out = tmp_path / "online.json"
    assert main(["bench", "--parts", "online", "--online-algos", "univr,bc", "--updates-per-call", "3",
                 "--repeats", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["measurements"]) == {"online/univr"} and result["measurements"]["online/univr"]["samples"][0]["steps"] == 3
    # UNIVR's from-scratch config (§D.1: 3×256 online), not the offline 4×256 of Config()
    assert result["online_networks"]["univr"]["nets"]["actor"]["hidden"] == [256, 256, 256]
    assert "bc has no online setting" in result["online_errors"]["bc"]
    assert "## Online updates from scratch" in out.with_suffix(".md").read_text()


def test_bench_online_seeds_part_times_both_loops_of_every_seed(tmp_path):
    out = tmp_path / "loops.json"
    assert main(["bench", "--parts", "online-seeds", "--online-algos", "td3,ppo", "--online-seeds", "2", "--update-env-steps", "4",
                 "--task", "Pendulum-v1", "--repeats", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    m = result["measurements"]
    assert set(m) == {"online-seeds/td3/apart", "online-seeds/td3/lockstep"}
    assert all(m[k]["samples"][0]["env_steps"] == 8 for k in m)  # 4 env steps of each of the 2 seeds
    assert "on-policy" in result["online_seeds_errors"]["ppo"]
    assert "| td3 |" in out.with_suffix(".md").read_text()


def test_demo_part_reports_the_child_process_wall_clock_memory_and_rates(tmp_path):
    fake_demo = (
        "import json, sys, pathlib; out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1]); out.mkdir(parents=True);"
        "block = bytearray(64 * 2**20);"  # touch 64 MiB so the peak RSS is visible
        "(out / 'summary.json').write_text(json.dumps({'phases': [{'kind': 'offline', 'steps': 10, 'grad_steps_per_s': 5.0}]}))"
    )
    demo = suite.run_demo_part(tmp_path, [sys.executable, "-c", fake_demo])
    assert demo["returncode"] == 0 and demo["wall_s"] > 0 and demo["maxrss_mib"] >= 64
    assert demo["phases"] == [{"kind": "offline", "steps": 10, "final": None, "grad_steps_per_s": 5.0, "env_steps_per_s": None}]
