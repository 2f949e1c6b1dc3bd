"""ml.recommenders on small synthetic shops with a known structure (no Django)."""

import numpy as np
import pytest
import scipy.sparse as sp

from ml.core import ConfigError
from ml.device import DeviceInfo
from ml.recommenders import (
    Confidence,
    EventWeights,
    Interactions,
    RecommenderConfig,
    RecommenderDataset,
    RecommenderModel,
    RecommenderPredictor,
    build_matrix,
    split_per_user,
    train,
)
from ml.recommenders.algorithms import ALS, EASE, torch_als

CPU = DeviceInfo("cpu", "cpu", "cpu (test)")
N_GROUPS, ITEMS_PER_GROUP, USERS_PER_GROUP = 3, 10, 30


def clustered(seed: int = 0, *, cold_items: int = 0) -> Interactions:
    """Users of group g interact mostly with items of group g (ids 100 + g·10 + j); cold items get no events."""
    rng = np.random.default_rng(seed)
    users, items, types = [], [], []
    for g in range(N_GROUPS):
        for u in range(USERS_PER_GROUP):
            uid = 1000 + g * USERS_PER_GROUP + u
            own = rng.choice(ITEMS_PER_GROUP - cold_items, size=6, replace=False)
            for j in own:
                users.append(uid)
                items.append(100 + g * ITEMS_PER_GROUP + int(j))
                types.append(rng.choice(["view", "add_to_cart", "purchase"], p=[0.6, 0.25, 0.15]))
            other = (g + 1) % N_GROUPS
            users.append(uid)
            items.append(100 + other * ITEMS_PER_GROUP + int(rng.integers(ITEMS_PER_GROUP - cold_items)))
            types.append("view")
    n = len(users)
    return Interactions(np.array(users), np.array(items), np.array(types), np.full(n, np.nan), np.arange(n, dtype=np.float64))


def group_of(item_id: int) -> int:
    return (item_id - 100) // ITEMS_PER_GROUP


def catalog() -> np.ndarray:
    return np.arange(100, 100 + N_GROUPS * ITEMS_PER_GROUP)


FAST = {"content": False, "als_members": 1, "als_iterations": 8}


def test_event_weights_and_aggregation():
    inter = Interactions(
        np.array([1, 1, 1, 2, 2]),
        np.array([10, 10, 11, 10, 12]),
        np.array(["view", "purchase", "rating", "view", "click"]),
        np.array([np.nan, 1, 4, np.nan, np.nan]),
        np.zeros(5),
    )
    weights = EventWeights(view=1, add_to_cart=3, purchase=5, rating_offset=0.5, rating_scale=0.2)
    m = build_matrix(inter, weights)
    assert list(m.user_ids) == [1, 2] and list(m.item_ids) == [10, 11]  # clicks weigh nothing: item 12 has no column
    dense = m.matrix.toarray()
    assert dense[0, 0] == 5 and dense[0, 1] == pytest.approx(0.5 + 0.2 * 4) and dense[1, 0] == 1
    summed = build_matrix(inter, weights, aggregate="sum").matrix.toarray()
    assert summed[0, 0] == 6
    # A fixed catalog gives untouched products a column.
    assert build_matrix(inter, weights, item_ids=np.array([10, 11, 13])).matrix.shape == (2, 3)


def test_split_per_user_is_seeded_disjoint_and_keeps_small_users_whole():
    rng = np.random.default_rng(1)
    dense = (rng.random((50, 40)) < 0.3).astype(np.float32)
    dense[0] = 0
    dense[0, 3] = 1  # one interaction: nothing to hold out
    matrix = sp.csr_matrix(dense)
    train_a, test_a = split_per_user(matrix, 0.25, seed=42)
    train_b, test_b = split_per_user(matrix, 0.25, seed=42)
    assert (train_a != train_b).nnz == 0 and (test_a != test_b).nnz == 0
    assert train_a.multiply(test_a).nnz == 0 and (train_a + test_a != matrix).nnz == 0
    assert test_a[0].nnz == 0 and train_a[0].nnz == 1
    counts = np.diff(matrix.indptr)
    expected = np.rint(counts[1:] * 0.75)
    assert np.array_equal(np.diff(train_a.indptr)[1:], expected)
    assert (split_per_user(matrix, 0.25, seed=7)[0] != train_a).nnz > 0


def test_bm25_confidence_matches_implicit():
    from implicit.nearest_neighbours import bm25_weight

    rng = np.random.default_rng(2)
    matrix = sp.csr_matrix((rng.random((30, 20)) < 0.3) * rng.integers(1, 5, (30, 20)), dtype=np.float32)
    ours = Confidence("bm25", k1=100, b=0.8).fit(matrix).transform(matrix).toarray()
    theirs = np.maximum(bm25_weight(matrix, K1=100, B=0.8).toarray(), 0)
    assert np.allclose(ours, theirs, atol=1e-5)


