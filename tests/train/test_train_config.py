import pytest

from seamrl import algos
from seamrl.config import RunConfig, agent_config, apply_overrides, task_family
from seamrl.errors import ConfigError


def test_overrides_go_to_run_or_agent_with_types():
    run = RunConfig(algo="iql", task="Hopper-v5")
    apply_overrides(run, algos.get("iql").Config, ["expectile=0.9", "eval_every=2000", "hidden_dims=64,64", "offline_ratio=none"])
    assert run.agent == {"expectile": 0.9, "hidden_dims": (64, 64)}
    assert run.eval_every == 2000 and run.offline_ratio is None
    cfg = agent_config(algos.get("iql"), run)
    assert cfg.expectile == 0.9 and cfg.hidden_dims == (64, 64)


def test_presets_by_task_family_and_override_wins():
    run = RunConfig(algo="iql", task="antmaze-umaze-v2")
    assert task_family(run.task) == "antmaze"
    cfg = agent_config(algos.get("iql"), run)
    assert (cfg.expectile, cfg.beta, cfg.reward_shift) == (0.9, 10.0, -1.0)
    run.agent["beta"] = 3.0
    assert agent_config(algos.get("iql"), run).beta == 3.0


@pytest.mark.parametrize(
    "pair, fragment",
    [("expectle=0.8", "did you mean 'expectile'"), ("expectile=high", "not a valid float"), ("novalue", "key=value"), ("setting=sideways", "Setting 'sideways'")],
)
def test_bad_overrides_are_one_sentence(pair, fragment):
    with pytest.raises(ConfigError) as err:
        apply_overrides(RunConfig(algo="iql", task="Hopper-v5"), algos.get("iql").Config, [pair])
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_unknown_algorithm_suggests():
    with pytest.raises(ConfigError, match="did you mean 'td3bc'"):
        algos.get("td3_bc_")
