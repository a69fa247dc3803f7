"""Content-addressed, checksummed, atomically written artifacts: downloads, converted models, results.

Where: ``$LLMGEOM_CACHE`` if set; otherwise ``.cache/`` at the root of the repository this library was installed
from (git-ignored); otherwise ``~/.cache/llmgeom``.

Every result is stored under a key that hashes its inputs *and* the library (its version and the hash of its
source files), so a changed library never serves a stale number. Every file is written to a temporary name in the same
folder and renamed into place (readers never see half a file), and its SHA-256 is stored beside it: a truncated or
bit-flipped entry is detected on read, deleted, and recomputed by the caller.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from llmgeom import __version__
from llmgeom.store.paths import IN_CHECKOUT, PACKAGE_DIR, REPO_ROOT


class CacheError(RuntimeError):
    """The cache folder cannot be used (not writable, disk full, …)."""


def cache_root() -> Path:
    """The folder that holds every cached artifact (see the module docstring)."""
    env = os.environ.get("LLMGEOM_CACHE")
    if env:
        return Path(env).expanduser()
    if IN_CHECKOUT:
        return REPO_ROOT / ".cache"
    return Path.home() / ".cache" / "llmgeom"


def cache_dir(*parts: str) -> Path:
    """``cache_root()/parts…``, created if missing; a clear :class:`CacheError` if it cannot be."""
    path = cache_root().joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CacheError(f"cannot create the cache folder {path}: {err.strerror}; set LLMGEOM_CACHE to a writable folder") from err
    return path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def library_fingerprint() -> str:
    """The library version plus a hash of every source file of the package."""
    digest = hashlib.sha256(__version__.encode())
    for source in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(source.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(source.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def make_key(*parts, **named) -> str:
    """A stable hex key for any JSON-serialisable inputs, always including :func:`library_fingerprint`."""
    payload = json.dumps({"parts": parts, "named": named, "llmgeom": library_fingerprint()}, sort_keys=True, default=str)
    return sha256_bytes(payload.encode())[:32]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise CacheError(f"cannot write {path}: {err.strerror}; set LLMGEOM_CACHE to a writable folder with free space") from err


def write_checked(path: Path, data: bytes) -> None:
    """Write ``data`` and a ``.sha256`` sidecar, both atomically (data first, so a sidecar implies data)."""
    atomic_write_bytes(path, data)
    atomic_write_bytes(Path(f"{path}.sha256"), sha256_bytes(data).encode())


def read_checked(path: Path) -> bytes | None:
    """The bytes written by :func:`write_checked`, or ``None`` if missing or corrupt (then both files go)."""
    path = Path(path)
    sidecar = Path(f"{path}.sha256")
    try:
        data = path.read_bytes()
        expected = sidecar.read_text().strip()
    except OSError:
        return None
    if sha256_bytes(data) != expected:
        path.unlink(missing_ok=True)
        sidecar.unlink(missing_ok=True)
        return None
    return data


def save_arrays(path: Path, **arrays) -> None:
    """Store NumPy arrays as a checksummed ``.npz``."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_checked(path, buffer.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Arrays stored by :func:`save_arrays`, or ``None`` if missing or corrupt."""
    data = read_checked(path)
    if data is None:
        return None
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def result_path(kind: str, **key) -> Path:
    """Where :func:`cached_arrays` stores the result of ``kind`` under ``key``."""
    return cache_dir("results") / f"{kind}-{make_key(kind, **key)}.npz"


def cached_arrays(kind: str, compute, use_cache: bool = True, **key) -> dict[str, np.ndarray]:
    """The one cached-result pattern: ``compute()``'s arrays, stored under ``results/<kind>-<key>.npz``.

    ``key`` names everything the result depends on besides the library (which :func:`make_key` always adds) —
    for a model, its :attr:`~llmgeom.models.loading.LoadedModel.fingerprint`. A hit returns the stored arrays without
    calling ``compute``; a damaged entry is a miss (:func:`load_arrays`). ``use_cache=False`` neither reads nor
    writes.
    """
    path = result_path(kind, **key)
    if use_cache and (hit := load_arrays(path)) is not None:
        return hit
    arrays = compute()
    if use_cache:
        save_arrays(path, **arrays)
    return arrays


def cached_json(kind: str, compute, use_cache: bool = True, **key):
    """:func:`cached_arrays` for a JSON-ready result (a reproduction card's part): ``compute()``'s value, stored
    checksummed under ``results/<kind>-<key>.json``; a damaged entry is a miss (:func:`read_checked`)."""
    path = cache_dir("results") / f"{kind}-{make_key(kind, **key)}.json"
    if use_cache and (hit := read_checked(path)) is not None:
        return json.loads(hit)
    value = compute()
    if use_cache:
        write_checked(path, json.dumps(value, allow_nan=True).encode())
    return value


def result_files() -> set[Path]:
    """Every file in the results cache now (the cards page checks it adds none, :mod:`llmgeom.experiments.settings`)."""
    return {path for path in cache_dir("results").rglob("*") if path.is_file()}


SHARED_INPUTS = ("downloads", "models", "corpora")


def empty_results_cache(folder: Path, shared: Path | None = None) -> Path:
    """Make ``folder`` a cache with no results whose downloads, models and corpora are those of ``shared``
    (default :func:`cache_root`): point ``LLMGEOM_CACHE`` at it and every result is recomputed, nothing is
    fetched again. Cold builds, the determinism checks and the tests use it. ``folder`` must not exist yet, or be
    empty."""
    folder, shared = Path(folder), Path(shared or cache_root())
    if folder.resolve() == shared.resolve():
        raise CacheError(f"{folder} is the cache whose inputs it would share; unset LLMGEOM_CACHE or choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise CacheError(f"{folder} is not empty; remove it first to get an empty results cache")
    for sub in SHARED_INPUTS:
        (shared / sub).mkdir(parents=True, exist_ok=True)
        (folder / sub).symlink_to((shared / sub).resolve())
    return folder


def main(argv=None) -> int:
    """``python -m llmgeom.store.cache empty FOLDER``: :func:`empty_results_cache` from the shell (``make test``)."""
    parser = argparse.ArgumentParser(prog="python -m llmgeom.store.cache", description=main.__doc__)
    parser.add_argument("command", choices=["empty"])
    parser.add_argument("folder")
    args = parser.parse_args(argv)
    folder, shared = Path(args.folder).resolve(), cache_root().resolve()
    if folder == shared or folder in shared.parents:
        print(f"error: {args.folder} holds the cache whose inputs it would share ({shared}); it is left alone: "
              "unset LLMGEOM_CACHE or choose another folder", file=sys.stderr)
        return 2
    shutil.rmtree(folder, ignore_errors=True)
    try:
        empty_results_cache(folder)
    except CacheError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
