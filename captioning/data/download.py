"""Resumable, verified download of the cs231n COCO archive, and atomic extraction.

Nothing here runs unless asked: the workflow calls it only when the config
chooses ``dataset: coco``.
"""

from __future__ import annotations

import logging
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ..atomic import atomic_dir
from ..errors import DataError, DownloadError
from . import layout
from .holdout import hold_out_test
from .karpathy import SPLITS

log = logging.getLogger(__name__)

OFFLINE_HINT = (
    "check the network, or put the archive there by hand, or run offline on the default data (dataset: synthetic)"
)


def sha256sum(path: Path) -> str:
    return layout.hash_files([path]).hexdigest()


def _verify(path: Path, url: str, size: int | None, sha256: str | None) -> None:
    actual = path.stat().st_size
    if size is not None and actual != size:
        path.unlink()
        raise DownloadError(
            f"download {url}: expected {size} bytes, got {actual}; the partial file was removed, run again"
        )
    if sha256:
        digest = sha256sum(path)
        if digest != sha256.lower():
            path.unlink()
            raise DownloadError(f"download {url}: sha256 {digest} does not match the configured {sha256}; file removed")


def download(
    url: str,
    dest,
    size: int | None = None,
    sha256: str | None = None,
    timeout: float = 30.0,
    chunk_size: int = 1 << 16,
    progress: bool = True,
) -> Path:
    """Stream ``url`` to ``dest``, resuming a previous partial transfer with HTTP Range.

    The transfer goes to ``dest + '.part'``; only a complete file whose size (and
    sha256, when given) verify is renamed to ``dest``.  An interrupted transfer
    leaves the ``.part`` file for the next call to resume.
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the partial file is complete
            _verify(part, url, size, sha256)
            part.replace(dest)
            return dest
        raise DownloadError(f"download {url}: HTTP {err.code} {err.reason}; {OFFLINE_HINT} ({dest})") from None
    except (TimeoutError, urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"cannot download {url}: {reason}; {OFFLINE_HINT} ({dest})") from None
    with resp:
        total = None
        if offset and resp.status == 206:
            match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise DownloadError(
                    f"download {url}: server resumed at the wrong offset ({resp.headers.get('Content-Range')})"
                )
            total = int(match.group(2)) if match.group(2) != "*" else None
            mode = "ab"
        else:  # no partial file, or the server ignored Range: start over
            offset, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length is not None else None
        total = total if total is not None else size
        received = offset
        with (
            open(part, mode) as out,
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar,
        ):
            try:
                while block := resp.read(chunk_size):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
            except (TimeoutError, OSError) as err:
                raise DownloadError(
                    f"download {url} interrupted after {received} bytes ({err}); run again to resume from {part}"
                ) from None
    if total is not None and received < total:
        raise DownloadError(
            f"download {url} stopped after {received} of {total} bytes; run again to resume from {part}"
        )
    _verify(part, url, size, sha256)
    part.replace(dest)
    return dest


def extract_layout(
    archive, dest_dir, test_images: int = 5000, test_seed: int = 0, karpathy_split=None, annotations=None
) -> Path:
    """Extract the cs231n layout's raw files from a zip into ``dest_dir``, then hold out the test split; atomically.

    The archive's own ``*_pca.h5`` files are skipped: the pipeline fits its own PCA.
    The archive is checked (CRC of every member) before anything is written.
    ``test_images`` val2014 images, chosen with ``test_seed``, become the test
    split, or Karpathy's test images when ``karpathy_split`` names his
    ``dataset_coco.json`` (:func:`captioning.data.holdout.hold_out_test`).
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    fn = "extract_layout"
    if not zipfile.is_zipfile(archive):
        raise DataError(
            f"{fn}: {archive} is not a zip archive (truncated or corrupt download?); delete it and run again"
        )
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise DataError(
                    f"{fn}: {archive} is corrupt: member {bad} fails its CRC check; delete it and run again"
                )
            by_name = {PurePosixPath(n).name: n for n in zf.namelist() if not n.endswith("/")}
            archive_files = layout.split_files(layout.TRAINING_SPLITS)
            wanted = archive_files + [layout.images_file(s) for s in layout.TRAINING_SPLITS]
            missing = [f for f in archive_files if f not in by_name]
            if missing:
                raise DataError(
                    f"{fn}: {archive} lacks {', '.join(missing)} (expected the cs231n coco_captioning layout)"
                )
            with atomic_dir(dest_dir) as tmp:
                for name in wanted:
                    if name in by_name:
                        with zf.open(by_name[name]) as src, open(tmp / name, "wb") as dst:
                            shutil.copyfileobj(src, dst, 1 << 20)
                log.info(hold_out_test(tmp, test_images, test_seed, karpathy_split, annotations))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
        raise DataError(f"{fn}: {archive} is corrupt ({err}); delete it and run again") from None
    return dest_dir


def fetch_coco(
    url: str,
    out_dir,
    archive_dir,
    size: int | None = None,
    sha256: str | None = None,
    test_images: int = 5000,
    test_seed: int = 0,
    progress: bool = True,
    test_split: str = "random",
    karpathy_split: str | None = None,
    annotations: str | None = None,
) -> Path:
    """Download (or resume) the archive into ``archive_dir``; extract its layout and the test split into ``out_dir``.

    ``test_split``: ``random`` (``test_images`` seeded val2014 images) or ``karpathy``
    (the test images of ``karpathy_split``, a path or URL of Karpathy's ``dataset_coco.json``;
    ``annotations``, a path or URL of COCO's ``captions_val2014.json``, maps URLs without a COCO id).
    """
    if test_split not in SPLITS:
        raise DataError(f"coco.test_split: expected one of {list(SPLITS)}, got {test_split!r}")
    if test_split == "karpathy" and not karpathy_split:
        raise DataError("coco.test_split karpathy: set coco.karpathy_split to the path or URL of dataset_coco.json")
    split_files = {}
    for key, where in (("karpathy_split", karpathy_split), ("annotations", annotations)):
        if test_split == "karpathy" and where:
            is_url = urllib.parse.urlsplit(str(where)).scheme in ("http", "https")
            name = PurePosixPath(urllib.parse.urlsplit(str(where)).path).name
            split_files[key] = download(where, Path(archive_dir) / name, progress=progress) if is_url else where
    archive = download(url, Path(archive_dir) / PurePosixPath(url).name, size, sha256, progress=progress)
    extract_layout(archive, out_dir, test_images, test_seed, **split_files)
    log.info(f"COCO: extracted {len(list(Path(out_dir).iterdir()))} files from {archive} into {out_dir}")
    return Path(out_dir)
