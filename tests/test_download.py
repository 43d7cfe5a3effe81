"""Download and extraction against a local HTTP server on 127.0.0.1 (no other network)."""

import hashlib
import http.server
import io
import json
import re
import socket
import threading
import zipfile

import h5py
import numpy as np
import pytest

from captioning.data import layout
from captioning.data.coco import load_coco_data
from captioning.data.download import download, extract_layout, fetch_coco
from captioning.data.pca import prepare_pca
from captioning.errors import DataError, DownloadError


class Server:
    """Serves ``payload`` at /coco_captioning.zip with HTTP Range; can cut a response short."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.cut_after = None  # bytes to send before dropping the connection (once)
        self.honour_range = True
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                if not self.path.endswith("/coco_captioning.zip"):
                    self.send_error(404)
                    return
                data, start = server.payload, 0
                match = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and server.honour_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    self.wfile.write(body[: server.cut_after])
                    self.wfile.flush()
                    server.cut_after = None
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/coco_captioning.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def layout_zip(directory, drop=()) -> bytes:
    """The cs231n archive's layout: train2014 and val2014 files only (no test split)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(directory.iterdir()):
            if path.name not in drop and not path.name.startswith("test2014"):
                zf.write(path, f"coco_captioning/{path.name}")
    return buf.getvalue()


@pytest.fixture
def archive(small_dataset):
    return layout_zip(small_dataset)


@pytest.fixture
def server(archive):
    s = Server(archive)
    yield s
    s.close()


def test_full_download_extract_and_load(server, archive, tmp_path):
    sha = hashlib.sha256(archive).hexdigest()
    out = fetch_coco(
        server.url, tmp_path / "coco", tmp_path / "cache", size=len(archive), sha256=sha, test_images=6, progress=False
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(
        layout.raw_files() + ["train2014_images.h5", "val2014_images.h5"]
    )
    assert (tmp_path / "cache" / "coco_captioning.zip").read_bytes() == archive
    prepare_pca(out, dim=8, progress=False)
    data = load_coco_data(out)
    assert data["train_features"].shape == (60, 8) and data["val_features"].shape == (14, 8)
    assert load_coco_data(out, splits=("test",))["test_features"].shape == (6, 8)


def test_test_split_is_held_out_of_val_and_traceable(server, small_dataset, tmp_path):
    """COCO's test split: 6 of the archive's 20 val images, disjoint from the new val, with their own captions."""
    out = fetch_coco(server.url, tmp_path / "coco", tmp_path / "cache", test_images=6, test_seed=3, progress=False)
    original = load_coco_data(small_dataset, pca_features=False)
    val = load_coco_data(out, pca_features=False)
    test = load_coco_data(out, pca_features=False, splits=("test",))
    np.testing.assert_array_equal(val["train_captions"], original["train_captions"])
    src = {}
    for split, data in (("val", val), ("test", test)):
        with h5py.File(out / layout.features_file(split, pca=False)) as f:
            src[split] = f["source_index"][()]
        np.testing.assert_array_equal(data[f"{split}_features"], original["val_features"][src[split]])
        np.testing.assert_array_equal(data[f"{split}_urls"], original["val_urls"][src[split]])
        for new, old in enumerate(src[split]):  # every image keeps exactly its own captions
            np.testing.assert_array_equal(
                data[f"{split}_captions"][data[f"{split}_image_idxs"] == new],
                original["val_captions"][original["val_image_idxs"] == old],
            )
    assert len(src["test"]) == 6 and len(src["val"]) == 14
    assert sorted([*src["val"], *src["test"]]) == list(range(20))  # a partition of the archive's val
    again = fetch_coco(server.url, tmp_path / "again", tmp_path / "cache", test_images=6, test_seed=3, progress=False)
    with h5py.File(again / layout.features_file("test", pca=False)) as f:
        np.testing.assert_array_equal(f["source_index"][()], src["test"])  # the seed fixes the choice


def test_too_many_test_images_is_one_line_and_leaves_nothing(server, tmp_path):
    with pytest.raises(
        DataError, match=r"coco.test_images must be an integer in \[1, 19\].*val2014 has 20 images\), got 20$"
    ):
        fetch_coco(server.url, tmp_path / "coco", tmp_path / "cache", test_images=20, progress=False)
    assert not (tmp_path / "coco").exists()


def test_interrupted_transfer_resumes_with_range(server, archive, tmp_path):
    dest = tmp_path / "coco_captioning.zip"
    server.cut_after = len(archive) // 3
    with pytest.raises(DownloadError, match=r"(interrupted|stopped) after \d+ .*run again to resume"):
        download(server.url, dest, progress=False)
    part = tmp_path / "coco_captioning.zip.part"
    assert not dest.exists() and 0 < part.stat().st_size < len(archive)
    download(server.url, dest, sha256=hashlib.sha256(archive).hexdigest(), progress=False)
    assert dest.read_bytes() == archive and not part.exists()
    assert server.requests[-1] == f"bytes={len(archive) // 3}-"


def test_server_ignoring_range_restarts_cleanly(server, archive, tmp_path):
    dest = tmp_path / "a.zip"
    (tmp_path / "a.zip.part").write_bytes(b"garbage that is not the start of the file")
    server.honour_range = False
    download(server.url, dest, progress=False)
    assert dest.read_bytes() == archive


def test_complete_partial_file_is_finished_on_416(server, archive, tmp_path):
    (tmp_path / "a.zip.part").write_bytes(archive)
    download(server.url, tmp_path / "a.zip", size=len(archive), progress=False)
    assert (tmp_path / "a.zip").read_bytes() == archive


def test_checksum_mismatch_is_rejected_and_removed(server, tmp_path):
    with pytest.raises(DownloadError, match=r"sha256 [0-9a-f]{64} does not match the configured 0{64}; file removed"):
        download(server.url, tmp_path / "a.zip", sha256="0" * 64, progress=False)
    assert not list(tmp_path.iterdir())


def test_size_mismatch_is_rejected(server, archive, tmp_path):
    with pytest.raises(DownloadError, match=rf"expected {len(archive) + 1} bytes, got {len(archive)}"):
        download(server.url, tmp_path / "a.zip", size=len(archive) + 1, progress=False)
    assert not list(tmp_path.iterdir())


def test_no_network_gives_one_clear_line(tmp_path):
    with socket.socket() as s:  # a port on 127.0.0.1 that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError) as info:
        download(f"http://127.0.0.1:{port}/coco_captioning.zip", tmp_path / "a.zip", timeout=2, progress=False)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"cannot download http://127.0.0.1:{port}/coco_captioning.zip")
    assert "dataset: synthetic" in text


