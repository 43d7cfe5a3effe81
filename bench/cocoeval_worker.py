"""pycocoevalcap's Bleu(4) + Cider + Rouge on a corpus file, timed in a process of its own (run by bench_metrics.py).

    python bench/cocoeval_worker.py CORPUS.json

Imports nothing of this project.  Prints one JSON line: seconds and the scores.
"""

import json
import sys
import time

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge


def main() -> None:
    with open(sys.argv[1]) as f:
        corpus = json.load(f)
    refs = {int(i): r for i, r in corpus["refs"].items()}
    res = {int(i): [h] for i, h in corpus["hyps"].items()}
    t0 = time.perf_counter()
    bleu, _ = Bleu(4).compute_score(refs, res, verbose=0)
    cider, _ = Cider().compute_score(refs, res)
    rouge, _ = Rouge().compute_score(refs, res)
    seconds = time.perf_counter() - t0
    ours = sorted(m for m in sys.modules if m.split(".")[0] in ("captioning", "reference"))
    scores = {"BLEU-4": bleu[3], "CIDEr-D": cider, "ROUGE-L": rouge}
    print(json.dumps({"seconds": seconds, **scores, "imported_ours": ours}))


if __name__ == "__main__":
    main()
