"""Verdict rules, reviews feeding the dataset and retraining, reports, the import command, operator pages."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from apps.inspection import selectors, services
from apps.inspection.families import ANOMALY_FAMILY, DEFECT_TYPE_FAMILY
from apps.inspection.models import InspectionImage, Review, Station
from apps.mlops.models import TrainingRun
from tests.apps.inspection import factories as f

pytestmark = pytest.mark.django_db


def typed(label: str, confidence: float) -> dict:
    rest = (1 - confidence) / 2
    probs = {"ok": rest, "scratch": rest, "spot": rest, label: confidence}
    return {"label": label, "confidence": confidence, "probabilities": probs}


@pytest.mark.parametrize(
    ("score", "classifier", "verdict", "defect_type", "needs_review"),
    [
        (2.0, None, "defective", "anomaly", False),  # rule 1 without a classifier
        (2.0, typed("spot", 0.9), "defective", "spot", False),  # rule 1, typed by the classifier
        (2.0, typed("ok", 0.9), "defective", "scratch", True),  # rule 1 but the classifier says OK: disputed
        (0.5, typed("scratch", 0.8), "defective", "scratch", True),  # rule 2: confident type below threshold
        (0.5, typed("scratch", 0.4), "ok", "", False),  # rule 3
        (0.95, None, "ok", "", True),  # near the threshold
    ],
)
def test_verdict_rules(score, classifier, verdict, defect_type, needs_review):
    station = Station(review_margin=0.1, type_confidence_min=0.6)
    decision = services.decide(score=score, threshold=1.0, typed=classifier, station=station)
    assert (decision.verdict, decision.defect_type, decision.needs_review) == (verdict, defect_type, needs_review)


def test_review_labels_the_image_and_retrains_after_n(operator):
    station = f.station(retrain_after_reviews=2)
    first = f.result(station, "r1", verdict="defective", defect_type="scratch")
    second = f.result(station, "r2", verdict="ok", score=0.9)

    review = services.review_create(result=first, decision="ok", user=operator)
    assert review.disputed and review.label == "ok"
    image = InspectionImage.objects.get(pk=first.image_id)
    assert image.label == "ok" and image.split in ("train", "validation")
    assert not TrainingRun.objects.exists()

    services.review_create(result=second, decision="defect", defect_type="Crack", user=operator)
    assert InspectionImage.objects.get(pk=second.image_id).label == "crack"
    # The second review reached retrain_after_reviews: both families queued, counter reset.
    assert set(TrainingRun.objects.values_list("family", flat=True)) == {ANOMALY_FAMILY, DEFECT_TYPE_FAMILY}
    assert Station.objects.get(pk=station.pk).reviews_since_retrain == 0
    assert selectors.review_queue().count() == 0

    with pytest.raises(Exception, match="Name the defect type"):
        services.review_create(result=second, decision="defect", defect_type="")


def test_defect_report_rates_and_pareto():
    station = f.station()
    f.result(station, "a", verdict="defective", defect_type="scratch", needs_review=False)
    f.result(station, "b", verdict="defective", defect_type="scratch", needs_review=False)
    f.result(station, "c", verdict="defective", defect_type="spot", needs_review=False)
    f.result(station, "d", verdict="ok", needs_review=False)
    InspectionImage.objects.update(status="done")
    report = selectors.defect_report()
    assert report["inspected"] == 4
    assert report["pareto"] == {"labels": ["scratch", "spot"], "counts": [2, 1], "cumulative_percent": [66.7, 100.0]}
    rates = [v for v in report["defect_rate"]["Line A"] if v is not None]
    assert rates == [75.0]


def test_shift_of_hour():
    assert [selectors.shift_of(h) for h in (5, 6, 13, 14, 21, 22, 23, 0)] == ["night", "early", "early", "late", "late", "night", "night", "night"]


def test_import_command_with_and_without_labels(tmp_path, capsys):
    station = f.station()
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "a.png").write_bytes(f.part_png(1))
    (tmp_path / "good" / "b.png").write_bytes(f.part_png(2))
    (tmp_path / "bad.png").write_bytes(f.part_png(3, "spot"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "labels.csv").write_text("image,mask,class\ngood/a.png,,Free\ngood/b.png,,Free\nbad.png,,Spot\nbroken.png,,Free\n")
    call_command("inspection_import", str(tmp_path), station=station.pk, labels=tmp_path / "labels.csv")
    out = capsys.readouterr()
    assert "imported 3 images" in out.out and "1 skipped" in out.out and "broken.png" in out.err
    labels = dict(InspectionImage.objects.values_list("client_image_id", "label"))
    assert labels == {"good/a.png": "ok", "good/b.png": "ok", "bad.png": "spot"}
    assert not InspectionImage.objects.filter(status="pending").exists()

    other = f.station(name="Camera 2")
    call_command("inspection_import", str(tmp_path / "good"), station=other.pk)
    assert InspectionImage.objects.filter(station=other, status="pending", label="").count() == 2


def test_operator_pages_render(operator_client: Client):
    station = f.station()
    result = f.result(station, "p1")
    for url in ("/inspection/", "/inspection/review/", f"/inspection/stations/{station.pk}/", "/inspection/models/", "/inspection/reports/"):
        response = operator_client.get(url)
        assert response.status_code == 200, url
    heatmap = operator_client.get(f"/inspection/images/{result.image_id}/heatmap")
    assert heatmap.status_code == 200 and heatmap["Content-Type"] == "image/jpeg"
    curve = operator_client.get(f"/inspection/stations/{station.pk}/curve.json").json()
    assert curve["curve"] == [] and curve["source"] == "no data yet"
    saved = operator_client.post(
        f"/inspection/stations/{station.pk}/", {"threshold": "-1", "target_false_reject_rate": "0.02", "retrain_after_reviews": "5"}, follow=True
    )
    assert b"positive anomaly score" in saved.content
    operator_client.post(f"/inspection/stations/{station.pk}/", {"threshold": "1.5", "target_false_reject_rate": "0.05", "retrain_after_reviews": "5"})
    station.refresh_from_db()
    assert (station.threshold, station.target_false_reject_rate, station.retrain_after_reviews) == (1.5, 0.05, 5)
    reviewed = operator_client.post(f"/inspection/review/{result.pk}/", {"decision": "confirm"}, HTTP_ACCEPT="application/json")
    assert reviewed.json()["label"] == "scratch" and Review.objects.count() == 1


def test_pages_need_an_operator(client: Client):
    assert client.get("/inspection/").status_code == 302


def test_without_a_model_images_fail_clearly_and_a_resend_retries():
    station = f.station()
    image = services.image_receive(station=station, client_image_id="n1", data=f.part_png(1), inspect=False).image
    InspectionImage.objects.filter(pk=image.pk).update(status="pending")
    assert services.images_inspect(image_ids=[image.pk]) == 0
    image.refresh_from_db()
    assert image.status == "failed" and "No anomaly model is in production" in image.error
    again = services.image_receive(station=station, client_image_id="n1", data=f.part_png(1))
    assert not again.created and again.image.status == "pending" and again.image.error == ""


def test_threshold_curve_from_the_stations_labelled_validation_results(operator_client: Client):
    station = f.station()
    for k, (label, score) in enumerate([("ok", 0.2), ("ok", 0.6), ("scratch", 0.5), ("spot", 0.9)]):
        result = f.result(station, f"v{k}", score=score, needs_review=False)
        InspectionImage.objects.filter(pk=result.image_id).update(label=label, split="validation")
    data = operator_client.get(f"/inspection/stations/{station.pk}/curve.json").json()
    assert data["source"] == "4 labelled validation images of this station"
    at = max((p for p in data["curve"] if p["threshold"] <= 0.5), key=lambda p: p["threshold"])
    # Just under 0.5: rejects 0.5 (scratch), 0.6 (ok), 0.9 (spot): precision 2/3, recall 1, half the good parts rejected.
    assert at["precision"] == pytest.approx(2 / 3)
    assert at["recall"] == 1.0 and at["false_reject_rate"] == 0.5


def test_calibrated_threshold_and_what_its_calibration_set_can_resolve(operator_client: Client):
    from apps.mlops.models import ModelVersion, VersionStatus

    scores = [0.1 * k for k in range(1, 11)]
    run = TrainingRun.objects.create(family=ANOMALY_FAMILY, trigger="dashboard", status="succeeded", details={"calibration_scores": scores})
    version = ModelVersion.objects.create(
        family=ANOMALY_FAMILY,
        version=1,
        status=VersionStatus.PRODUCTION,
        artifact_uri="x",
        artifact_sha256="0" * 64,
        primary_metric="image_auroc",
        training_run=run,
    )
    station = f.station(target_false_reject_rate=0.2)
    # 10 scores, 20 %: just above the 2nd highest (0.9); a new good part is rejected with probability 2/11.
    calibrated = selectors.calibrated_threshold(version=version, rate=0.2)
    assert 0.9 < calibrated["threshold"] <= 1.0 and calibrated["images"] == 10 and calibrated["resolves_target"]
    assert services.station_threshold(station=station, version=version, model_threshold=5.0) == calibrated["threshold"]
    page = operator_client.get(f"/inspection/stations/{station.pk}/").content.decode()
    assert "Calibrated on 10 good parts" in page and "9.09&nbsp;%" in page and "The target is below that" not in page
    # 2 % cannot be told apart with 10 parts: the page says so and what rate the threshold will actually reach.
    Station.objects.filter(pk=station.pk).update(target_false_reject_rate=0.02)
    assert not selectors.calibrated_threshold(version=version, rate=0.02)["resolves_target"]
    page = operator_client.get(f"/inspection/stations/{station.pk}/").content.decode()
    assert "The target is below that" in page
    # A manual threshold wins; a version without calibration scores falls back to the model's own threshold.
    Station.objects.filter(pk=station.pk).update(threshold=0.5)
    station.refresh_from_db()
    assert services.station_threshold(station=station, version=version, model_threshold=5.0) == 0.5
    run.details = {}
    run.save()
    assert selectors.calibrated_threshold(version=version, rate=0.2) is None
    Station.objects.filter(pk=station.pk).update(threshold=None)
    station.refresh_from_db()
    assert services.station_threshold(station=station, version=version, model_threshold=5.0) == 5.0


def test_models_retrain_on_an_operator_supplied_resnet_backbone_and_inspect_with_it(tmp_path, monkeypatch):
    import torch
    import torchvision
    from django.core.exceptions import ValidationError

    from apps.mlops import services as mlops
    from apps.mlops.models import FamilySettings, RunStatus
    from tests.apps.mlops.helpers import train_inline

    torch.manual_seed(0)
    monkeypatch.setenv("ML_BACKBONE_DIR", str(tmp_path))
    weights = tmp_path / "resnet18.pth"  # stands in for ImageNet weights fetched elsewhere: none exist offline
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    backbone = {"backbone": "resnet18", "backbone_weights": str(weights), "image_height": 64, "image_width": 64}
    anomaly_config = {**backbone, "blocks": [1, 2], "global_blocks": [2, 3], "coreset_size": 128, "head_epochs": 2}
    FamilySettings.objects.create(family=ANOMALY_FAMILY, default_config=anomaly_config)
    FamilySettings.objects.create(family=DEFECT_TYPE_FAMILY, default_config={**backbone, "blocks": [2, 3, 4], "flip_augment": False})
    station = f.station()
    f.labelled_parts(station, n_good=12, n_per_defect=2)
    runs = [train_inline(family=family, config={}) for family in (ANOMALY_FAMILY, DEFECT_TYPE_FAMILY)]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2, [r.error for r in runs]
    assert runs[0].config["backbone"] == "resnet18"

    image = services.image_receive(station=station, client_image_id="r1", data=f.part_png(901, "spot"), inspect=False).image
    InspectionImage.objects.filter(pk=image.pk).update(status="pending")
    assert services.images_inspect(image_ids=[image.pk]) == 1
    image.refresh_from_db()
    assert image.status == "done" and image.result.anomaly_version_id == runs[0].model_version.pk
    assert image.result.classifier_version_id == runs[1].model_version.pk

    with pytest.raises(ValidationError, match="needs backbone_weights"):
        mlops.training_run_start(family=ANOMALY_FAMILY, trigger="api", config={"backbone_weights": ""}, dispatch=False)
    # Only files in the backbone folder: a path elsewhere on the host is a validation error, not a file read.
    with pytest.raises(ValidationError, match=r"outside the backbone folder .*ML_BACKBONE_DIR"):
        mlops.training_run_start(family=ANOMALY_FAMILY, trigger="api", config={"backbone_weights": "/etc/passwd"}, dispatch=False)
    with pytest.raises(ValidationError, match=r"drawn from \[1, 2, 3, 4\] for resnet18"):
        mlops.training_run_start(family=DEFECT_TYPE_FAMILY, trigger="api", config={"blocks": [4, 10, 14]}, dispatch=False)
