"""{{name}}: a decloud app in Python.

The sandbox gives the app:
  /in    (read-only)  the dataset and the input files; DECLOUD_DATASET_FILENAME and
                      DECLOUD_INPUT_FILE_NAME_<n> name them
  /out   (writable)   the result; computed.json says which part of it replicas vote on
  /app   (read-only)  this bundle's files
  argv                the request's params.args
Time is fixed, random numbers are seeded by the task, and there is no network: the same
inputs give the same bytes on every worker.
"""

import json
import os
import sys

import pandas as pd


def main(argv):
    in_dir = os.environ["DECLOUD_IN"]
    out_dir = os.environ["DECLOUD_OUT"]
    name = os.environ.get("DECLOUD_DATASET_FILENAME") or os.environ.get(
        "DECLOUD_INPUT_FILE_NAME_1"
    )
    result = {"args": argv}
    if name:
        frame = pd.read_csv(os.path.join(in_dir, name))
        result["rows"] = int(len(frame))
        result["columns"] = [str(c) for c in frame.columns]
        result["mean"] = {str(k): float(v) for k, v in frame.mean(numeric_only=True).items()}

    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump(result, f, sort_keys=True, indent=1)
        f.write("\n")
    with open(os.path.join(out_dir, "computed.json"), "w") as f:
        json.dump({"deterministic-output-path": "/out/result.json"}, f)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
