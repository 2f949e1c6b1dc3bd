"""Config parsing shared by every family (``TrainConfig.from_dict``), exercised through the demo's config."""

import math

import pytest

from ml.core import ConfigError, no_progress
from ml.demo import DemoConfig


def test_empty_or_missing_values_give_the_defaults():
    assert DemoConfig.from_dict(None) == DemoConfig()
    assert DemoConfig.from_dict({}) == DemoConfig()


def test_values_are_applied():
    config = DemoConfig.from_dict({"epochs": 5, "hidden": 8, "learning_rate": 0.5, "data_seed": 3, "seed": 7})
    assert (config.epochs, config.hidden, config.learning_rate, config.data_seed, config.seed) == (5, 8, 0.5, 3, 7)


def test_to_dict_round_trips():
    config = DemoConfig.from_dict({"epochs": 5, "noise": 0.1, "data_seed": None})
    assert DemoConfig.from_dict(config.to_dict()) == config


def test_unknown_keys_are_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown config keys: epoch, lr \(known: .*epochs.*learning_rate"):
        DemoConfig.from_dict({"epoch": 5, "lr": 0.1})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "10"}, "epochs must be of type int, got '10'"),
        ({"epochs": True}, "epochs must be of type int, got True"),
        ({"epochs": 10.0}, "epochs must be of type int, got 10.0"),
        ({"hidden": None}, "hidden must be of type int, got None"),
        ({"learning_rate": "0.1"}, "learning_rate must be of type float"),
        ({"noise": False}, "noise must be of type float"),
        ({"data_seed": "1"}, "data_seed must be of type int or null"),
        ({"seed": 1.5}, "seed must be of type int"),
    ],
)
def test_wrong_types_are_rejected_naming_the_field(values, message):
    with pytest.raises(ConfigError) as excinfo:
        DemoConfig.from_dict(values)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 100_001}, "epochs"),
        ({"hidden": 1}, "hidden"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": math.nan}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"n_samples": 29}, "n_samples"),
        ({"noise": -0.01}, "noise"),
        ({"noise": math.inf}, "noise"),
        ({"data_seed": -1}, "data_seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_out_of_range_values_are_rejected_naming_the_field(values, field):
    with pytest.raises(ConfigError, match=rf"^{field} must be"):
        DemoConfig.from_dict(values)


def test_config_error_is_a_value_error():
    # Callers that only know ValueError (e.g. an API layer turning it into a 400) still catch it.
    assert issubclass(ConfigError, ValueError)


def test_ints_are_accepted_for_floats():
    config = DemoConfig.from_dict({"learning_rate": 1, "noise": 0})
    assert config.learning_rate == 1 and config.noise == 0


def test_none_is_accepted_for_data_seed():
    assert DemoConfig.from_dict({"data_seed": None}).data_seed is None


def test_boundary_values_are_accepted():
    config = DemoConfig.from_dict({"epochs": 1, "hidden": 2, "n_samples": 30, "noise": 5, "batch_size": 1, "seed": 0})
    assert (config.epochs, config.hidden, config.n_samples) == (1, 2, 30)


def test_no_progress_accepts_the_callback_signature():
    assert no_progress(50, "training", {"epoch": 1}) is None


def test_json_schema_lists_the_keys_with_their_json_types():
    from ml.vision.classifier import ClassifierConfig

    schema = DemoConfig.json_schema()
    assert schema["additionalProperties"] is False
    assert schema["properties"]["epochs"] == {"type": "integer"}
    assert schema["properties"]["learning_rate"] == {"type": "number"}
    assert schema["properties"]["data_seed"] == {"type": "integer", "nullable": True}
    assert ClassifierConfig.json_schema()["properties"]["blocks"] == {"type": "array", "items": {"type": "integer"}}


def test_list_items_are_type_checked_as_the_schema_says():
    from ml.vision.classifier import ClassifierConfig

    with pytest.raises(ConfigError, match="blocks"):
        ClassifierConfig.from_dict({"blocks": ["4", 10]})
