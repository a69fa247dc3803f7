"""The cache under faults: unusable folders, a full disk, concurrent writers, a killed extraction."""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from llmgeom import cache


def test_a_cache_folder_that_cannot_be_created_is_one_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LLMGEOM_CACHE", str(blocker / "cache"))
    with pytest.raises(cache.CacheError, match="cannot create the cache folder .*set LLMGEOM_CACHE"):
        cache.cache_dir("results")


def test_the_command_line_reports_an_unusable_cache_in_one_line(tmp_path, tiny_model_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {**os.environ, "LLMGEOM_CACHE": str(blocker / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "llmgeom", "entropy", "--model", str(tiny_model_dir), "--corpus", "shakespeare"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot create the cache folder" in lines[0], result.stderr


def test_a_full_disk_is_one_clear_error_and_leaves_no_partial_file(tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    folder = tmp_path / "entries"
    folder.mkdir()
    monkeypatch.setattr(cache.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(cache.CacheError, match="No space left on device"):
        cache.write_checked(folder / "entry.npz", b"data")
    assert list(folder.iterdir()) == []


def _hammer(path: str, payload: bytes, rounds: int) -> None:
    for _ in range(rounds):
        cache.write_checked(Path(path), payload)


def test_concurrent_writers_of_one_entry_never_leave_it_corrupt(tmp_path):
    path = tmp_path / "shared.npz"
    payload = os.urandom(1 << 16)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer, args=(str(path), payload, 40)) for _ in range(4)]
    for w in workers:
        w.start()
    readings = 0
    while any(w.is_alive() for w in workers):
        data = cache.read_checked(path)
        assert data in (None, payload)  # never a torn or mixed file
        readings += data is not None
        if data is None:  # a reader that saw a mismatch deletes the entry; writers recreate it
            time.sleep(0.001)
    for w in workers:
        w.join()
        assert w.exitcode == 0
    assert cache.read_checked(path) == payload
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


KILLABLE = """
import sys, time
import llmgeom.extract as extract
from llmgeom.models import load
real = extract._forward
def slow(*args, **kwargs):
    out = real(*args, **kwargs)
    print("batch", flush=True)
    time.sleep(0.4)
    return out
extract._forward = slow
loaded = load(sys.argv[1])
extract.layer_entropy(loaded, sys.argv[2].split("|"), batch_size=1)
print("finished", flush=True)
"""


def test_a_killed_extraction_resumes_and_equals_an_uninterrupted_run(tiny_model_dir, isolated_cache):
    from llmgeom import extract
    from llmgeom.models import load

    texts = [f"Sentence number {i} is about the sea and the ship." for i in range(12)]
    env = {**os.environ, "LLMGEOM_CACHE": str(isolated_cache)}
    process = subprocess.Popen([sys.executable, "-c", KILLABLE, str(tiny_model_dir), "|".join(texts)],
                               stdout=subprocess.PIPE, text=True, env=env)
    for _ in range(4):  # let four batches finish, then kill -9 in the middle of the run
        assert process.stdout.readline().strip() == "batch"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    partial = list((isolated_cache / "results").glob("layer_entropy-*.partial/batch-*.npz"))
    assert 3 <= len(partial) < len(texts)

    loaded = load(str(tiny_model_dir))
    calls = []
    real = extract._forward
    extract._forward = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        resumed = extract.layer_entropy(loaded, texts, batch_size=1)
    finally:
        extract._forward = real
    assert len(calls) == len(texts) - len(partial)  # only the missing batches ran
    uninterrupted = extract.layer_entropy(loaded, texts, batch_size=1, use_cache=False)
    np.testing.assert_array_equal(resumed.entropy, uninterrupted.entropy)


def test_an_empty_results_cache_shares_inputs_but_no_results(tmp_path):
    from llmgeom.cache import CacheError, empty_results_cache

    shared = tmp_path / "shared"
    (shared / "results").mkdir(parents=True)
    (shared / "results" / "old.npz").write_bytes(b"x")
    (shared / "models").mkdir()
    (shared / "models" / "m.bin").write_bytes(b"weights")
    fresh = empty_results_cache(tmp_path / "fresh", shared)
    assert (fresh / "models" / "m.bin").read_bytes() == b"weights"
    assert not (fresh / "results").exists()
    with pytest.raises(CacheError, match="not empty"):
        empty_results_cache(fresh, shared)


def test_the_empty_command_never_deletes_the_cache_it_would_share(tmp_path, monkeypatch):
    import subprocess
    import sys

    shared = tmp_path / "shared"
    (shared / "downloads").mkdir(parents=True)
    (shared / "downloads" / "model.gguf").write_bytes(b"weights")
    monkeypatch.setenv("LLMGEOM_CACHE", str(shared))
    for target in (shared, tmp_path):  # the shared cache itself, or a folder holding it
        done = subprocess.run([sys.executable, "-m", "llmgeom.cache", "empty", str(target)], capture_output=True,
                              text=True)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "left alone" in done.stderr
    assert (shared / "downloads" / "model.gguf").read_bytes() == b"weights"
    done = subprocess.run([sys.executable, "-m", "llmgeom.cache", "empty", str(tmp_path / "fresh")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and (tmp_path / "fresh" / "downloads" / "model.gguf").exists()
