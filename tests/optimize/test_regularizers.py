"""Regularisers: the penalties are the documented quantities, and each one smooths or pulls the result."""
import numpy as np
import pytest
import tensorflow as tf

from introspect import optimize as opt

RUN = dict(progress=False)


def test_penalties_are_the_documented_per_image_quantities():
    images = np.random.default_rng(0).random((3, 7, 5, 2), dtype=np.float32)
    expected_tv = (np.abs(np.diff(images, axis=1)).mean(axis=(1, 2, 3))
                   + np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(opt.total_variation(3.0).penalty(tf.constant(images)).numpy(), 3.0 * expected_tv,
                               rtol=1e-5)
    expected_l2 = np.square(images - 0.2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(opt.l2(0.5, center=0.2).penalty(tf.constant(images)).numpy(), 0.5 * expected_l2,
                               rtol=1e-5)


def test_blur_and_penalties_smooth_the_result(tiny):
    def roughness(images):
        return np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean()

    common = dict(init="noise", n=2, steps=12, **RUN)
    plain = opt.optimize(tiny, opt.class_logit(1), **common).images
    blurred = opt.optimize(tiny, opt.class_logit(1), regularizers=[opt.blur(1.0, every=2)], **common).images
    smooth = opt.optimize(tiny, opt.class_logit(1), regularizers=[opt.total_variation(50.0)], **common).images
    pulled = opt.optimize(tiny, opt.class_logit(1), regularizers=[opt.l2(100.0)], **common).images
    assert roughness(blurred) < 0.5 * roughness(plain)
    assert roughness(smooth) < roughness(plain)
    assert np.abs(pulled - 0.5).mean() < np.abs(plain - 0.5).mean()


def test_bad_regularizers_are_value_errors_naming_the_argument(tiny):
    cases = [
        (lambda: opt.blur(sigma=0), "`sigma`"),
        (lambda: opt.blur(every=0), "`every`"),
        (lambda: opt.l2(-1.0), "`weight`"),
        (lambda: opt.l2(center=2.0), "`center`"),
        (lambda: opt.total_variation(-0.1), "`weight`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=1, regularizers=[opt.blur(), opt.blur()], **RUN),
         "`regularizers`"),
        (lambda: opt.optimize(tiny, opt.class_logit(0), steps=1, regularizers=[opt.jitter(1)], **RUN),
         "`regularizers`"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
