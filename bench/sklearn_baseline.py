"""scikit-learn's MLPClassifier on a bundled data set, configured as bench/accuracy
configures actgrad, one JSON object per weight seed on stdout.

    /usr/bin/python3 bench/sklearn_baseline.py DATA.csv relu sgd 0 1 2 3 4

Solver "sgd": learning rate 0.05, momentum 0.9 (Nesterov off); "adam": learning rate
0.001, scikit-learn's other Adam defaults. Both: hidden layers (64, 32), batch 32,
200 epochs without early stopping or tolerance-based stopping, inputs min-max scaled
to [0, 1] on the training split, a stratified 80/20 split with random_state 0.
"""

import json
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MinMaxScaler


def main():
    path, activation, solver = sys.argv[1:4]
    seeds = [int(s) for s in sys.argv[4:]]
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    x, y = table[:, :-1], table[:, -1].astype(int)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=0)
    scaler = MinMaxScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    settings = {"sgd": dict(learning_rate_init=0.05, momentum=0.9, nesterovs_momentum=False),
                "adam": dict(learning_rate_init=0.001)}[solver]
    for seed in seeds:
        model = MLPClassifier(hidden_layer_sizes=(64, 32),
                              activation={"sigmoid": "logistic"}.get(activation, activation),
                              solver=solver, batch_size=32, max_iter=200, alpha=0.0,
                              tol=0.0, n_iter_no_change=200, random_state=seed, **settings)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
        seconds = time.perf_counter() - start
        print(json.dumps({"seed": seed, "test_accuracy": model.score(x_test, y_test),
                          "seconds": seconds}))


if __name__ == "__main__":
    main()
