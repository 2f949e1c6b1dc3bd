"""Classification metrics against cases worked out by hand (the arithmetic is in the comments)."""

import numpy as np
import pytest

from ml.metrics import accuracy, confusion_matrix, macro_f1

# Three classes, six samples:
#   y_true = 0 0 1 1 2 2
#   y_pred = 0 1 1 1 2 0
#   correct at positions 0, 2, 3, 4 -> accuracy 4/6 = 2/3
#   confusion (rows true, columns predicted):
#     true 0 -> predicted 0, 1      -> [1, 1, 0]
#     true 1 -> predicted 1, 1      -> [0, 2, 0]
#     true 2 -> predicted 2, 0      -> [1, 0, 1]
#   F1 = 2*TP / (predicted + actual):
#     class 0: TP 1, predicted 2 (col 0), actual 2 -> 2/4 = 1/2
#     class 1: TP 2, predicted 3 (col 1), actual 2 -> 4/5
#     class 2: TP 1, predicted 1 (col 2), actual 2 -> 2/3
#   macro F1 = (1/2 + 4/5 + 2/3) / 3 = (15/30 + 24/30 + 20/30) / 3 = 59/90
Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0]


def test_accuracy_counts_exact_matches():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(2 / 3)


def test_accuracy_all_right_and_all_wrong():
    assert accuracy([1, 2, 0], [1, 2, 0]) == 1.0
    assert accuracy([1, 2, 0], [0, 0, 1]) == 0.0


def test_confusion_matrix_rows_are_true_columns_are_predicted():
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    np.testing.assert_array_equal(confusion_matrix(Y_TRUE, Y_PRED), expected)


def test_macro_f1_hand_computed():
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx(59 / 90)


# Class 2 is never true but is predicted once:
#   y_true = 0 0 1 1
#   y_pred = 0 2 1 1
#   accuracy 3/4
#   confusion: true 0 -> [1, 0, 1]; true 1 -> [0, 2, 0]; true 2 (no samples) -> [0, 0, 0]
#   class 0: TP 1, predicted 1, actual 2 -> 2/3
#   class 1: TP 2, predicted 2, actual 2 -> 4/4 = 1
#   class 2: TP 0, predicted 1, actual 0 -> 0  (it counts: it was predicted)
#   macro F1 = (2/3 + 1 + 0) / 3 = 5/9
def test_class_predicted_but_absent_from_y_true_counts_as_zero_f1():
    y_true, y_pred = [0, 0, 1, 1], [0, 2, 1, 1]
    assert accuracy(y_true, y_pred) == pytest.approx(3 / 4)
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred), [[1, 0, 1], [0, 2, 0], [0, 0, 0]])
    assert macro_f1(y_true, y_pred) == pytest.approx(5 / 9)


# n_classes=4 but only classes 0 and 1 occur: classes 2 and 3 have neither true nor predicted samples, so they
# have no F1 and are left out (as scikit-learn does) -> macro F1 = (1 + 1) / 2 = 1, not (1 + 1 + 0 + 0) / 4.
def test_classes_neither_true_nor_predicted_are_left_out_of_macro_f1():
    matrix = confusion_matrix([0, 1, 1], [0, 1, 1], n_classes=4)
    assert matrix.shape == (4, 4)
    np.testing.assert_array_equal(matrix[:2, :2], [[1, 0], [0, 2]])
    assert matrix[2:].sum() == 0 and matrix[:, 2:].sum() == 0
    assert macro_f1([0, 1, 1], [0, 1, 1], n_classes=4) == 1.0


@pytest.mark.parametrize("metric", [accuracy, confusion_matrix, macro_f1])
def test_mismatched_lengths_raise_value_error(metric):
    with pytest.raises(ValueError, match="same length"):
        metric([0, 1, 2], [0, 1])


@pytest.mark.parametrize("metric", [accuracy, confusion_matrix, macro_f1])
def test_empty_input_raises_value_error(metric):
    with pytest.raises(ValueError, match="empty"):
        metric([], [])


def test_two_dimensional_labels_are_rejected():
    with pytest.raises(ValueError, match="1-D"):
        accuracy([[0, 1]], [[0, 1]])