def test_http_error_names_the_status(server, tmp_path):
    with pytest.raises(DownloadError, match=r"download http://127\.0\.0\.1:\d+/missing\.zip: HTTP 404 Not Found"):
        download(server.url.replace("coco_captioning.zip", "missing.zip"), tmp_path / "a.zip", progress=False)


def test_corrupt_archive_is_rejected_and_nothing_extracted(archive, tmp_path):
    bad = bytearray(archive)
    middle = len(bad) // 2
    bad[middle : middle + 64] = bytes(64)
    (tmp_path / "bad.zip").write_bytes(bytes(bad))
    with pytest.raises(DataError, match=r"bad\.zip is corrupt"):
        extract_layout(tmp_path / "bad.zip", tmp_path / "coco")
    assert not (tmp_path / "coco").exists() and not list(tmp_path.glob(".coco*"))


def test_truncated_archive_is_rejected(archive, tmp_path):
    (tmp_path / "t.zip").write_bytes(archive[: len(archive) // 2])
    with pytest.raises(DataError, match=r"t\.zip is not a zip archive \(truncated or corrupt download\?\)"):
        extract_layout(tmp_path / "t.zip", tmp_path / "coco")
    assert not (tmp_path / "coco").exists()


def test_archive_missing_files(small_dataset, tmp_path):
    (tmp_path / "m.zip").write_bytes(layout_zip(small_dataset, drop={"coco2014_vocab.json"}))
    with pytest.raises(
        DataError, match=r"m\.zip lacks coco2014_vocab\.json \(expected the cs231n coco_captioning layout\)"
    ):
        extract_layout(tmp_path / "m.zip", tmp_path / "coco")


def karpathy_file(path, test_ids, other_ids=(), **extra_image):
    """A fabricated dataset_coco.json: Karpathy's layout, the given COCO ids in his test split."""
    images = [{"cocoid": i, "split": "test", "filepath": "val2014", **extra_image} for i in test_ids]
    images += [{"cocoid": i, "split": "val", "filepath": "val2014"} for i in other_ids]
    path.write_text(json.dumps({"dataset": "coco", "images": images}))
    return path


def test_karpathys_split_holds_out_exactly_his_test_images(server, small_dataset, tmp_path):
    """The fixture's val2014 URLs are .../val2014/000007.png: COCO ids 0..19."""
    split = karpathy_file(tmp_path / "dataset_coco.json", [3, 7, 11, 19], other_ids=[0, 1])
    out = fetch_coco(
        server.url, tmp_path / "coco", tmp_path / "cache", test_split="karpathy", karpathy_split=split, progress=False
    )
    with h5py.File(out / layout.features_file("test", pca=False)) as f:
        assert f["source_index"][()].tolist() == [3, 7, 11, 19] and f.attrs["holdout.split"] == "karpathy"
    with h5py.File(out / layout.features_file("val", pca=False)) as f:
        assert f["source_index"][()].tolist() == [i for i in range(20) if i not in (3, 7, 11, 19)]
    urls = (out / layout.urls_file("test")).read_text().split()
    assert [int(u.rsplit("/", 1)[1].split(".")[0]) for u in urls] == [3, 7, 11, 19]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "{path}: 1 of its 3 test images are not in the archive's val2014 (first COCO id 20)"),
        ("{not json", "{path}: not readable JSON ("),
        ('{"images": [{"split": "test"}]}', "{path}: images[0] lacks an integer 'cocoid' or a 'split'"),
        ('{"images": [{"cocoid": 1, "split": "val"}]}', "{path}: no image has split 'test'"),
        ("[1, 2]", "{path}: expected a JSON object with an 'images' list"),
    ],
)
def test_a_bad_karpathy_file_is_one_line_and_leaves_nothing(server, tmp_path, content, message):
    path = tmp_path / "dataset_coco.json"
    karpathy_file(path, [3, 7, 20]) if content is None else path.write_text(content)
    with pytest.raises(DataError) as err:
        fetch_coco(
            server.url, tmp_path / "coco", tmp_path / "cache", test_split="karpathy", karpathy_split=path,
            progress=False,
        )  # fmt: skip
    assert str(err.value).startswith("coco.karpathy_split ") and message.format(path=path) in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "coco").exists()


