"""Benchmark: every stage of the COCO path at COCO's full size, rehearsed offline on 127.0.0.1.

    python bench/bench_coco_scale.py [--workdir DIR] [--iterations 300] [--keep]

It fabricates the cs231n ``coco_captioning.zip`` at COCO's real sizes (train2014:
82,783 images with 4,096 float32 fc7 features and 400,135 captions; val2014:
40,504 images and 195,954 captions; a 1,004-word vocabulary; URL files; captions
shaped like COCO's, see ``bench_train_step.coco_like_captions``; features are
ReLU'd Gaussians like fc7's), serves it from a local HTTP server with Range
support, and runs each stage with the workflow's own functions:

  download   ``download``, cut off halfway by the server, then resumed (sha256 verified)
  extract    ``extract_layout``: CRC check, extraction, the test hold-out (``coco.test_images``)
  pca        ``prepare_pca``: fit on train, transform every split to ``pca.dim``
  load       ``load_coco_data`` of train and val, as the train step reads them
  train      ``CaptioningSolver.train``: an LSTM with W=256, H=512, batch 128, Adam,
             for ``--iterations`` iterations, extrapolated to one epoch of 400,135 captions
  greedy     decode and score all 40,504 val2014 images (val + test) to ``evaluation.max_length`` as the
  beam-3     score step does: ``decode_images``, ``image_stats``, ``corpus_scores``

Each stage runs in a clean process of its own, set up as a workflow job is
(``configure_threads`` with every core), so its peak RSS is its own.  "Written"
is the bytes the process passed to write() (``wchar`` in /proc/self/io).  The
archive is stored (not deflated): random floats do not compress.  Needs about
9 GB of free disk in ``--workdir`` (default: a temporary directory, removed).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

SIZES = {"train": (82_783, 400_135), "val": (40_504, 195_954)}  # images, captions
F, W, H, BATCH = 4096, 256, 512, 128
ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "config.yaml"  # PCA size, hold-out, caption length
STAGES = ("download", "extract", "pca", "load", "train", "greedy", "beam-3")
ARCHIVE = "coco_captioning.zip"


def fabricate(work: Path) -> tuple[Path, str]:
    """Write the cs231n layout at COCO's size and zip it; returns the archive and its sha256."""
    import h5py
    from bench_train_step import V, coco_like_captions

    from captioning.data import layout
    from captioning.data.download import sha256sum
    from captioning.vocab import SPECIAL_TOKENS

    raw = work / "layout"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    words = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(V - len(SPECIAL_TOKENS))]
    layout.write_vocab(raw / layout.VOCAB_FILE, words)
    with h5py.File(raw / layout.CAPTIONS_FILE, "w") as caps:
        for split, (m, n) in SIZES.items():
            # every image has 4 or 5 captions, in shuffled order, as in COCO
            idxs = np.concatenate([np.repeat(np.arange(m), 4), rng.choice(m, n - 4 * m, replace=False)])
            caps[f"{split}_image_idxs"] = rng.permutation(idxs).astype(np.int32)
            caps[f"{split}_captions"] = coco_like_captions(rng, n)
            with h5py.File(raw / layout.features_file(split, pca=False), "w") as f:
                out = f.create_dataset("features", (m, F), dtype=np.float32)
                for s in range(0, m, 4096):
                    block = rng.standard_normal((min(4096, m - s), F), dtype=np.float32)
                    out[s : s + len(block)] = np.maximum(block, 0)
            (raw / layout.urls_file(split)).write_text(
                "".join(f"http://images.cocodataset.org/{split}2014/COCO_{split}2014_{i:012d}.jpg\n" for i in range(m))
            )
    archive = work / "server" / ARCHIVE
    archive.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(raw.iterdir()):
            zf.write(path, f"coco_captioning/{path.name}")
    shutil.rmtree(raw)
    return archive, sha256sum(archive)


