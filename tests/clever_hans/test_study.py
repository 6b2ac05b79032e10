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


def sweep_rows():
    """A tiny sweep: control (3 seeds) and one cell whose square is used in every seed, stamp in one."""
    rows = []
    for fraction, flips in ((0.0, {"square": (0.02, 0.03, 0.04), "time stamp": (0.01, 0.02, 0.02)}),
                            (0.1, {"square": (0.2, 0.3, 0.25), "time stamp": (0.01, 0.05, 0.02)})):
        for trigger, values in flips.items():
            for seed, flip in enumerate(values):
                rows.append({"trigger": trigger, "level": "strong", "fraction": fraction, "seed": seed, "clean": 0.8,
                             "transplant flip": flip, "LRP mass": np.nan, "SpRAy score": 0.1 + 0.01 * seed})
    return pd.DataFrame(rows)


def test_detections_count_seeds_beyond_the_controls_range_and_the_earliest_share_needs_every_seed():
    found = runs.detections(sweep_rows()).set_index("trigger")
    assert found.loc["square", "transplant test"] == "3/3"
    assert found.loc["time stamp", "transplant test"] == "1/3"     # 0.05 > 0.02; 0.01 and 0.02 are not above it
    assert found.loc["square", "accuracy drop"] == "0/3"           # equal to the control is no drop
    assert found.loc["square", "SpRAy"] == "0/3" and found.loc["square", "LRP mass"] == "n/a"
    earliest = runs.earliest_detection(runs.detections(sweep_rows())).set_index("trigger")
    assert earliest.loc["square", "transplant test"] == 0.1
    assert pd.isna(earliest.loc["time stamp", "transplant test"]) and pd.isna(earliest.loc["square", "LRP mass"])


def test_spray_flags_compare_every_class_with_the_controls_largest_score():
    rows = [{"model": model, "seed": seed, "class": c, "SpRAy score": score + 0.01 * seed, "class-mean score": 0.1}
            for seed in range(3) for c in range(10)
            for model, score in (("control", 0.1), ("poisoned", 0.5 if c == 0 else 0.1))]
    flags = runs.spray_flags(pd.DataFrame(rows)).set_index("class")
    assert flags.loc["T-shirt/top", "SpRAy score: flagged"] == "3/3"
    assert flags.loc["Trouser", "SpRAy score: flagged"] == "0/3"          # equal to the control's largest: not above
    assert flags.loc["T-shirt/top", "SpRAy score: threshold"] == pytest.approx(0.12)
    assert flags.loc["T-shirt/top", "SpRAy score: poisoned"] == pytest.approx((0.5, 0.52))


def test_repair_summary_gives_seed_ranges_before_after_and_control():
    base = dict(trigger="square", **{"transplant flip": 0.5, "overall clean": 0.7})
    seeds = pd.DataFrame([{**base, "model": m, "seed": s, "clean": v} for m, vs in
                          (("poisoned", (0.0, 0.01)), ("control", (0.8, 0.85))) for s, v in enumerate(vs)])
    repair = pd.DataFrame([{**base, "model": "rrr", "seed": s, "clean": v} for s, v in enumerate((0.7, 0.9, 0.8))])
    summary = repairs.repair_summary(repair, seeds, {"poisoned": "before", "rrr": "after", "control": "control"})
    square = summary[summary.trigger == "square"].set_index("model")
    assert square.loc["after", "clean"] == (0.7, 0.9) and square.loc["after", "seeds"] == 3
    assert square.loc["before", "clean"] == (0.0, 0.01) and square.loc["control", "clean"] == (0.8, 0.85)
