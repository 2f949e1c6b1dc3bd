"""The anomaly model's memory bank streams: images decoded a batch at a time, a bounded seeded sample of patch rows."""

import numpy as np
import pytest
import torch

from ml.vision import AnomalyConfig, LazyImage
from ml.vision.anomaly import FeatureExtractor, PatchScorer, PatchStream, _stream_bank
from ml.vision.classifier import ClassifierConfig, embed
from ml.vision.synthetic import make_parts

SIZE = 64  # 8×8 patches per image at stride 8
ROW_BYTES = 152 * 4 + 4 + 8  # blocks 4 + 10: 40 + 112 float32 channels, a float32 key, an int64 arrival index


@pytest.fixture(scope="module")
def images():
    return [p.image for p in make_parts(n_good=24, n_per_defect=0, seed=5, height=SIZE, width=SIZE)]


def _config(**overrides) -> AnomalyConfig:
    return AnomalyConfig(**{"image_height": SIZE, "image_width": SIZE, "blocks": [4, 10], "coreset_size": 16, **overrides})


class Reads:
    """Lazy images that count how often they were decoded."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.count = 0
        self.items = [LazyImage(self._reader(a), f"part-{i}.png") for i, a in enumerate(arrays)]

    def _reader(self, array: np.ndarray):  # noqa: ANN202
        import io

        from PIL import Image

        def read() -> bytes:
            self.count += 1
            buffer = io.BytesIO()
            Image.fromarray(array).save(buffer, format="PNG")
            return buffer.getvalue()

        return read


def test_the_bank_holds_at_most_coreset_candidates_rows_however_many_images_stream_through(images):
    config = _config(coreset_candidates=100, batch_size=4)
    extractor = FeatureExtractor(config, "cpu")
    held = {}
    for n in (6, 24):
        reads = Reads(images[:n])
        decoded_by_batch = []
        stream, coarse, pooled = _stream_bank(extractor, reads.items, config, lambda _f, r=reads, d=decoded_by_batch: d.append(r.count), coarse=True)
        # Each image decoded once, and only when its batch came up.
        assert reads.count == n and decoded_by_batch == [min(n, 4 * (k + 1)) for k in range(len(decoded_by_batch))]
        assert stream.seen == n * 64 and stream.rows.shape == (100, 152) and pooled.shape[0] == n
        # The coarse map's rows: the 8×8 patch grid averaged at stride 4, 2×2 an image, in a sample of their own.
        assert coarse.seen == n * 4 and coarse.rows.shape == (min(n * 4, 100), 152)
        held[n] = stream.held_bytes()
    assert held[6] == held[24] == 100 * ROW_BYTES


def test_the_sample_is_uniform_over_the_stream_and_seeded():
    config = _config(coreset_candidates=2_000)

    def sample(seed: int) -> torch.Tensor:
        stream = PatchStream(AnomalyConfig.from_dict({**config.to_dict(), "seed": seed}))
        for start in range(0, 40_000, 1_000):  # rows carry their own position in the stream
            stream.add(torch.arange(start, start + 1_000, dtype=torch.float32)[:, None].repeat(1, 3))
        return stream.rows[:, 0]

    kept = sample(0)
    assert kept.shape == (2_000,) and torch.equal(kept, sample(0)) and not torch.equal(kept, sample(1))
    assert bool((kept[1:] > kept[:-1]).all())  # kept in arrival order
    early = float((kept < 20_000).float().mean())
    assert 0.45 < early < 0.55  # as many from the first half as from the second: not biased to the latest rows


def test_streaming_gives_what_the_stacked_rows_give(images):
    extractor = FeatureExtractor(_config(), "cpu")
    rows = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]) for _, f in extractor(images[:8])])  # 512 rows

    def streamed(config: AnomalyConfig) -> PatchScorer:
        stream = PatchStream(config)
        for start in range(0, len(rows), 100):
            stream.add(rows[start : start + 100])
        return stream.fit()

    # All rows fit in the sample: the very bank the whole stacked set gives.
    whole = _config(coreset_candidates=1_000)
    assert torch.equal(streamed(whole).state["bank"], PatchScorer.fit(rows, whole).state["bank"])
    # Running moments: the Gaussian of the stacked rows.
    gaussian = _config(method="gaussian")
    a, b = streamed(gaussian).state, PatchScorer.fit(rows, gaussian).state
    x = rows.double().numpy()
    assert np.allclose(a["mean"].numpy(), x.mean(axis=0), atol=1e-5)
    assert np.allclose(a["precision"].numpy(), np.linalg.inv(np.cov(x, rowvar=False) + 0.01 * np.eye(x.shape[1])), rtol=1e-3, atol=1e-3)
    assert torch.allclose(a["precision"], b["precision"], rtol=1e-4, atol=1e-4)
    # A sample of a quarter of the rows: other rows, about the same distances for patches of unseen good parts.
    sampled = _config(coreset_candidates=128, coreset_size=64)
    unseen = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]) for _, f in extractor(images[16:20])])
    full = PatchScorer.fit(rows, _config(coreset_candidates=1_000, coreset_size=64)).score(unseen)
    part = streamed(sampled).score(unseen)
    assert float(part.mean()) == pytest.approx(float(full.mean()), rel=0.25)


def test_the_classifier_decodes_a_batch_at_a_time_and_embeds_as_from_arrays(images):
    config = ClassifierConfig(image_height=SIZE, image_width=SIZE, blocks=[4, 10], batch_size=4)
    reads = Reads(images[:10])
    lazy = embed(reads.items, config, "cpu", flips=True)
    assert reads.count == 10  # once each, though every image is embedded three times
    assert np.allclose(lazy, embed(images[:10], config, "cpu", flips=True), atol=1e-5)
    assert lazy.shape[0] == 30


def test_patchcore_searches_the_principal_components_of_the_good_rows(images):
    from ml.core import ConfigError

    extractor = FeatureExtractor(_config(), "cpu")
    rows = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]) for _, f in extractor(images[:16])])
    unseen = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]) for _, f in extractor(images[16:20])])
    scorer = PatchScorer.fit(rows, _config(feature_dim=12, coreset_size=64))
    mean, basis = scorer.state["feature_mean"], scorer.state["feature_basis"]
    assert scorer.state["bank"].shape == (64, 13) and basis.shape == (rows.shape[1], 12)
    # Orthonormal directions, largest variance first.
    assert torch.allclose(basis.T @ basis, torch.eye(12), atol=1e-4)
    variances = (((rows - mean) @ basis) ** 2).mean(dim=0)
    assert bool((variances[:-1] >= variances[1:] - 1e-4).all())
    # Scores are nearest-neighbour distances in that space, plus the length of what it leaves out, to the good
    # parts' projected sample.
    inside = (unseen - mean) @ basis
    rest = ((unseen - mean).norm(dim=1) ** 2 - inside.norm(dim=1) ** 2).clamp_min(0).sqrt()
    projected = torch.cat([inside, rest[:, None]], dim=1)
    assert torch.allclose(scorer.score(unseen), torch.cdist(projected, scorer.state["bank"]).amin(dim=1), atol=1e-3)
    # A patch far off the good parts' leading components scores high though its projection looks good.
    away = torch.eye(rows.shape[1])[0] - basis @ basis[0]  # a channel's direction, less its share on the components
    off = rows[:1] + 100 * away / away.norm()
    assert torch.allclose((off - rows[:1]) @ basis, torch.zeros(12), atol=1e-3)
    # Projected alone it would score as the row it came from; the left-out length sets it apart.
    assert float(scorer.score(off)) > float(scorer.score(rows[:1])) + 30
    # More components than channels: all channels, no projection.
    assert "feature_basis" not in PatchScorer.fit(rows, _config(feature_dim=4096)).state
    with pytest.raises(ConfigError, match="feature_dim"):
        AnomalyConfig.from_dict({"feature_dim": 4})
