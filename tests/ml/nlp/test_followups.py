from ml.nlp.followups import content_words, pick_by_words, pick_index, refinement, singular


def test_positions_name_the_listed_things():
    assert pick_index("the second one", 3) == 1
    assert pick_index("2", 3) == 1 and pick_index("#3", 3) == 2 and pick_index("no. 1", 3) == 0
    assert pick_index("the latest please", 3) == 0 and pick_index("the oldest", 3) == 2
    assert pick_index("the fifth", 3) is None and pick_index("7", 3) is None
    assert pick_index("where is it", 3) is None and pick_index("the second", 0) is None


def test_words_pick_the_matching_candidates():
    candidates = [["Kestrel Trail Runner", "running shoes"], ["Stormline Race Jacket", "rain jackets"], ["Espresso Blend", "coffee"]]
    assert pick_by_words("the jacket one", candidates) == [1]
    assert pick_by_words("I want to return the shoes I bought", candidates) == [0]
    assert pick_by_words("my order", candidates) == []
    assert singular("boxes") == "box" and singular("berries") == "berry" and singular("dress") == "dress"
    assert "return" not in content_words("I want to return the shoes")


def test_refinement_words():
    assert refinement("something cheaper please").cheaper
    assert refinement("that's too expensive").cheaper
    assert refinement("show me more").more and refinement("any others?").more
    assert refinement("do you have it in another colour").other_colour
    assert refinement("more expensive ones").pricier and not refinement("more expensive ones").cheaper
    assert not refinement("where is my order")
