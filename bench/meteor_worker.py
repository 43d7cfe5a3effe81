"""pycocoevalcap's Meteor on a corpus file, timed in a process of its own (run by bench_meteor.py).

    python bench/meteor_worker.py CORPUS.json

Imports nothing of this project.  Prints one JSON line: the seconds to start the jar (its first
answer included), the seconds of compute_score on the corpus, and the score.
"""

import json
import sys
import time

from pycocoevalcap.meteor.meteor import Meteor


def main() -> None:
    with open(sys.argv[1]) as f:
        corpus = json.load(f)
    refs = {int(i): r for i, r in corpus["refs"].items()}
    res = {int(i): [h] for i, h in corpus["hyps"].items()}
    first = next(iter(refs))
    t0 = time.perf_counter()
    jar = Meteor()
    jar.compute_score({first: refs[first]}, {first: res[first]})
    t1 = time.perf_counter()
    score, _ = jar.compute_score(refs, res)
    t2 = time.perf_counter()
    ours = sorted(m for m in sys.modules if m.split(".")[0] in ("captioning", "reference"))
    print(json.dumps({"start": t1 - t0, "seconds": t2 - t1, "METEOR": score, "imported_ours": ours}))


if __name__ == "__main__":
    main()