def test_torch_als_solves_the_same_problem_as_implicit():
    matrix = build_matrix(clustered(), EventWeights()).matrix
    weighted = Confidence("bm25").fit(matrix).transform(matrix)
    users, items = torch_als(weighted, factors=8, regularization=1.0, iterations=10, seed=0, device=CPU)
    als = ALS(factors=8, regularization=1.0, iterations=10, backend="numpy")
    als.fit(matrix)

    def loss(u: np.ndarray, v: np.ndarray) -> float:
        # Hu et al.'s objective as implicit states it: confidence c on observed cells (preference 1), 1 elsewhere.
        conf = weighted.toarray()
        observed = conf > 0
        c = np.where(observed, conf, 1.0)
        return float((c * (observed - u @ v.T) ** 2).sum() + 1.0 * ((u**2).sum() + (v**2).sum()))

    ours, theirs = loss(users, items), loss(als.user_factors, als.item_factors)
    assert ours == pytest.approx(theirs, rel=0.05)
    start = loss(np.full_like(users, 0.005), np.full_like(items, 0.005))
    assert ours < 0.8 * start
    # Folding a training user's own history back in recovers (almost) their trained factors.
    folded = als.fold_in(matrix[:5])
    assert np.allclose(folded, als.user_factors[:5], atol=0.05)


def test_ease_torch_and_numpy_agree():
    matrix = build_matrix(clustered(), EventWeights()).matrix
    a, b = EASE(50.0, backend="numpy"), EASE(50.0, backend="torch")
    a.fit(matrix, CPU)
    b.fit(matrix, CPU)
    assert a.used_backend == "numpy" and b.used_backend == "torch"
    assert np.allclose(a.weights, b.weights, atol=1e-4)


@pytest.mark.parametrize("algorithm", ["blend", "ease", "als", "bpr"])
def test_personal_models_learn_the_groups_and_beat_popularity(algorithm):
    data = RecommenderDataset(clustered(), catalog_item_ids=catalog())
    extra = {"bpr_iterations": 60, "bpr_factors": 16} if algorithm == "bpr" else {}
    trained = train(data, RecommenderConfig.from_dict({**FAST, "algorithm": algorithm, **extra}), device=CPU)
    baseline = train(data, RecommenderConfig.from_dict({"algorithm": "popularity", "content": False}), device=CPU)
    assert trained.metrics["ndcg@10"] > baseline.metrics["ndcg@10"] + 0.1
    assert {"precision@10", "recall@10", "map@10", "coverage@10", "popularity_bias@10", "eval_users"} <= set(trained.metrics)
    model = trained.model
    # A group-0 user is recommended group-0 items they have not seen.
    recs = model.recommend(user_id=1000, n=3)
    assert all(group_of(r.item_id) == 0 for r in recs) and {r.source for r in recs} == {"personal"}
    assert not {r.item_id for r in recs} & set(clustered().item_ids[clustered().user_ids == 1000].tolist())


def test_blend_weight_is_chosen_on_validation_and_reported():
    trained = train(RecommenderDataset(clustered(), catalog_item_ids=catalog()), RecommenderConfig.from_dict(FAST), device=CPU)
    weights = trained.details["blend_weights"]
    assert weights["ease"] + weights["als"] == pytest.approx(1.0)
    assert any(k.startswith("validation_ndcg@10_ease_") for k in trained.details["validation"])
    fixed = train(RecommenderDataset(clustered(), catalog_item_ids=catalog()), RecommenderConfig.from_dict({**FAST, "blend_ease_weight": 0.8}), device=CPU)
    assert fixed.details["blend_weights"]["ease"] == 0.8 and "validation" not in fixed.details


def test_session_cold_start_filters_and_artifact_round_trip(tmp_path):
    trained = train(RecommenderDataset(clustered(), catalog_item_ids=catalog()), RecommenderConfig.from_dict(FAST), device=CPU)
    path = tmp_path / trained.artifact_name
    trained.save(path)
    predictor = RecommenderPredictor.load(path, CPU)
    model = predictor.model
    assert [r.item_id for r in model.recommend(user_id=1031, n=5)] == [r.item_id for r in trained.model.recommend(user_id=1031, n=5)]

    # Anonymous session of group-2 items → group-2 items, each explained by one of the session's items.
    session = {120: 1.0, 121: 1.0}
    recs = predictor.recommend(history=session, n=4)
    assert {r.source for r in recs} == {"session"} and all(group_of(r.item_id) == 2 for r in recs)
    assert all(r.because_item_id in session for r in recs) and not {r.item_id for r in recs} & set(session)

    # Nobody known, nothing in the session → the popular list; unknown item ids are ignored.
    popular = predictor.recommend(user_id=999_999, history={424242: 1.0}, n=3)
    assert {r.source for r in popular} == {"popular"} and len(popular) == 3

    # Filters: only allowed items, never excluded ones, and never more than the candidates left.
    allowed = {100, 101, 102}
    filtered = predictor.recommend(user_id=1000, n=10, allowed_item_ids=allowed, exclude_seen=False, exclude_item_ids={101})
    assert {r.item_id for r in filtered} == {100, 102}
    # The same filter as a boolean mask over the item columns (what the server caches per filter).
    mask = np.isin(model.item_ids, list(allowed))
    by_mask = predictor.recommend(user_id=1000, n=10, allowed_mask=mask, exclude_seen=False, exclude_item_ids={101})
    assert [(r.item_id, r.score) for r in by_mask] == [(r.item_id, r.score) for r in filtered]
    with pytest.raises(ValueError, match="one flag per item"):
        predictor.recommend(user_id=1000, n=3, allowed_mask=mask[:-1])

    # Similar items come from the model and exclude the item itself.
    similar = predictor.similar_items(105, n=3)
    assert len(similar) == 3 and all(group_of(s.item_id) == 0 and s.item_id != 105 for s in similar)
    assert {s.source for s in similar} == {"collaborative"}


