"""Correct: snake_case, the exact gradient of the mean (divides by every element), plain loops."""


def mse(y_true, y_pred):
    total, count = 0.0, 0
    for row_t, row_p in zip(y_true.tolist(), y_pred.tolist()):
        for t, p in zip(row_t, row_p):
            total += (p - t) ** 2
            count += 1
    return total / count


def mse_derivative(y_true, y_pred):
    n = y_true.size
    return [[2 * (p - t) / n for t, p in zip(row_t, row_p)]
            for row_t, row_p in zip(y_true.tolist(), y_pred.tolist())]
