"""How a search picks its model: the one-standard-error rule against the defaults on fresh
folds, and a
network trained epoch by epoch (so that a deadline can stop it) being the network fit()
trains."""

import numpy as np
from sklearn.datasets import load_wine
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from udfs import search


def trial(trial_id: int, parts: list[float | None], baseline: bool = False) -> search.Trial:
    """A trial whose value on the search's folds is the mean of ``parts``, its metric on
    each part of the fresh folds (so, here, as good on both)."""
    known = [p for p in parts if p is not None]
    found = search.Trial(trial_id, "lightgbm", {}, value=float(np.mean(known)), baseline=baseline)
    FRESH[trial_id] = parts
    return found


FRESH: dict[int, list[float | None]] = {}


def chosen(trials: list[search.Trial], maximise: bool, said: list[str] | None = None):
    return search._chosen(
        trials, maximise, lambda t: FRESH[t.trial_id], (said if said is not None else []).append
    )


def test_a_gain_inside_the_noise_of_validation_keeps_the_defaults():
    said: list[str] = []
    defaults = trial(1, [0.90, 0.95, 0.85, 0.92, 0.88], baseline=True)
    lucky = trial(2, [0.97, 0.90, 0.86, 0.93, 0.89])  # better on average, not on every part
    assert chosen([defaults, lucky], True, said) is defaults
    assert "the defaults are kept" in said[0] and "trial 2" in said[0]


def test_a_clear_gain_is_chosen():
    defaults = trial(1, [0.90, 0.95, 0.85, 0.92, 0.88], baseline=True)
    better = trial(2, [0.92, 0.96, 0.88, 0.93, 0.90])
    assert chosen([defaults, better], True) is better


def test_a_loss_is_minimised():
    defaults = trial(1, [0.30, 0.35, 0.25, 0.32, 0.28], baseline=True)
    lower = trial(2, [0.20, 0.25, 0.22, 0.21, 0.19])
    higher = trial(3, [0.40, 0.45, 0.35, 0.42, 0.38])
    assert chosen([defaults, lower, higher], False) is lower


def test_without_defaults_or_parts_the_best_is_chosen():
    first, second = trial(1, [0.9, 0.8]), trial(2, [0.91, 0.80])
    assert chosen([first, second], True) is second
    defaults = trial(1, [0.9, None], baseline=True)  # one comparable part is no evidence
    assert chosen([defaults, trial(2, [0.91, 0.95])], True).trial_id == 2


def test_a_network_trained_by_epochs_is_the_one_fit_trains():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)  # 178 rows: one batch, so the order of rows is moot
    fitted = MLPClassifier(max_iter=2000, random_state=42).fit(X, y)
    by_epochs = MLPClassifier(max_iter=2000, random_state=42)
    search._train_by_epochs(by_epochs, X, y, deadline=float("inf"))
    assert by_epochs.random_state == 42  # the seed again, for get_params and the catalog
    assert len(by_epochs.loss_curve_) == fitted.n_iter_ < 2000  # fit()'s own stop
    for ours, theirs in zip(by_epochs.coefs_, fitted.coefs_, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_a_lead_on_the_search_folds_alone_keeps_the_defaults():
    defaults = trial(1, [0.90, 0.95, 0.85, 0.92, 0.88], baseline=True)
    lucky = trial(2, [0.90, 0.95, 0.85, 0.92, 0.88])  # on fresh folds no better at all
    lucky.value = 0.99  # though the best on the folds it was chosen on
    assert chosen([defaults, lucky], True) is defaults


def test_without_time_to_check_the_best_is_kept():
    def out_of_time(trial: search.Trial) -> list[float | None]:
        raise search._OutOfTime

    defaults = trial(1, [0.90, 0.95], baseline=True)
    better = trial(2, [0.91, 0.96])
    assert search._chosen([defaults, better], True, out_of_time, print) is better
