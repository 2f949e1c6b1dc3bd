"""Where tasks run: the queues a deployment's workers must consume."""

import pytest

from platform_.celery import app
from platform_.queues import Queue


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("mlops.train_run", Queue.ML_GPU),
        ("traffic.process_job", Queue.ML_GPU),
        ("traffic.process_stream", Queue.STREAMS),  # a live stream never holds the training/inspection slot
        ("inspection.inspect_pending", Queue.ML_GPU),
        ("inspection.send_callback", Queue.DEFAULT),
        ("recommendations.precompute_top_n", Queue.ML_CPU),
        ("mlops.reap_stale_runs", Queue.DEFAULT),
    ],
)
def test_tasks_are_routed_to_their_queue(task, queue):
    route = app.amqp.router.route({}, task, args=(), kwargs={})
    assert route["queue"].name == queue.value


def test_stream_jobs_go_to_the_stream_task_and_uploads_to_the_video_task(db, settings):
    from unittest import mock

    from apps.traffic import services
    from apps.traffic.models import JobKind
    from tests.apps.traffic.factories import CameraFactory

    camera = CameraFactory()
    stream = services.job_create_stream(camera=camera, url="rtsp://127.0.0.1:9/live", max_frames=10)
    assert stream.kind == JobKind.STREAM
    with mock.patch("apps.traffic.tasks.process_stream.apply_async") as stream_task, mock.patch("apps.traffic.tasks.process_job.apply_async") as video_task:
        services.job_dispatch(job_id=stream.pk)
    assert stream_task.call_count == 1 and video_task.call_count == 0
