"""Tests of the notebook-01 study helpers: plans, masks from the plan and from explanations, tables."""
import numpy as np
import pandas as pd
import pytest

from introspect import metrics, poisoning
from introspect.clever_hans import repairs, runs, study


def small_data(fraction=1.0, level="strong"):
    rng = np.random.default_rng(0)
    x = np.zeros((40, 28, 28, 1), np.float32)
    x[:, 8:20, 8:20] = rng.random((40, 12, 12, 1)) * 0.5 + 0.5          # a garment in the middle, black around
    y = np.tile(np.arange(10), 4)
    return study.poisoned_data((x, y), (x.copy(), y.copy()), study.fashion_plan(level), fraction, seed=0)


def test_plans_use_the_renamed_ramp_and_refuse_unknown_levels():
    for level in study.LEVELS:
        plan = study.fashion_plan(level)
        assert sorted(plan) == [0, 3, 5, 8]
        assert isinstance(plan[8], poisoning.LightnessRamp) and plan[8].name == "lightness_ramp"
    assert study.fashion_plan("faint")[5].alpha < study.fashion_plan("strong")[5].alpha
    with pytest.raises(ValueError, match="level"):
        study.fashion_plan("medium")


def test_known_masks_are_the_footprints_and_the_ramps_background():
    d = small_data()
    masks = repairs.known_masks(d)
    ramp = d.y_train == 8
    np.testing.assert_array_equal(masks[~ramp], d.train_masks[~ramp])
    assert not masks[ramp][:, 6:22, 6:22].any()                           # garment and a 2-px rim stay free
    assert masks[ramp][:, :5].all() and masks[ramp][:, 23:].all()


def test_explanation_masks_find_a_spot_shared_by_one_class():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 30)
    maps = rng.random((150, 28, 28)) * 0.2
    maps[labels == 2, 1:5, 1:5] += 5.0                                    # class 2 looks at the corner
    found = metrics.spray(maps, labels, seed=0)
    union, regions = repairs.explanation_masks(maps, labels, found)
    assert list(regions) == [2]
    assert union[1:5, 1:5].all() and union.sum() <= 0.1 * union.size


def test_trigger_relevance_of_the_masks_themselves_is_perfect():
    d = small_data()
    index = study.per_class_index(d.y_test, 2, study.LOCALISED)
    masks = d.test_masks[index].astype(float)
    table = study.trigger_relevance({"m": {"mask": masks}}, d, index, intervals=True)
    assert len(table) == len(study.LOCALISED)
    np.testing.assert_allclose(table["relevance mass"], 1.0)
    assert (table["pointing game"] == 1.0).all()


def test_seed_ranges_and_discovery_table():
    seeds = pd.DataFrame({"model": ["poisoned"] * 2, "trigger": ["square"] * 2, "seed": [0, 1],
                          "clean": [0.0, 0.1], "with trigger": [1.0, 0.9], "transplant flip": [0.9, 1.0],
                          "LRP mass": [0.5, np.nan]})
    ranges = runs.seed_ranges(seeds)
    assert ranges.loc[0, "clean"] == (0.0, 0.1) and ranges.loc[0, "LRP mass"] == (0.5, 0.5)
    result = metrics.SprayResult(classes=np.arange(10), suspicion=np.arange(10.0), eigengap=-np.arange(10.0),
                                 n_clusters=np.ones(10), largest_cluster_share=np.ones(10),
                                 concentration=np.ones(10), image_concentration=np.ones(10),
                                 mean_concentration=np.arange(10.0))
    table = runs.discovery_table({"m": result}).set_index("statistic")
    assert table.loc["SpRAy", "lightness ramp"] == 2 and table.loc["eigengap", "square"] == 1
    assert table.loc["SpRAy", "poisoned in top 4"] == 1


def test_inpaint_removes_a_trigger_drawn_on_a_flat_background():
    d = small_data()
    chosen = d.train_poisoned & (d.y_train == 0)                         # the square, on black
    filled = repairs.inpaint(d.x_train[chosen], d.train_masks[chosen])
    np.testing.assert_allclose(filled, d.x_train_clean[chosen], atol=1e-6)
    flat = np.full((2, 28, 28, 1), 0.6, np.float32)
    striped, mask = poisoning.watermark("stripes", alpha=0.1).apply(flat)
    before = striped.copy()
    np.testing.assert_allclose(repairs.inpaint(striped, mask), flat, atol=1e-6)
    np.testing.assert_array_equal(striped, before)                        # the input is not modified
