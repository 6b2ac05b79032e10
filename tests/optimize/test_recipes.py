"""The grid of activation-maximisation runs and the logit paths read from its snapshots."""
import numpy as np

from helpers import linear_model
from introspect import optimize as opt


def test_grid_runs_every_combination_and_paths_track_target_and_other_logits():
    weights = np.random.default_rng(0).normal(size=(4, 4, 1, 3)).astype(np.float32)
    model = linear_model(weights)
    classes = np.array([0, 2])
    start = np.full((2, 4, 4, 1), 0.5, np.float32)
    grid = opt.run_grid(model, classes, {"gray": start}, {"clip": {"gradient": 0.01}}, steps=5, snapshots=(0, 5))
    assert set(grid) == {("gradient", "clip", "gray", "logit"), ("gradient", "clip", "gray", "probability")}
    paths = opt.logit_paths(model, grid[("gradient", "clip", "gray", "logit")], classes)
    first, last = paths[paths.step == 0], paths[paths.step == 5]
    # a logit's gradient is w_c: 5 steps of 0.01 raise it by 0.05 |w_c|^2 (no pixel reaches a bound)
    gain = 0.05 * np.square(weights[..., classes].reshape(16, 2)).sum(axis=0)
    np.testing.assert_allclose(last.target.to_numpy() - first.target.to_numpy(), gain, rtol=1e-4)
    assert (paths.other < np.inf).all() and ((paths.p > 0) & (paths.p < 1)).all()