class RangeServer:
    """Serves one file on 127.0.0.1 with HTTP Range, streaming from disk; drops the first transfer halfway."""

    def __init__(self, path: Path):
        size = path.stat().st_size
        self.cut = [size // 2]  # bytes of the first response, then the connection drops

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(handler):
                match = re.match(r"bytes=(\d+)-", handler.headers.get("Range") or "")
                start = int(match.group(1)) if match else 0
                handler.send_response(206 if match else 200)
                if match:
                    handler.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                handler.send_header("Content-Length", str(size - start))
                handler.end_headers()
                cut = self.cut.pop() if self.cut else None
                remaining = size - start if cut is None else min(cut, size - start)
                with open(path, "rb") as f:
                    f.seek(start)
                    while remaining > 0 and (block := f.read(min(1 << 20, remaining))):
                        handler.wfile.write(block)
                        remaining -= len(block)
                if cut is not None:
                    handler.close_connection = True
                    handler.connection.shutdown(socket.SHUT_RDWR)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{ARCHIVE}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ------------------------------------------------------------------------ stages (one per process)


def stage_download(work: Path, url: str, size: int, sha256: str) -> dict:
    from captioning.data.download import download
    from captioning.errors import DownloadError

    dest = work / "cache" / ARCHIVE
    try:
        download(url, dest, size, sha256, progress=False)
        raise SystemExit("the server was meant to cut the first transfer short")
    except DownloadError as err:
        first = str(err)
    part = dest.with_name(dest.name + ".part").stat().st_size
    download(url, dest, size, sha256, progress=False)
    if "run again to resume" not in first:
        raise SystemExit(f"unexpected error from the cut transfer: {first}")
    return {"note": f"cut by the server at {part / 1e9:.2f} GB, resumed with Range, sha256 verified"}


def workflow_config() -> dict:
    """The default workflow's settings, so the rehearsal uses what a COCO run would."""
    import yaml

    return yaml.safe_load(CONFIG.read_text())


def stage_extract(work: Path) -> dict:
    from captioning.data.download import extract_layout

    coco = workflow_config()["coco"]
    extract_layout(work / "cache" / ARCHIVE, work / "coco", coco["test_images"], coco["test_seed"])
    return {"note": f"{sum(p.stat().st_size for p in (work / 'coco').iterdir()) / 1e9:.2f} GB extracted"}


def stage_pca(work: Path) -> dict:
    from captioning.data.pca import prepare_pca

    pca = prepare_pca(work / "coco", workflow_config()["pca"]["dim"], progress=False)
    return {"note": f"{100 * float(pca.explained_variance_ratio_.sum()):.1f}% of the variance kept"}


def stage_load(work: Path) -> dict:
    from captioning.data.coco import load_coco_data

    data = load_coco_data(work / "coco")
    return {"note": f"{len(data['train_captions'])} train + {len(data['val_captions'])} val captions"}


def stage_train(work: Path, iterations: int) -> dict:
    from captioning.data.coco import load_coco_data
    from captioning.model import CaptioningRNN
    from captioning.solver import CaptioningSolver, SolverConfig

    data = load_coco_data(work / "coco")
    n_train = len(data["train_captions"])
    keep = np.random.default_rng(0).choice(n_train, iterations * BATCH, replace=False)
    subset = {
        **data,
        "train_captions": data["train_captions"][keep],
        "train_image_idxs": data["train_image_idxs"][keep],
    }
    model = CaptioningRNN(data["word_to_idx"], data["train_features"].shape[1], W, H, cell_type="lstm", seed=0)
    config = SolverConfig("adam", {"learning_rate": 5e-3}, batch_size=BATCH, num_epochs=1, eval_images=0)
    solver = CaptioningSolver(model, subset, config, verbose=False)
    t0 = time.perf_counter()
    solver.train()
    seconds = time.perf_counter() - t0
    solver.save(work / "model.npz")
    per_epoch = n_train // BATCH * seconds / iterations
    return {
        "seconds": seconds,
        "epoch_s": per_epoch,
        "note": f"{iterations} iterations, {1e3 * seconds / iterations:.0f} ms each: "
        f"one epoch of {n_train} captions takes {per_epoch / 60:.1f} min; loss {solver.loss_history[-1]:.2f}",
    }


def stage_decode(work: Path, method: str) -> dict:
    from captioning.checkpoint import load_model
    from captioning.data.coco import load_coco_data
    from captioning.data.references import eval_images, split_references
    from captioning.evaluation import decode_images
    from captioning.metrics import corpus_scores, image_stats
    from captioning.pipeline.score import decode_length

    model, _ = load_model(work / "model.npz")
    splits = ("val", "test")  # all of the archive's val2014
    data = load_coco_data(work / "coco", splits=splits)
    max_length = decode_length(workflow_config()["evaluation"]["max_length"], data, "val")
    t0 = time.perf_counter()
    scores, n, words = {}, 0, 0
    for split in splits:
        images = eval_images(data, split, None)
        refs = split_references(data, split, images)
        hyps = decode_images(model, data, split, images, max_length=max_length, method=method, beam_width=3)
        scores[split] = corpus_scores(image_stats(refs, hyps))
        n, words = n + len(images), words + sum(len(h.split()) for h in hyps.values())
    return {
        "seconds": time.perf_counter() - t0,
        "note": f"{n} images, {words / n:.1f} words per caption, BLEU-4 {scores['val']['BLEU-4']:.3f} on val",
    }


def worker(stage: str, work: Path, args) -> dict:
    from captioning.threads import configure_threads

    configure_threads(os.cpu_count())
    t0 = time.perf_counter()
    if stage == "download":
        out = stage_download(work, args.url, args.size, args.sha256)
    elif stage == "train":
        out = stage_train(work, args.iterations)
    elif stage in ("greedy", "beam-3"):
        out = stage_decode(work, "greedy" if stage == "greedy" else "beam")
    else:
        out = {"extract": stage_extract, "pca": stage_pca, "load": stage_load}[stage](work)
    out.setdefault("seconds", time.perf_counter() - t0)
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    out["written_gb"] = int(io["wchar"]) / 1e9
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="where the ~9 GB go (default: a temporary directory)")
    ap.add_argument("--iterations", type=int, default=300, help="training iterations to time")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--worker", choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sha256", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.workdir, args)))
        return
    work = Path(tempfile.mkdtemp(prefix="coco-scale-", dir=args.workdir))
    rows = {}
    try:
        t0 = time.perf_counter()
        archive, sha256 = fabricate(work)
        size = archive.stat().st_size
        print(f"fabricated {archive} ({size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        server = RangeServer(archive)
        try:
            for stage in STAGES:
                cmd = [sys.executable, __file__, "--worker", stage, "--workdir", str(work)]
                cmd += ["--iterations", str(args.iterations), "--url", server.url, "--size", str(size)]
                res = subprocess.run([*cmd, "--sha256", sha256], capture_output=True, text=True)
                if res.returncode:
                    raise SystemExit(f"stage {stage} failed:\n{res.stderr[-3000:]}")
                rows[stage] = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"{stage}: {rows[stage]}", file=sys.stderr)
        finally:
            server.close()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    from captioning.provenance import describe, numerics

    print(f"machine: {describe(numerics())}\n")
    print(f"COCO-scale rehearsal, archive {size / 1e9:.2f} GB, {os.cpu_count()} cores, one clean process per stage\n")
    print("| stage | time | peak RSS | written | |")
    print("|---|---:|---:|---:|---|")
    for stage, r in rows.items():
        print(
            f"| {stage} | {r['seconds']:.1f} s | {r['peak_rss_gb']:.2f} GB | {r['written_gb']:.2f} GB | {r['note']} |"
        )
    print(f"\n{sweep_estimate(ROOT / 'config/sweep_coco.yaml', rows['train']['epoch_s'])}")


def sweep_estimate(path: Path, epoch_s: float) -> str:
    """A sweep's job time at ``epoch_s`` seconds an epoch: its runs' epochs, early stopping aside.

    A self-critical epoch samples 5 captions for each of the 82,783 train images, about as many
    captions as a cross-entropy epoch's 400,135, and costs about as much (bench/bench_scst.py).
    """
    from captioning.pipeline.config import load_yaml
    from captioning.pipeline.experiment import Sweep

    sweep = Sweep.from_dict(load_yaml(path), str(path))
    runs = sweep.runs()
    epochs = sum(sweep.experiments[name].num_epochs for name, _ in runs)
    hours = epochs * epoch_s / 3600
    return (
        f"{path.relative_to(ROOT)}: {len(runs)} trainings, {epochs} epochs in all: at most {hours:.1f} h of job "
        "time at this epoch time, early stopping aside"
    )


if __name__ == "__main__":
    main()