def test_urls_without_a_coco_id_are_mapped_by_cocos_annotations(tmp_path):
    from captioning.data.karpathy import url_ids

    urls = ["http://farm4.staticflickr.com/3153/2970773875_164f0c0b83_z.jpg", "x/COCO_val2014_000000391895.jpg"]
    with pytest.raises(DataError, match=r"URL http://farm4\S+ carries no COCO id; set coco.annotations to COCO"):
        url_ids(urls)
    annotations = tmp_path / "captions_val2014.json"
    annotations.write_text(json.dumps({"images": [{"id": 42, "flickr_url": urls[0], "coco_url": "y"}]}))
    assert url_ids(urls, annotations).tolist() == [42, 391895]


@pytest.mark.slow
def test_the_workflow_takes_karpathys_split_from_the_command_line(server, tmp_path):
    """`--config coco='{test_split: karpathy, ...}'` merges into the config's coco section."""
    from project import copy_project, snakemake

    work = copy_project(tmp_path / "project")
    split = karpathy_file(tmp_path / "dataset_coco.json", [2, 5])
    coco = f"coco={{url: '{server.url}', test_split: karpathy, karpathy_split: '{split}'}}"
    snakemake(work, "--config", "dataset=coco", coco, "--", "coco_data", cores=1)
    with h5py.File(work / "smoke/data/coco" / layout.features_file("test", pca=False)) as f:
        assert f["source_index"][()].tolist() == [2, 5]
    assert "Karpathy's test split (dataset_coco.json)" in (work / "smoke/logs/coco/coco_data.log").read_text()
