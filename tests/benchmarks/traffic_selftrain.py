"""A detector that learns from the camera: self-training a YOLO on each clip's own footage, counted against the
motion pipeline on the part of the clip it did not see.

Run from the repository root (``make bench``)::

    .venv/bin/python tests/benchmarks/traffic_selftrain.py [--data DIR] [--masks background,gray,drop] [--clips a.mp4,b.mp4]

For every clip of ``DIR/manifest.json``: the motion pipeline labels the first 60 % of the clip
(:func:`ml.traffic.selftrain.harvest`, through :func:`ml.traffic.yolo.prepare_dataset` with ``footage`` as a
registry run does), a YOLO11n is trained from scratch on those pseudo-labels with the product's CPU defaults for
footage, and the remaining 40 % is counted with the self-trained detector and with the motion detector. The truth
for that part is the crossings CSV's rows whose frame is in it. Each ``--masks`` mode (what the harvest does with
moving objects it is unsure of) trains its own detector. Reported per clip and mode: expected and counted
crossings, absolute errors, harvested images and boxes, training seconds, mAP50 on the pseudo-labelled
validation frames, real-time factor of both detectors on the held-out part. The last line of stdout is one JSON
object; docs/benchmarks.md gets a ``## traffic_selftrain`` section. Nothing is written into the repository else.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import _report

ROOT = _report.ROOT
sys.path.insert(0, str(ROOT))

from ml.offline import configure  # noqa: E402

configure(ROOT / "var" / "ml-home")

from ml.core import ConfigError  # noqa: E402
from ml.device import select_device  # noqa: E402
from ml.traffic import LineSpec, probe_video  # noqa: E402
from ml.traffic.selftrain import HeldOut  # noqa: E402
from ml.traffic.yolo import CountingCheck, YoloTrainConfig, prepare_dataset, train  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "traffic"
if not DEFAULT_DATA.exists():
    DEFAULT_DATA = Path("/work/shared/data/traffic")
TRAIN_FRACTION = 0.6


def expected_after(data: Path, clip: dict, first_frame: int) -> dict[str, int]:
    """The clip's crossings from ``first_frame`` on, by direction name (the manifest's keys), from its CSV."""
    expected = dict.fromkeys(clip["expected"], 0)
    with (data / clip["crossings_csv"]).open() as handle:
        for row in csv.DictReader(handle):
            frame = int(float(row.get("frame") or row["frame_approx"]))
            direction = next(name for name in clip["expected"] if name in row["direction"])
            if frame >= first_frame:
                expected[direction] += 1
    return expected


def by_name(counts: dict[str, int], line: LineSpec, names: dict[str, int]) -> dict[str, int]:
    """``{"line:+1": n}`` as ``{"down": n, ...}`` with every expected direction present."""
    out = dict.fromkeys(names, 0)
    for key, n in counts.items():
        name = line.image_direction(int(key.rsplit(":", 1)[1]))
        out[name] = out.get(name, 0) + n
    return out


def abs_error(counted: dict[str, int], expected: dict[str, int]) -> int:
    return sum(abs(counted.get(k, 0) - expected.get(k, 0)) for k in set(counted) | set(expected))


def run_clip(data: Path, clip: dict, mask: str) -> dict:
    path = data / clip["file"]
    info = probe_video(path)
    split = round(info.frame_count * TRAIN_FRACTION)
    (ax, ay), (bx, by) = clip["line"]
    line = LineSpec("line", (float(ax), float(ay)), (float(bx), float(by)))
    expected = expected_after(data, clip, split)
    row = {"file": clip["file"], "mask": mask, "resolution": f"{info.width}x{info.height}", "train_frames": split, "held_out_frames": info.frame_count - split}
    row["expected"] = expected
    config = YoloTrainConfig(footage=[str(path)], footage_end_fraction=TRAIN_FRACTION, harvest_mask=mask)
    started = time.perf_counter()
    try:
        dataset, snapshot = prepare_dataset(config)
    except ConfigError as exc:
        row["error"] = str(exc)
        return row
    row["harvest_seconds"] = round(time.perf_counter() - started, 1)
    row.update(images=snapshot["images"], boxes=snapshot["boxes"], imgsz=snapshot["imgsz"], epochs=snapshot["epochs"])
    dataset.counting = CountingCheck([line], [HeldOut(str(path), split, None)])
    trained = train(dataset, config, lambda *_args, **_kwargs: None, select_device("cpu"))
    item = trained.details["counting"][0]
    held_out_seconds = item["frames"] / info.fps
    row.update(
        train_seconds=trained.details["train_seconds"],
        map50=round(trained.metrics["mAP50"], 3),
        counted_yolo=by_name(item["yolo"], line, expected),
        counted_motion=by_name(item["motion"], line, expected),
        realtime_yolo=round(held_out_seconds / item["yolo_seconds"], 2),
        realtime_motion=round(held_out_seconds / item["motion_seconds"], 2),
    )
    row["abs_error_yolo"] = abs_error(row["counted_yolo"], expected)
    row["abs_error_motion"] = abs_error(row["counted_motion"], expected)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"folder with manifest.json (default {DEFAULT_DATA})")
    parser.add_argument("--masks", default="gray,background,drop", help="harvest mask modes to train with, comma-separated (the default first)")
    parser.add_argument("--clips", default="", help="only these clip files, comma-separated (default: all)")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--report-from", type=Path, default=None, help="rewrite the section from a JSON line an earlier run printed (no training)")
    args = parser.parse_args()
    if args.report_from is not None:
        write_report(json.loads(args.report_from.read_text().strip().splitlines()[-1]), args)
        return 0
    manifest = json.loads((args.data / "manifest.json").read_text())
    clips = [c for c in manifest["clips"] if not args.clips or c["file"] in args.clips.split(",")]
    masks = [m.strip() for m in args.masks.split(",") if m.strip()]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    for mask in masks:
        for clip in clips:
            row = run_clip(args.data, clip, mask)
            rows.append(row)
            _report.log(json.dumps(row))
    load_after = os.getloadavg()[0]
    totals = {}
    for mask in masks:
        done = [r for r in rows if r["mask"] == mask and "error" not in r]
        totals[mask] = {
            "clips_trained": len(done),
            "abs_error_yolo": sum(r["abs_error_yolo"] for r in done),
            "abs_error_motion": sum(r["abs_error_motion"] for r in done),
            "expected": sum(sum(r["expected"].values()) for r in done),
            "train_seconds": round(sum(r["train_seconds"] for r in done), 1),
        }
    summary = {
        "benchmark": "traffic_selftrain",
        "date": _report.utc_now(),
        "machine": _report.machine(),
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "train_fraction": TRAIN_FRACTION,
        "clips": rows,
        "totals": totals,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if not args.no_report:
        write_report(summary, args)
    print(json.dumps(summary))
    return 0


HEADER = ["clip", "mask", "expected", "self-trained YOLO", "motion", "abs error YOLO", "abs error motion", "images / boxes"]
HEADER += ["training s", "mAP50 (pseudo)", "real-time YOLO / motion", "note"]


def write_report(summary: dict, args: argparse.Namespace) -> None:
    table_rows = []
    for r in summary["clips"]:
        if "error" in r:
            reason = r["error"].split("; at least")[0]  # the harvest's count; the rest of the message is advice
            table_rows.append([r["file"], r["mask"], json.dumps(r["expected"]), "—", "—", "—", "—", "—", "—", "—", "—", f"not trained: {reason}"])
            continue
        table_rows.append(
            [r["file"], r["mask"], json.dumps(r["expected"]), json.dumps(r["counted_yolo"]), json.dumps(r["counted_motion"])]
            + [r["abs_error_yolo"], r["abs_error_motion"], f"{r['images']['train']}+{r['images']['val']} / {r['boxes']['train']}+{r['boxes']['val']}"]
            + [f"{r['train_seconds']} ({r['epochs']} ep. at {r['imgsz']} px)", r["map50"], f"{r['realtime_yolo']} / {r['realtime_motion']}", ""]
        )
    total_rows = [
        [mask, t["clips_trained"], t["expected"], t["abs_error_yolo"], t["abs_error_motion"], t["train_seconds"]] for mask, t in summary["totals"].items()
    ]
    busy = max(summary["load_average_1min"]) > 1.5
    contention = "other processes shared the 2 cores, so the timings are pessimistic" if busy else "the machine was otherwise idle"
    masks = ",".join(summary["totals"])
    trained = {mask: t for mask, t in summary["totals"].items() if t["clips_trained"]}
    best = min(trained, key=lambda m: (trained[m]["abs_error_yolo"], trained[m]["train_seconds"]), default=None)
    untrained = [mask for mask, t in summary["totals"].items() if not t["clips_trained"]]
    verdict = (
        f"Lowest total error of the self-trained detector: **{best}** ({trained[best]['abs_error_yolo']} on {trained[best]['expected']} expected "
        f"crossings; the motion detector {trained[best]['abs_error_motion']} on the same clips)."
        if best
        else "No mode had enough confident labels to train on any clip."
    )
    if untrained:
        verdict += f" {', '.join(untrained)}: no clip kept enough frames to train on."
    body = f"""Measured {summary["date"]} on {summary["machine"]}.
