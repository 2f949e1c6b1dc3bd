"""Event type codes, the weights they carry, and the batch recommend the nightly precompute uses (no Django)."""

from types import SimpleNamespace

import numpy as np
import pytest

from ml.recommenders import EventWeights, Interactions, RecommenderConfig, RecommenderDataset, RecommenderPredictor, train
from ml.recommenders.data import EVENT_TYPES, OTHER_TYPE, event_type_codes
from tests.ml.recommenders.test_recommenders import FAST, clustered

VIEW, CART, PURCHASE, RATING = (EVENT_TYPES.index(t) for t in ("view", "add_to_cart", "purchase", "rating"))


def test_names_become_int8_codes_and_codes_pass_through():
    names = np.array(["view", "rating", "click", "purchase", "add_to_cart", ""])
    codes = event_type_codes(names)
    assert codes.dtype == np.int8 and codes.tolist() == [VIEW, RATING, OTHER_TYPE, PURCHASE, CART, OTHER_TYPE]
    assert event_type_codes(np.array([0, 3, 4, -7, 300])).tolist() == [0, 3, OTHER_TYPE, OTHER_TYPE, OTHER_TYPE]
    assert event_type_codes(np.array([], dtype=str)).dtype == np.int8


def test_interactions_store_codes_whatever_they_were_given():
    from_names = Interactions(np.array([1, 2, 2]), np.array([5, 5, 6]), np.array(["view", "click", "rating"]), np.array([np.nan, np.nan, 4.0]), np.zeros(3))
    codes = np.array([VIEW, -1, RATING], dtype=np.int8)
    from_codes = Interactions(np.array([1, 2, 2]), np.array([5, 5, 6]), codes, np.array([np.nan, np.nan, 4.0]), np.zeros(3))
    for inter in (from_names, from_codes):
        assert inter.types.dtype == np.int8 and inter.types.tolist() == [VIEW, OTHER_TYPE, RATING]
        assert inter.describe()["by_type"] == {"other": 1, "view": 1, "rating": 1}
    # Boolean masks over the codes (how the benchmark splits events) keep them codes.
    assert Interactions(*(getattr(from_names, f)[[0, 2]] for f in ("user_ids", "item_ids", "types", "values", "timestamps"))).types.tolist() == [VIEW, RATING]
    with pytest.raises(ValueError, match="types has 2 rows"):
        Interactions(np.array([1, 2, 3]), np.array([5, 5, 6]), np.array(["view", "view"]), np.zeros(3), np.zeros(3))


def test_from_log_maps_the_logs_own_codes():
    # The shop's log numbers its types its own way (feedback types included); only the names matter.
    log = SimpleNamespace(
        customer_ids=np.array([1, 1, 2, 2, 3]),
        product_ids=np.array([7, 8, 7, 9, 9]),
        types=np.array([3, 0, 5, -1, 1], dtype=np.int8),
        values=np.array([np.nan, np.nan, np.nan, np.nan, 2.0]),
        timestamps=np.arange(5, dtype=np.float64),
        type_names=("purchase", "rating", "x", "view", "impression", "add_to_cart"),
    )
    inter = Interactions.from_log(log)
    assert inter.types.tolist() == [VIEW, PURCHASE, CART, OTHER_TYPE, RATING]
    named = SimpleNamespace(**{**vars(log), "types": np.array(["view", "purchase", "add_to_cart", "wish", "rating"])})
    del named.type_names
    assert Interactions.from_log(named).types.tolist() == inter.types.tolist()


def test_weights_of_codes_equal_weights_of_names():
    weights = EventWeights(view=1, add_to_cart=3, purchase=5, rating_offset=0.5, rating_scale=0.2)
    names = np.array(["view", "add_to_cart", "purchase", "rating", "rating", "click"])
    values = np.array([np.nan, 2.0, 1.0, 4.0, np.nan, np.nan])
    expected = [1.0, 3.0, 5.0, 0.5 + 0.2 * 4, 0.5 + 0.2 * 3, 0.0]  # a rating without stars counts as 3
    assert weights.of(event_type_codes(names), values).tolist() == pytest.approx(expected)
    assert weights.of(names, values).tolist() == pytest.approx(expected)


@pytest.mark.parametrize("algorithm", ["blend", "ease", "als", "popularity"])
def test_recommend_for_users_equals_one_recommend_per_user(algorithm):
    model = train(RecommenderDataset(clustered(cold_items=2)), RecommenderConfig.from_dict({**FAST, "algorithm": algorithm})).model
    predictor = RecommenderPredictor(model)
    users = [int(u) for u in model.user_ids] + [999_999]  # an unknown id is skipped
    batched = predictor.recommend_for_users(users, 4, batch=7)
    assert sorted(batched) == sorted(int(u) for u in model.user_ids)
    for uid in model.user_ids.tolist():
        one = model.recommend(user_id=uid, n=4)
        got = batched[uid]
        assert [(r.item_id, r.source, r.because_item_id) for r in got] == [(r.item_id, r.source, r.because_item_id) for r in one]
        assert [r.score for r in got] == pytest.approx([r.score for r in one], abs=1e-5)
    # More than the unseen items: each user gets every item they have not seen, never a seen one.
    everything = predictor.recommend_for_users(users[:3], 10_000)
    for uid in users[:3]:
        seen = set(model.item_ids[model.history[model.user_row(uid)].indices].tolist())
        got = {r.item_id for r in everything[uid]}
        assert not got & seen and (algorithm == "popularity" or len(got) == model.n_items - len(seen))
