"""Our gradient and Grad-CAM against tf-explain's core functions on a tiny trained CNN."""
import numpy as np

from introspect.metrics.crosscheck import tf_explain_agreement


def test_gradient_and_grad_cam_match_tf_explain(trained, fashion):
    x = fashion[2][:6]
    targets = np.array([0, 1, 2, 0, 1, 2])
    table, maps = tf_explain_agreement(trained, x, targets)
    assert set(table["method"]) == {"gradient", "Grad-CAM"} and len(table) == 12
    assert maps["gradient"][0].shape == maps["gradient"][1].shape == (6, 28, 28)
    by = table.groupby("method")
    assert by["spearman"].min().min() > 0.99
    assert by["relative_gap"].median().max() < 1e-4