Command: `make bench` (`tests/benchmarks/traffic_selftrain.py --data {args.data} --masks {masks}`, {summary["seconds"]:.0f} s).

Per clip: the motion pipeline labels the first {TRAIN_FRACTION:.0%} of the frames (`YoloTrainConfig(footage=…,
footage_end_fraction={TRAIN_FRACTION})`, the product's harvest and training defaults for footage: YOLO11n from its
yaml, no pretrained weights), then the last {1 - TRAIN_FRACTION:.0%} is counted with the self-trained detector and with
the motion detector (background subtraction + EfficientNet-Lite0). "expected" is the crossings CSV's rows in that
last part. "mask" is what the harvest does with moving objects it is not sure of: paint them with the background
model's image, paint them grey, or drop the frame. "images / boxes" are train+val; mAP50 is measured on the
pseudo-labelled validation frames (agreement with the motion pipeline, not accuracy). Real-time factor: held-out
video duration ÷ counting time (YOLO on the CPU / motion). 1-minute load average {summary["load_average_1min"][0]}
before and {summary["load_average_1min"][1]} after the run: {contention}.

{_report.table(HEADER, table_rows)}

Totals over the clips each mode trained on:

{_report.table(["mask", "clips trained", "expected crossings", "abs error YOLO", "abs error motion", "training s"], total_rows)}

{verdict} A clip is not trained on when the harvest keeps fewer than 20 confident boxes (the product's minimum): the
clips are seconds long, and a camera's recordings are meant to be minutes to hours. The pseudo-mAP50 says how well
the detector reproduces the motion pipeline's labels, not how well it detects."""
    _report.write_section("traffic_selftrain", body)


if __name__ == "__main__":
    sys.exit(main())
