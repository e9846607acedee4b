"""A scikit-learn model scoring a dataset.

The model is a logistic regression fitted on the bundle's own training set (/app/train.csv,
read-only) with a fixed solver and no randomness; it then scores every row of the task's
dataset (a CSV with an `id` column and the training features) and writes /out/scores.csv
(`id,probability,label`) and /out/summary.json.
"""

import json
import os
import sys

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

APP = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["amount", "age", "balance"]


def fail(message):
    print(f"sklearn-score: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv):
    threshold = 0.5
    if argv[:1] == ["--threshold"]:
        try:
            threshold = float(argv[1])
        except (IndexError, ValueError):
            fail("--threshold needs a number between 0 and 1")
    elif argv:
        fail(f"unknown arguments {argv!r}; usage: [--threshold P]")

    train = pd.read_csv(os.path.join(APP, "train.csv"))
    model = make_pipeline(StandardScaler(), LogisticRegression(solver="lbfgs", max_iter=1000))
    model.fit(train[FEATURES], train["label"])

    in_dir = os.environ.get("DECLOUD_IN", "/in")
    out_dir = os.environ.get("DECLOUD_OUT", "/out")
    name = os.environ.get("DECLOUD_DATASET_FILENAME") or os.environ.get(
        "DECLOUD_INPUT_FILE_NAME_1"
    )
    if not name:
        fail("no dataset and no input file: run it on a CSV with id," + ",".join(FEATURES))
    data = pd.read_csv(os.path.join(in_dir, name))
    missing = [c for c in ["id", *FEATURES] if c not in data.columns]
    if missing:
        fail(f"the dataset lacks the columns {missing}")

    proba = model.predict_proba(data[FEATURES])[:, 1]
    scores = pd.DataFrame(
        {"id": data["id"], "probability": proba.round(6), "label": (proba >= threshold).astype(int)}
    )
    scores.to_csv(os.path.join(out_dir, "scores.csv"), index=False, lineterminator="\n")
    summary = {
        "rows": int(len(scores)),
        "flagged": int(scores["label"].sum()),
        "threshold": threshold,
        "train_accuracy": round(float(model.score(train[FEATURES], train["label"])), 6),
    }
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out_dir, "computed.json"), "w") as f:
        json.dump({}, f)
    print(f"scored {summary['rows']} rows, flagged {summary['flagged']}")


if __name__ == "__main__":
    main(sys.argv[1:])
