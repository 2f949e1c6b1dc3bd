"""The demo family end to end: data, training, cancellation, save/load and batched prediction."""

import numpy as np
import pytest
import torch

from ml.core import TrainingCancelled, no_progress
from ml.demo import CLASS_NAMES, DemoConfig, DemoPredictor, make_dataset, train
from ml.device import select_device

# Seeded and small: reaches ~0.94 validation accuracy in well under a second on a CPU. (With the default
# noise, batch size and learning rate, 15 epochs on 600 samples only reach ~0.5 on these spirals.)
SMALL = {"epochs": 40, "n_samples": 600, "batch_size": 32, "learning_rate": 0.02, "noise": 0.2, "seed": 0}
CPU = select_device("cpu")


def _dataset(config, seed=0):
    return make_dataset(n_samples=config.n_samples, noise=config.noise, seed=seed)


@pytest.fixture(scope="module")
def config():
    return DemoConfig.from_dict(SMALL)


@pytest.fixture(scope="module")
def trained(config):
    calls = []
    model = train(_dataset(config), config, lambda *args: calls.append(args), CPU)
    return model, calls


def test_make_dataset_is_deterministic_for_a_seed():
    a, b = make_dataset(n_samples=300, seed=4), make_dataset(n_samples=300, seed=4)
    for name in ("x_train", "y_train", "x_val", "y_val"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_make_dataset_differs_for_another_seed():
    a, b = make_dataset(n_samples=300, seed=4), make_dataset(n_samples=300, seed=5)
    assert not np.array_equal(a.x_train, b.x_train)


def test_make_dataset_split_sizes_and_types():
    # 600 samples -> 200 per class; validation int(600 * 0.2) = 120, training the other 480.
    data = make_dataset(n_samples=600, val_fraction=0.2)
    assert data.x_train.shape == (480, 2) and data.x_val.shape == (120, 2)
    assert data.y_train.shape == (480,) and data.y_val.shape == (120,)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.describe() == {"train_samples": 480, "validation_samples": 120, "classes": 3}
    labels = np.concatenate([data.y_train, data.y_val])
    assert np.bincount(labels).tolist() == [200, 200, 200]


@pytest.mark.parametrize(("kwargs", "message"), [({"n_samples": 29}, "n_samples"), ({"val_fraction": 1.0}, "val_fraction")])
def test_make_dataset_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_dataset(**kwargs)


def test_train_learns_the_spirals(trained):
    model, _ = trained
    assert model.metrics["accuracy"] > 0.8
    assert model.metrics["macro_f1"] > 0.8
    assert model.metrics["val_loss"] < 0.6
    assert model.details["train_seconds"] >= 0
    assert model.details["parameters"] == sum(p.numel() for p in model.model.parameters())


def test_train_reports_increasing_progress_with_epoch_metrics(trained, config):
    _, calls = trained
    percents = [call[0] for call in calls]
    assert percents == sorted(percents) and len(set(percents)) == len(percents)
    assert percents[0] <= 2 and percents[-1] >= 95 and percents[-1] <= 100
    epochs = [call[2] for call in calls if call[1] == "training"]
    assert [m["epoch"] for m in epochs] == list(range(1, config.epochs + 1))
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(epochs[-1])
    # Training makes progress: the last epoch's loss is well below the first one's.
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] * 0.7


def test_same_config_and_data_reproduce_the_same_run(config):
    runs = []
    for _ in range(2):
        history = []
        model = train(_dataset(config), config, lambda p, s, m=None, history=history: history.append(m), CPU)
        metrics = model.metrics
        runs.append((metrics, history, model.model.state_dict()))
    (metrics_a, history_a, state_a), (metrics_b, history_b, state_b) = runs
    assert metrics_a == metrics_b
    assert history_a == history_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_another_seed_gives_another_model():
    other = DemoConfig.from_dict({**SMALL, "epochs": 1, "seed": 1})
    same = DemoConfig.from_dict({**SMALL, "epochs": 1})
    a = train(_dataset(same), same, no_progress, CPU).model.state_dict()
    b = train(_dataset(other), other, no_progress, CPU).model.state_dict()
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_a_progress_callback_raising_cancelled_stops_training(config):
    seen = []

    def cancel_after_three_epochs(percent, stage, metrics=None):
        if stage == "training":
            seen.append(metrics["epoch"])
            if metrics["epoch"] == 3:
                raise TrainingCancelled("cancelled by user")

    with pytest.raises(TrainingCancelled, match="cancelled by user"):
        train(_dataset(config), config, cancel_after_three_epochs, CPU)
    assert seen == [1, 2, 3]


def test_saved_model_loads_and_predicts_a_batch(trained, config, tmp_path):
    model, _ = trained
    artifact = tmp_path / model.artifact_name
    model.save(artifact)
    predictor = DemoPredictor.load(artifact, CPU)

    data = _dataset(config)
    points = data.x_val[:25].tolist()
    results = predictor.predict_batch(points)
    assert len(results) == 25
    for result in results:
        assert result["label"] in CLASS_NAMES
        assert set(result["probabilities"]) == set(CLASS_NAMES)
        assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-3)
        assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
    # The loaded model agrees with held-out labels as well as the trained one did.
    predicted = [CLASS_NAMES.index(r["label"]) for r in predictor.predict_batch(data.x_val.tolist())]
    assert np.mean(np.array(predicted) == data.y_val) == pytest.approx(model.metrics["accuracy"])


def test_predict_batch_is_one_result_per_item_in_order(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path / "m.pt")
    predictor = DemoPredictor.load(tmp_path / "m.pt", CPU)
    points = [[0.5, 0.1], [-0.3, 0.7], [0.0, -0.9]]
    batch = predictor.predict_batch(points)
    assert batch == [predictor.predict_batch([p])[0] for p in points]


@pytest.mark.parametrize("items", [[[1.0, 2.0, 3.0]], [1.0, 2.0], [[[1.0, 2.0]]]])
def test_predict_batch_rejects_inputs_that_are_not_pairs(trained, tmp_path, items):
    model, _ = trained
    model.save(tmp_path / "m.pt")
    predictor = DemoPredictor.load(tmp_path / "m.pt", CPU)
    with pytest.raises(ValueError, match=r"pair of numbers"):
        predictor.predict_batch(items)


def test_loading_an_artifact_of_another_format_is_a_value_error(tmp_path):
    artifact = tmp_path / "other.pt"
    torch.save({"format": "other"}, artifact)
    with pytest.raises(ValueError, match="not a demo-classifier artifact"):
        DemoPredictor.load(artifact, CPU)
