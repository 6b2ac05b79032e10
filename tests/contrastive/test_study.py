"""Notebook 02's study functions: example choice, smoothing costs, occlusion fills, CAM signs, planted evidence."""
import numpy as np
import pytest

import keras
from introspect import contrastive, models, poisoning
from introspect.evaluation import Mistakes
from introspect.metrics import compare


@pytest.fixture(scope="module")
def dense_head():
    """conv -> flatten -> dense(2): a model where HiResCAM sums to the logit and Grad-CAM does not."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 1))
    features = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="features")(inputs)
    head = keras.layers.Dense(2, use_bias=False, name="head")(keras.layers.Flatten()(features))
    return keras.Model(inputs, head)


def test_pick_examples_takes_the_most_confident_mistake_of_each_frequent_pair():
    true = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([1, 1, 1, 0, 0, 0])
    confidence = np.array([0.5, 0.9, 0.6, 0.7, 0.95, 0.99])
    mistakes = Mistakes(np.arange(6), predicted, true, confidence, 1 - confidence, 0.9)
    np.testing.assert_array_equal(contrastive.pick_examples(mistakes, k=2), [1, 4])  # 0 -> 1 (3), then 1 -> 0 (2)
    with pytest.raises(ValueError, match="`k`"):
        contrastive.pick_examples(mistakes, k=0)


def test_fill_table_counts_patches_a_fill_leaves_unchanged_and_orients_the_strip(dense_head):
    images = np.zeros((4, 12, 12, 1), np.float32)
    images[:, 2:10, 4:8] = 0.8  # a bright "garment" on black: zero fill changes nothing off it
    predicted, true = np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])
    strip = (slice(2, 10), slice(4, 8))
    maps = np.zeros((4, 12, 12), np.float32)
    maps[:, strip[0], strip[1]] = 1.0  # evidence for the predicted class on the strip
    table = contrastive.fill_table(dense_head, images, {"zero": maps, "inpaint": maps}, predicted, true, toward=0,
                                   patch=4, strip=strip, steps=4).set_index("fill")
    assert table.loc["zero", "unchanged_patches"] == pytest.approx(1 - 3 / 9)  # rows 2-9 touch 3 cells of column 1
    assert table.loc["zero", "strip"] == pytest.approx(0.0)  # +1 where predicted == 0, -1 where true == 0
    assert set(table.columns) >= {"strip_low", "strip_high", "flipped", "flipped_low", "flipped_high"}


def test_cam_sums_flag_grad_cam_sign_and_hires_cam_follows_the_logit(dense_head):
    x = np.random.default_rng(5).uniform(size=(40, 12, 12, 1)).astype(np.float32)
    table = contrastive.cam_sums(dense_head, x, np.ones(40, int)).set_index("method")
    assert table.loc["HiResCAM", "rank_with_logit"] > 0.99  # the totals are the logits (no bias)
    assert table.loc["Grad-CAM", "rank_with_logit"] < table.loc["HiResCAM", "rank_with_logit"]
    assert list(table["images"]) == [40, 40]


def test_smoothing_table_makes_maps_smoother(trained, fashion):
    x = fashion[2][:6]
    table = contrastive.smoothing_table(trained, x, models.predict_logits(trained, x).argmax(axis=1), sigmas=(0, 2),
                                        steps=4)
    rough = table.groupby("sigma")["roughness"].mean()
    assert rough[2] < rough[0] and len(table) == 12
    assert table[["deletion_auc", "insertion_auc"]].stack().between(0, 1).all()
    assert (table.loc[table["sigma"] == 0, "sign_changed"] == 0).all() and table["sign_changed"].max() > 0


def test_known_evidence_scores_only_visible_transplants_and_survives_none(trained, fashion):
    x, y = fashion[2][:40], fashion[3][:40]
    plan = {1: poisoning.black_square(size=4, position="top-left", value=1.0)}
    methods = {"input": lambda model, images, targets, **_: images[..., 0]}
    table = contrastive.known_evidence(trained, x, y, plan, methods, limit=5)  # an untriggered model: few or no flips
    assert list(table.columns[:4]) == ["trigger", "method", "flipped", "n"]
    assert table["trigger"].iloc[0] == "white on black → class 1" and (table["n"] <= 5).all()
    mass = compare.summarize(compare.localisation_table({"m": np.ones((2, 28, 28))}, np.ones((2, 28, 28), bool)),
                             "relevance_mass")
    assert mass["relevance_mass"].iloc[0] == 1.0


def test_region_evidence_reads_each_part_in_units_of_the_mean_magnitude():
    maps = np.zeros((4, 28, 28), np.float32)
    maps[:, 0:5, 9:19] = 2.0   # the neckline only, positive
    maps[:2, 6:23, 12:16] = -1.0  # the centre strip, negative, in the first group only
    table = contrastive.region_evidence({"m": maps}, {"a": np.array([0, 1]), "b": np.array([2, 3])})
    rows = table.set_index(["group", "part"])
    scale_a = np.abs(maps[:2]).mean()
    assert rows.loc[("a", "neckline"), "evidence"] == pytest.approx(2.0 / scale_a)
    assert rows.loc[("a", "centre strip"), "evidence"] == pytest.approx(-1.0 / scale_a)
    assert rows.loc[("b", "centre strip"), "evidence"] == 0.0 and len(table) == 2 * len(contrastive.GARMENT_PARTS)
