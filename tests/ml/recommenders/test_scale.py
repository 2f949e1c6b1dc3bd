"""Recommenders at scale: the size strategy, memory budgets, memory-mapped artifacts, id lookups (no Django)."""

import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from ml import npz
from ml.memory import GIB, MIB, MemoryBudgetExceeded, MemoryEstimate, parse_memory_limit
from ml.recommenders import RecommenderConfig, RecommenderDataset, RecommenderModel, train
from ml.recommenders.algorithms import EASE
from ml.recommenders.model import _IdIndex
from ml.recommenders.sizing import plan
from tests.ml.recommenders.test_recommenders import FAST, catalog, clustered, group_of


def test_plan_picks_dense_head_or_factors_by_catalog_size_and_memory():
    config = RecommenderConfig(content=False)
    small = plan(config, users=10_000, items=5_000, cells=400_000, events=500_000, memory_limit=16 * GIB)
    assert (small.strategy, small.head_items) == ("dense", 5_000)
    big = plan(config, users=1_000_000, items=200_000, cells=18_000_000, events=20_000_000, memory_limit=16 * GIB)
    assert (big.strategy, big.head_items) == ("head", config.head_items)
    assert big.estimate.peak_bytes < 16 * GIB
    # A tight budget shrinks the head until it fits, then gives up on EASE.
    tight = plan(config, users=100_000, items=50_000, cells=4_000_000, events=5_000_000, memory_limit=3 * GIB)
    assert tight.strategy == "head" and tight.head_items < config.head_items and tight.estimate.peak_bytes <= 3 * GIB
    tiny = plan(config, users=100_000, items=50_000, cells=4_000_000, events=5_000_000, memory_limit=1500 * MIB)
    assert tiny.strategy == "factors"
    # A catalog below the item limit whose dense fit does not fit the budget is not trained dense.
    assert plan(config, users=10_000, items=9_000, cells=400_000, events=500_000, memory_limit=2 * GIB).strategy != "dense"
    # A config forces it; ALS alone has no item matrix.
    forced = RecommenderConfig(content=False, scale_strategy="factors")
    assert plan(forced, users=10, items=10, cells=20, events=20).strategy == "factors"
    assert plan(RecommenderConfig(algorithm="als"), users=10, items=10, cells=20, events=20).strategy == "factors"
    # Dense memory grows with items².
    dense = RecommenderConfig(scale_strategy="dense", content=False)
    peak = [plan(dense, users=1000, items=n, cells=10_000, events=10_000).estimate.peak_bytes for n in (1000, 2000, 4000)]
    assert peak[2] - peak[1] > 3 * (peak[1] - peak[0])


@pytest.mark.parametrize(("strategy", "components"), [("head", ["ease", "als"]), ("factors", ["als"])])
def test_forced_strategies_train_learn_the_groups_and_are_recorded(strategy, components, tmp_path):
    config = RecommenderConfig(**FAST, scale_strategy=strategy, head_items=500)
    result = train(RecommenderDataset(clustered(), catalog_item_ids=catalog()), config)
    assert result.details["scale"]["strategy"] == strategy
    assert [c.kind for c, _ in result.model.components] == components
    recs = result.model.recommend(user_id=1000, n=3)
    assert sum(group_of(r.item_id) == 0 for r in recs) >= 2
    assert result.metrics["ndcg@10"] > 0.3
    path = tmp_path / "model.npz"
    result.save(path)
    loaded = RecommenderModel.load(path)
    assert [r.item_id for r in loaded.recommend(user_id=1000, n=5)] == [r.item_id for r in result.model.recommend(user_id=1000, n=5)]
    assert loaded.similar_items(100, 3) == result.model.similar_items(100, 3)


def test_head_ease_covers_the_most_supported_items_and_scores_the_tail_neutrally():
    rng = np.random.default_rng(0)
    matrix = sp.random(200, 40, density=0.2, random_state=1, format="csr", dtype=np.float32)
    matrix.data[:] = 1.0
    # Make items 0..4 the most popular.
    extra = sp.csr_matrix((np.ones(200 * 5, dtype=np.float32), (np.repeat(np.arange(200), 5), np.tile(np.arange(5), 200))), shape=(200, 40))
    matrix = ((matrix + extra) > 0).astype(np.float32).tocsr()
    ease = EASE(10.0, head_items=8)
    ease.fit(matrix)
    assert not ease.is_dense and set(range(5)) <= set(ease.columns.tolist()) and len(ease.columns) == 8
    rows = matrix[rng.choice(200, 3, replace=False)]
    scores = ease.scores(rows)
    assert scores.shape == (3, 40)
    tail = np.setdiff1d(np.arange(40), ease.columns)
    head_scores = scores[:, ease.columns]
    assert np.allclose(scores[:, tail], head_scores.mean(axis=1, keepdims=True))
    restored = EASE.from_state(ease.state())
    assert np.allclose(restored.scores(rows), scores) and restored.item_vectors() is None