def test_new_product_gets_text_neighbours_and_text_only_sessions_use_content():
    inter = clustered(cold_items=2)  # items x8, x9 of every group have no events
    titles = {0: "espresso coffee beans", 1: "garden hose and watering can", 2: "trail running shoes"}
    texts = {int(i): f"{titles[group_of(int(i))]} model {int(i) % 10}" for i in catalog()}
    trained = train(RecommenderDataset(inter, catalog_item_ids=catalog(), item_texts=texts), RecommenderConfig.from_dict({**FAST, "content": True}), device=CPU)
    model = trained.model
    assert trained.details["cold_items"] == 6 and trained.details["items_with_text"] == 30
    cold = 129  # a running product nobody touched
    neighbours = model.similar_items(cold, n=3)
    assert neighbours and {n.source for n in neighbours} == {"content"} and all(group_of(n.item_id) == 2 for n in neighbours)
    # A session made only of cold products is answered from text similarity.
    recs = model.recommend(history={cold: 1.0, 128: 1.0}, n=3)
    assert {r.source for r in recs} == {"content"} and all(group_of(r.item_id) == 2 for r in recs)
    assert all(r.because_item_id in (128, 129) for r in recs)
    # A product added after training is placed by its text alone.
    from ml.recommenders.content import embed_texts

    placed = model.similar_to_embedding(embed_texts(["garden watering can with long spout"])[0], n=3)
    assert all(group_of(p.item_id) == 1 for p in placed)


def test_trending_prefers_recent_activity():
    # Item 1 was popular long ago; item 2 is busy now.
    n_old, n_new = 40, 10
    # Users 0–4 also touched items 3 and 4 lately (three cells each: one can be held out for the metrics).
    users = np.concatenate([np.arange(n_old), np.arange(n_old, n_old + n_new), np.arange(5), np.arange(5)])
    items = np.concatenate([np.full(n_old, 1), np.full(n_new, 2), np.full(5, 3), np.full(5, 4)])
    day = 86400.0
    stamps = np.concatenate([np.full(n_old, 0.0), np.full(n_new, 60 * day), np.full(10, 60 * day)])
    inter = Interactions(users, items, np.full(len(users), "view"), np.full(len(users), np.nan), stamps)
    data = RecommenderDataset(inter)
    popular = train(data, RecommenderConfig.from_dict({"algorithm": "popularity", "content": False})).model
    trending = train(data, RecommenderConfig.from_dict({"algorithm": "trending", "content": False})).model
    assert popular.recommend(n=1)[0].item_id == 1
    top = trending.recommend(n=1)[0]
    assert top.item_id == 2 and top.source == "trending"


def test_config_errors_and_too_little_data():
    with pytest.raises(ConfigError, match="algorithm"):
        RecommenderConfig.from_dict({"algorithm": "magic"})
    with pytest.raises(ConfigError, match="unknown config keys"):
        RecommenderConfig.from_dict({"factors": 3})
    with pytest.raises(ConfigError, match="blend_ease_weight"):
        RecommenderConfig.from_dict({"blend_ease_weight": 1.5})
    tiny = Interactions(np.array([1]), np.array([5]), np.array(["view"]), np.array([np.nan]), np.zeros(1))
    from ml.recommenders import NotEnoughData

    with pytest.raises(NotEnoughData):
        train(RecommenderDataset(tiny), RecommenderConfig.from_dict(FAST))


def test_model_file_holds_no_pickles(tmp_path):
    trained = train(RecommenderDataset(clustered(), catalog_item_ids=catalog()), RecommenderConfig.from_dict(FAST), device=CPU)
    trained.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        assert "meta" in npz.files
    assert isinstance(RecommenderModel.load(tmp_path / "m.npz"), RecommenderModel)
    RecommenderPredictor.check_file(tmp_path / "m.npz")  # what an upload's static check accepts
    (tmp_path / "evil.npz").write_bytes((tmp_path / "m.npz").read_bytes())
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.npz", "a") as archive:
        archive.writestr("payload.pkl", b"cos\nsystem\n(S'touch /tmp/x'\ntR.")
    with pytest.raises(ValueError, match=r"\.npy arrays only, not payload\.pkl"):
        RecommenderPredictor.check_file(tmp_path / "evil.npz")
