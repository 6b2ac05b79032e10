"""The comparison loops: long tables per method and image, intervals, paired comparisons."""
import functools

import numpy as np
import pandas as pd
import pytest

from helpers import halves_model, input_map, rng_images, tape_gradient
from introspect import saliency
from introspect.metrics import compare
from introspect.metrics.roar_seeds import roar_runs


def test_explain_returns_pixel_maps_and_times():
    model, images = halves_model(4), rng_images(5, (4, 4, 1))
    maps, seconds = compare.explain(model, images, 0, {"gradient": tape_gradient, "input": input_map})
    assert set(maps) == {"gradient", "input"} and maps["gradient"].shape == (5, 4, 4)
    np.testing.assert_allclose(maps["gradient"][:, :, :2], 1.0)
    np.testing.assert_allclose(maps["gradient"][:, :, 2:], 0.0)
    assert list(seconds.index) == ["gradient", "input"] and (seconds >= 0).all()


def test_contrastive_maps_go_through_foil():
    model, images = halves_model(4), rng_images(3, (4, 4, 1))
    maps, _ = compare.explain(model, images, 0, {"gradient": saliency.vanilla_gradient}, foil=1)
    np.testing.assert_allclose(maps["gradient"][:, :, :2], 1.0, atol=1e-6)
    np.testing.assert_allclose(maps["gradient"][:, :, 2:], -1.0, atol=1e-6)


def test_perturbation_and_contrastive_tables_are_long_and_complete():
    model, images = halves_model(4), rng_images(6, (4, 4, 1))
    maps = {"gradient": tape_gradient(model, images, 0)[..., 0], "input": images[..., 0]}
    table = compare.perturbation_table(model, images, maps, 0, fills=("mean", "blur"), steps=4)
    assert len(table) == 6 * 3 * 2 and set(table["method"]) == {"gradient", "input", "random"}
    assert table[["deletion_auc", "insertion_auc"]].notna().all().all()
    contrast = compare.contrastive_table(model, images, maps, np.ones(6, int), np.zeros(6, int), steps=4)
    assert len(contrast) == 6 * 3 and set(contrast["flipped"]) <= {0.0, 1.0}


def test_localisation_table_scores_a_map_inside_the_mask_perfectly():
    masks = np.zeros((3, 6, 6), bool)
    masks[:, :2, :2] = True
    inside = masks.astype(float)
    outside = 1.0 - inside
    table = compare.localisation_table({"inside": inside, "outside": outside}, masks)
    by = table.groupby("method")[["relevance_mass", "pointing"]].mean()
    assert by.loc["inside"].tolist() == [1.0, 1.0] and by.loc["outside"].tolist() == [0.0, 0.0]
    assert table["mask_share"].iloc[0] == pytest.approx(4 / 36)


def test_cascade_table_flags_a_method_that_ignores_the_model(trained, fashion):
    x = fashion[2][:6]
    table = compare.cascade_table(trained, {"input": input_map, "gradient": tape_gradient}, x, 0,
                                  region=x[..., 0] > 0)
    layers = [layer.name for layer in trained.layers if layer.weights][::-1]  # top down
    by_method = table.groupby(["method", "step"])
    assert list(table.loc[table["method"] == "input"].drop_duplicates("step")["layer"]) == layers
    np.testing.assert_allclose(table.loc[table["method"] == "input", "rho"], 1.0)
    assert by_method["rho"].mean()[("gradient", len(layers))] < 0.9  # every layer random: another map
    assert len(table) == 2 * len(layers) * 6


def test_map_similarity_compares_on_the_region_signed_or_by_magnitude():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 6, 6))
    region = np.zeros((5, 6, 6), bool)
    region[:, :3] = True
    b = np.where(region, -a, rng.normal(size=(5, 6, 6)))  # the sign flipped on the region, noise elsewhere
    table = compare.map_similarity({"m": a}, {"m": b}, region=region)
    np.testing.assert_allclose(table["rho"], -1.0)
    np.testing.assert_allclose(compare.map_similarity({"m": a}, {"m": b}, region=region, absolute=True)["rho"], 1.0)
    assert (compare.map_similarity({"m": a}, {"m": b})["rho"] > -0.9).all()  # the noise counts without a region
    with pytest.raises(ValueError, match="`region`"):
        compare.map_similarity({"m": a}, {"m": b}, region=region[:2])
    with pytest.raises(ValueError, match="`maps_a` and `maps_b`"):
        compare.map_similarity({"m": a}, {"n": b})


