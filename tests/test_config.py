"""Every scenario composes and validates; every class of bad input gets one clear error."""

from __future__ import annotations

import math

import pytest
import yaml
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from conftest import CONF, SCENARIOS, compose_config, run_cli, schema
from sim.params import ConfigError, validate


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenarios_compose_and_validate(name):
    cfg = schema(f"scenario={name}")
    assert cfg.scenario_name == name
    assert cfg.engine.n_paths == 1_000_000


def test_scenarios_differ_only_where_they_say():
    soft, crash = schema("scenario=soft_landing"), schema("scenario=dotcom_crash")
    assert crash.model.demand.elasticity < 1.0 < soft.model.demand.elasticity
    assert crash.model.finance.circular_share > soft.model.finance.circular_share


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenarios_share_the_start_and_set_only_assumptions(name):
    text = (CONF / "scenario" / f"{name}.yaml").read_text()
    keys = yaml.safe_load(text)
    assert set(keys) <= {"scenario_name", "model", "events"}, keys  # forward-looking only
    assert schema(f"scenario={name}").start == schema().start


def test_required_keys_exist_and_override():
    cfg = schema("engine.n_paths=10", "engine.seed=3", "engine.chunk_size=5",
                 "model.horizon_months=12", "model.demand.elasticity=0.8")
    assert (cfg.engine.n_paths, cfg.engine.seed, cfg.engine.chunk_size) == (10, 3, 5)
    assert cfg.model.horizon_months == 12 and cfg.model.demand.elasticity == 0.8


@pytest.mark.parametrize("override, key", [
    ("model.efficiency.volatility=-0.1", "model.efficiency.volatility"),
    ("engine.n_paths=0", "engine.n_paths"),
    ("engine.n_paths=-5", "engine.n_paths"),
    ("model.horizon_months=0", "model.horizon_months"),
    ("model.demand.elasticity=0", "model.demand.elasticity"),
    ("model.demand.elasticity=-1", "model.demand.elasticity"),
    ("model.finance.circular_share=1.5", "model.finance.circular_share"),
    ("start.vendors.gpu_share=-0.1", "start.vendors.gpu_share"),
    ("model.demand.bass_q=nan", "model.demand.bass_q"),
    ("start.compute.unit_cost=inf", "start.compute.unit_cost"),
    ("start.labs.cash=[1,2,3,4,-5]", "start.labs.cash[4]"),
])
def test_invalid_values_name_key_and_range(override, key):
    with pytest.raises(ConfigError) as err:
        schema(override)
    message = str(err.value)
    assert message.startswith(key)
    assert "range" in message and "\n" not in message


def test_cross_field_constraints():
    with pytest.raises(ConfigError, match="rent_floor"):
        schema("model.prices.rent_floor=2")  # the start's rent would lie below the curve
    with pytest.raises(ConfigError, match="start.compute.cohort_shares"):
        schema("start.compute.cohort_shares=[0.5,0.5]")
    with pytest.raises(ConfigError, match="start.compute.cohort_shares"):
        schema("start.compute.cohort_shares=[0.6,0.3,0.06,0.015,0.5]")
    with pytest.raises(ConfigError, match="power cap would bind"):
        schema("start.power.queue=0")  # the order book would have no power when it arrives
    with pytest.raises(ConfigError, match="start.power.energised"):
        schema("start.power.energised=10")  # the installed base draws 18.8 GW
    with pytest.raises(ConfigError, match="start.power.price"):
        schema("start.power.price=0.5")  # a power bill above the cash opex
    with pytest.raises(ConfigError, match="sums to"):
        schema("start.labs.share=[0.5,0.5,0.5,0,0]")
    with pytest.raises(ConfigError, match="one per firm"):
        schema("start.labs.cash=[1,2]")


@pytest.mark.parametrize("override", ["engine.n_paths=many", "model.demand.elasticity=abc"])
def test_wrong_type_fails_at_composition(override):
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_config(override)


@pytest.mark.parametrize("override", ["scenario=no_such_scenario", "model.no_such_key=1"])
def test_unknown_scenario_or_key_fails_at_composition(override):
    with pytest.raises(ConfigCompositionException):
        compose_config(override)


def test_validate_rejects_non_finite_directly():
    cfg = schema()
    cfg.model.sentiment.volatility = math.nan
    with pytest.raises(ConfigError, match="model.sentiment.volatility = nan is not finite"):
        validate(cfg)


@pytest.mark.parametrize("override, code, needle", [
    ("model.demand.elasticity=-1", 2, "model.demand.elasticity"),
    ("engine.n_paths=0", 2, "engine.n_paths"),
    ("model.finance.circular_share=2", 2, "model.finance.circular_share"),
    ("scenario=no_such_scenario", 2, "no_such_scenario"),
    ("model.no_such_key=1", 2, "no_such_key"),
    ("+model.no_such_key=1", 2, "no_such_key"),
    ("engine.n_paths=many", 2, "n_paths"),
    ("dotcom_crash", 2, "did you mean scenario=dotcom_crash?"),
    ("start.clouds.debt=5", 2, "start.clouds.debt = 5 is not a list of numbers, one per firm"),
])
def test_cli_errors_are_short_and_leave_nothing(tmp_path, override, code, needle):
    run_dir = tmp_path / "run"
    result = run_cli(override, f"hydra.run.dir={run_dir}", "output.quiet=true")
    assert result.returncode == code
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert not run_dir.exists()


def test_a_value_out_of_range_leaves_no_default_outputs_directory(tmp_path):
    """Without hydra.run.dir, Hydra creates outputs/<date>/<time> before the range check;
    all three levels go again."""
    result = run_cli("model.demand.elasticity=-1", "output.quiet=true", cwd=tmp_path)
    assert result.returncode == 2 and "model.demand.elasticity" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_start_date_must_be_a_month():
    with pytest.raises(ConfigError, match="start.date"):
        schema("start.date=someday")