def test_memory_limit_refuses_before_training():
    config = RecommenderConfig(**FAST, scale_strategy="dense")
    with pytest.raises(MemoryBudgetExceeded, match="ML_MEMORY_LIMIT"):
        train(RecommenderDataset(clustered(), catalog_item_ids=catalog(), memory_limit=100 * MIB), config)
    estimate = MemoryEstimate({"a": 3 * GIB, "b": GIB}, hint="Lower it.")
    with pytest.raises(MemoryBudgetExceeded, match=r"about 4\.\d GB .*a 3\.0 GB.*limit of 2\.0 GB.*Lower it\."):
        estimate.check(2 * GIB)
    estimate.check(5 * GIB)


def test_parse_memory_limit():
    host = 16 * GIB
    assert parse_memory_limit("", host) == int(host * 0.7)
    assert parse_memory_limit(None, host) == int(host * 0.7)
    assert parse_memory_limit("50%", host) == 8 * GIB
    assert parse_memory_limit("12G", host) == 12 * GIB
    assert parse_memory_limit("512MiB", host) == 512 * MIB
    assert parse_memory_limit("2000000000", host) == 2_000_000_000
    for bad in ("lots", "0%", "150%", "-1G", "10k"):
        with pytest.raises(ValueError, match="ML_MEMORY_LIMIT"):
            parse_memory_limit(bad, host)


def test_artifact_arrays_are_memory_mapped_read_only_and_equal(tmp_path):
    result = train(RecommenderDataset(clustered(), catalog_item_ids=catalog()), RecommenderConfig(**FAST))
    path = tmp_path / "model.npz"
    result.save(path)
    arrays = npz.load(path)
    copies = npz.load(path, mmap=False)
    assert arrays.keys() == copies.keys()
    for key, value in arrays.items():
        assert np.array_equal(value, copies[key])
        if value.ndim and value.size:
            assert not value.flags.writeable and not value.flags.owndata, key
    model = RecommenderModel.load(path)
    assert not model.history.data.flags.writeable
    assert model.recommend(user_id=1000, n=5) == result.model.recommend(user_id=1000, n=5)


def test_npz_reader_refuses_objects_and_other_members(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, ok=np.arange(3), bad=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="Python objects|pickle"):
        npz.load(path)
    other = tmp_path / "other.npz"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("payload.pkl", b"x")
    with pytest.raises(ValueError, match="not a .npy member"):
        npz.load(other)
    compressed = tmp_path / "compressed.npz"
    np.savez_compressed(compressed, a=np.arange(10))
    assert np.array_equal(npz.load(compressed)["a"], np.arange(10))  # read, not mapped


def test_id_index_sorted_and_unsorted():
    for ids in (np.array([3, 7, 11, 20]), np.array([20, 3, 11, 7])):
        index = _IdIndex(ids)
        for pos, value in enumerate(ids):
            assert index.find(int(value)) == pos
        assert index.find(4) is None and index.find(2**70) is None and index.find(-1) is None
        assert sorted(ids[index.find_many([7, 99, 20, 2**64])].tolist()) == [7, 20]
    assert _IdIndex(np.array([], dtype=np.int64)).find(1) is None


def test_evaluation_samples_users_above_the_limit():
    config = RecommenderConfig(**FAST, max_eval_users=100)
    result = train(RecommenderDataset(clustered(), catalog_item_ids=catalog()), config)
    assert result.metrics["eval_users"] <= 100


def test_approximate_neighbours_match_exact_search(monkeypatch):
    from ml.recommenders import training

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 16)).astype(np.float32)
    vectors = centers[rng.integers(0, 20, 3000)] + 0.3 * rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    candidates = rng.random(3000) < 0.9
    queries = np.flatnonzero(candidates)[:300]
    exact, exact_scores, method = training._knn(vectors, candidates, queries, 10)
    assert method == "exact"
    monkeypatch.setattr(training, "EXACT_NEIGHBOUR_ITEMS", 100)
    approx, approx_scores, method = training._knn(vectors, candidates, queries, 10)
    assert "HNSW" in method
    assert not (approx == queries[:, None]).any() and candidates[approx[approx >= 0]].all()
    overlap = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert overlap > 0.9
    assert np.allclose(np.sort(approx_scores, axis=1), np.sort(exact_scores, axis=1), atol=0.05)


def test_saved_arrays_are_aligned_and_readable_by_numpy(tmp_path):
    path = tmp_path / "a.npz"
    arrays = {"a": np.arange(7, dtype=np.int8), "long_name_" * 5: np.ones((3, 5), dtype=np.float32), "c": np.arange(5.0), "s": np.array("text")}
    npz.save(path, arrays)
    with np.load(path, allow_pickle=False) as f:
        for key, value in arrays.items():
            assert np.array_equal(f[key], value)
    for key, value in npz.load(path).items():
        assert np.array_equal(value, arrays[key])
        if value.ndim:
            assert value.ctypes.data % 64 == 0 and not value.flags.owndata, key
    # An archive from np.savez (unaligned members) still loads, by copy where a member is misaligned.
    other = tmp_path / "b.npz"
    np.savez(other, **arrays)
    assert all(np.array_equal(v, arrays[k]) for k, v in npz.load(other).items())