def test_summarize_and_versus_best_separate_only_what_the_data_separates():
    rng = np.random.default_rng(0)
    base = rng.normal(size=200)
    table = pd.concat([pd.DataFrame(dict(method=name, image=np.arange(200), score=base + shift))
                       for name, shift in (("a", 1.0), ("b", 0.0), ("c", 1.0 + 1e-3 * rng.normal(size=200)))])
    summary = compare.summarize(table, "score").set_index("method")
    assert (summary["score_low"] < summary["score"]).all() and (summary["score"] < summary["score_high"]).all()
    versus = compare.versus_best(table, "score", higher_is_better=True).set_index("method")
    assert versus.loc["b", "separable"] and not versus.loc[versus.index[0], "separable"]
    assert versus.index[-1] == "b" and versus.loc["b", "difference_high"] < 0


@pytest.mark.slow
def test_roar_runs_trains_one_model_per_seed_method_and_fraction(trained, fashion, tiny_cnn):
    x, y, x_test, y_test = fashion
    seen = []
    table = roar_runs(trained, {"gradient": functools.partial(tape_gradient)}, x[:200], y[:200], x_test, y_test,
                      fractions=(0.9,), seeds=(0, 1), builder=tiny_cnn, epochs=1, on_result=seen.append)
    assert len(table) == len(seen) == 2 + 2 * 2
    assert sorted(table.loc[table["method"] == "unmodified", "seed"]) == [0, 1]
    assert set(table["method"]) == {"unmodified", "gradient", "random"} and table["accuracy"].between(0, 1).all()
    with pytest.raises(ValueError, match="`fractions`"):
        roar_runs(trained, {"g": tape_gradient}, x, y, x_test, y_test, fractions=(1.5,))


def test_intervention_table_counts_moves_to_the_goal_with_paired_differences():
    images = np.zeros((40, 2, 2, 1), np.float32)
    images[:10, 0, 0] = 1.0  # a quarter of the images carry the cue

    def classify(x):
        return (x[:, 0, 0, 0] > 0.5).astype(int)

    edits = {"add cue": lambda x: np.where(np.arange(2)[None, :, None, None] == 0, 1.0, x).astype(np.float32),
             "control": lambda x: x}
    table = compare.intervention_table(classify, {"all": (images, 1)}, edits, controls={"add cue": "control"})
    rows = table.set_index("edit")
    assert rows.loc["add cue", "rate"] == 1.0 and rows.loc["control", "rate"] == 0.25
    assert rows.loc["add cue", "difference_low"] > 0.5 and np.isnan(rows.loc["control", "difference_low"])


def test_roar_runs_can_skip_the_unmodified_models_when_adding_fractions(trained, fashion, tiny_cnn):
    x, y, x_test, y_test = fashion
    table = roar_runs(trained, {"gradient": tape_gradient}, x[:100], y[:100], x_test[:50], y_test[:50],
                      fractions=(0.5,), seeds=(0,), builder=tiny_cnn, epochs=1, unmodified=False)
    assert sorted(table["method"]) == ["gradient", "random"] and (table["fraction"] == 0.5).all()


def test_roar_runs_can_skip_the_random_order_when_adding_methods(trained, fashion, tiny_cnn):
    x, y, x_test, y_test = fashion
    table = roar_runs(trained, {"gradient": tape_gradient}, x[:100], y[:100], x_test[:50], y_test[:50],
                      fractions=(0.5, 0.9), seeds=(0, 1), builder=tiny_cnn, epochs=1, unmodified=False,
                      random_order=False)
    assert set(table["method"]) == {"gradient"} and len(table) == 4  # one training per fraction and seed
