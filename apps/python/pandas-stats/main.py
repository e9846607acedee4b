"""Statistics over a CSV dataset with pandas.

Reads the task's dataset (or its first input file) from /in, and writes /out/stats.json:
the row count, and for every numeric column its count, mean, std, min, quartiles and max.
With `--by COLUMN`, also the mean of every numeric column per value of COLUMN.
"""

import json
import os
import sys

import pandas as pd


def fail(message):
    # A non-zero exit is a deterministic failure: every replica agrees on it.
    print(f"pandas-stats: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv):
    by = None
    if argv[:1] == ["--by"]:
        if len(argv) < 2:
            fail("--by needs a column name")
        by = argv[1]
    elif argv:
        fail(f"unknown arguments {argv!r}; usage: [--by COLUMN]")

    in_dir = os.environ.get("DECLOUD_IN", "/in")
    out_dir = os.environ.get("DECLOUD_OUT", "/out")
    name = os.environ.get("DECLOUD_DATASET_FILENAME") or os.environ.get(
        "DECLOUD_INPUT_FILE_NAME_1"
    )
    if not name:
        fail("no dataset and no input file: run it on a CSV dataset")
    frame = pd.read_csv(os.path.join(in_dir, name))
    numeric = frame.select_dtypes("number")
    stats = {
        "rows": int(len(frame)),
        "columns": [str(c) for c in frame.columns],
        "describe": {
            str(col): {k: float(v) for k, v in numeric[col].describe().items()}
            for col in numeric.columns
        },
    }
    if by is not None:
        if by not in frame.columns:
            fail(f"no column {by!r} in the dataset (it has {list(frame.columns)})")
        means = frame.groupby(by, sort=True)[list(numeric.columns.drop(by, errors="ignore"))].mean()
        stats["mean_by"] = {
            "column": by,
            "groups": {
                str(key): {str(c): float(v) for c, v in row.items()}
                for key, row in means.iterrows()
            },
        }

    with open(os.path.join(out_dir, "stats.json"), "w") as f:
        json.dump(stats, f, sort_keys=True, indent=1)
        f.write("\n")
    with open(os.path.join(out_dir, "computed.json"), "w") as f:
        json.dump({"deterministic-output-path": "/out/stats.json"}, f)
    print(f"{stats['rows']} rows, {len(stats['describe'])} numeric columns")


if __name__ == "__main__":
    main(sys.argv[1:])