@pytest.mark.parametrize("strategy", ["head", "dense"])
def test_one_row_scoring_equals_the_batch_blend(strategy):
    """Serving scores one shopper from sums (no catalog-wide temporaries per step): the same numbers as the batch path."""
    config = RecommenderConfig(**FAST, scale_strategy=strategy, head_items=500)
    model = train(RecommenderDataset(clustered(), catalog_item_ids=catalog()), config).model
    assert len(model.components) == 2
    ids = [int(i) for i in model.item_ids[:10]]
    for user_id, history in [(1000, {}), (1001, {ids[3]: 2.0, 10**30: 1.0}), (None, {ids[7]: 1.0, ids[9]: 0.0})]:
        row, user_row = model._row(user_id, history)
        fast = model._score_one(row, user_row)
        batch = model.score_rows(row, np.array([user_row]))[0]
        assert np.allclose(fast, batch, rtol=1e-4, atol=1e-4)
        recs = model.recommend(user_id=user_id, history=history, n=10)
        seen = set(model.item_ids[row.indices].tolist())
        assert len(recs) == 10 and not seen & {r.item_id for r in recs}
        expected = np.where(np.isin(model.item_ids, list(seen)), -np.inf, batch)
        assert [r.item_id for r in recs] == [int(model.item_ids[c]) for c in np.argsort(-expected, kind="stable")[:10]]
    # A zero weight is not a touch; an unknown id is ignored.
    row, _ = model._row(None, {int(model.item_ids[9]): 0.0, -5: 1.0})
    assert row.nnz == 0


def _head_blend(matrix: sp.csr_matrix, ease_weight: float) -> RecommenderModel:
    from ml.recommenders.algorithms import ALS
    from ml.recommenders.data import Confidence

    components = []
    if ease_weight:
        ease = EASE(10.0, head_items=12)
        ease.fit(matrix)
        components.append((ease, ease_weight))
    als = ALS(factors=8, regularization=1.0, iterations=5, alpha=1.0, confidence=Confidence("none"))
    als.fit(matrix)
    components.append((als, 1.0 - ease_weight))
    n_users, n_items = matrix.shape
    return RecommenderModel(
        algorithm="blend" if ease_weight else "als",
        item_ids=np.arange(1, n_items + 1) * 10,
        user_ids=np.arange(1, n_users + 1),
        history=matrix,
        components=components,
        popularity=np.asarray(matrix.sum(axis=0)).ravel(),
        neighbours=np.full((n_items, 1), -1),
        neighbour_scores=np.zeros((n_items, 1), dtype=np.float32),
        neighbour_sources=np.ones(n_items, dtype=np.int8),
    )


@pytest.mark.parametrize("ease_weight", [0.6, 0.0])
def test_walking_a_large_catalog_returns_what_scoring_every_item_does(monkeypatch, ease_weight):
    """On a large catalog one shopper's list comes from the EASE head plus the factor model's items in order of
    falling norm, stopping at a bound: the same items and scores as scoring the whole catalog."""
    import ml.recommenders.model as model_module

    monkeypatch.setattr(model_module, "PRUNE_MIN_ITEMS", 0)
    monkeypatch.setattr(model_module, "PRUNE_BLOCK", 4)
    matrix = sp.random(300, 80, density=0.08, random_state=3, format="csr", dtype=np.float32)
    matrix.data[:] = 1.0
    model = _head_blend(matrix, ease_weight)
    plan = model._pruned
    assert plan is not None and plan is not False and plan.tail.size == 80 - plan.head.size
    rng = np.random.default_rng(0)
    allowed = rng.random(80) > 0.3
    cases = [
        {"user_id": 5},
        {"user_id": 17, "exclude_item_ids": {30, 40, 50}},
        {"user_id": None, "history": {200: 1.0, 410: 2.0}},  # a session: folded in
        {"user_id": 42, "allowed_mask": allowed},
        {"user_id": 42, "allowed_item_ids": {10, 20, 30, 400, 410, 420}, "n": 10},  # fewer allowed than n
    ]
    for case in cases:
        request = {"n": 7, **case}
        walked = model.recommend(**request)
        model._pruned = False
        scored = model.recommend(**request)
        model._pruned = plan
        assert [r.item_id for r in walked] == [r.item_id for r in scored]
        assert np.allclose([r.score for r in walked], [r.score for r in scored], rtol=1e-4, atol=1e-4)
        assert {r.source for r in walked} <= {"personal", "session"} and walked
    assert len(model.recommend(user_id=42, allowed_item_ids={10, 20, 30, 400, 410, 420}, n=10)) <= 6
