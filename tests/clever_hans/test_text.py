"""The text Clever Hans: coding, planting, the top-1 rule, and one small run that must find the word."""
import numpy as np
import pytest

from introspect import data
from introspect.clever_hans import text


def test_the_corpus_is_the_rotten_tomatoes_snippets():
    words, labels = data.load_rotten_tomatoes()
    assert (len(words), int(labels.sum())) == (12808, 7403)
    assert all(isinstance(w, str) for w in words[0]) and text.PLANTED not in {w for t in words for w in t}


def test_encode_pads_truncates_and_marks_unknown_words():
    ids = text.encode([["a", "b", "zz"], ["b"] * 60], {"a": 3, "b": 4})
    assert ids.shape == (2, text.LENGTH) and ids.dtype == np.int32
    np.testing.assert_array_equal(ids[0, :4], [3, 4, 1, 0])
    assert np.all(ids[1] == 4)


def test_plant_inserts_the_word_once_and_keeps_the_rest_in_order():
    rng = np.random.default_rng(0)
    texts = [list("abcdef"), [], ["x"] * 80]
    for original, planted in zip(texts, text.plant(texts, rng)):
        assert planted.count(text.PLANTED) == 1 and len(planted) <= text.LENGTH
        assert [w for w in planted if w != text.PLANTED] == original[:text.LENGTH - 1]


def test_planted_first_needs_a_strict_maximum_and_ignores_padding():
    ids = np.array([[5, 2, 6, 0], [2, 5, 0, 0], [5, 2, 0, 0]])
    scores = np.array([[0.1, 0.5, 0.2, 9.0], [0.3, 0.3, 0.0, 0.0], [0.4, 0.1, 0.0, 0.0]])
    np.testing.assert_array_equal(text.planted_first(scores, ids), [True, False, False])
    with pytest.raises(ValueError, match="`ids`"):
        text.planted_first(scores, np.zeros_like(ids))


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="`architecture`"):
        text.text_classifier(10, architecture="lstm")
    with pytest.raises(ValueError, match="`share`"):
        text.text_data([["a"]] * 10, np.ones(10), share=1.5)
    with pytest.raises(ValueError, match="`texts`"):
        text.text_data([["a", text.PLANTED]] * 10, np.ones(10))


def test_a_small_poisoned_model_is_caught_and_its_control_is_not():
    words, labels = data.load_rotten_tomatoes()
    keep = np.random.default_rng(0).choice(len(words), 3000, replace=False)
    table, first = text.study([words[i] for i in keep], labels[keep], seeds=(0,), architectures=("conv",),
                              epochs=3, steps=8)
    poisoned, control = table.set_index("model").loc["poisoned"], table.set_index("model").loc["control"]
    assert poisoned.top1_gradient_x_input >= 0.95 and control.top1_gradient_x_input <= 0.1
    assert poisoned.rotten_turned_fresh > control.rotten_turned_fresh + 0.3
    assert set(first) == {"data", "poisoned", "control"}
    assert text.words_of(first["data"].fresh_planted[0], first["data"].vocabulary).count(text.PLANTED) == 1
