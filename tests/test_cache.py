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

from llmgeom.store import cache


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
    assert result.returncode == 1  # a runtime failure, not a usage error
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


def _hammer(path: str, payload: bytes, rounds: int, written) -> None:
    for _ in range(rounds):
        cache.write_checked(Path(path), payload)
        with written.get_lock():
            written.value += 1


def test_concurrent_writers_of_one_entry_never_leave_it_corrupt(tmp_path):
    path = tmp_path / "shared.npz"
    payload = os.urandom(4 << 20)  # 4 MiB: a write in place, not through a rename, would be seen half done
    workers_n, rounds = 4, 15
    context = multiprocessing.get_context("spawn")
    written = context.Value("i", 0)
    workers = [context.Process(target=_hammer, args=(str(path), payload, rounds, written)) for _ in range(workers_n)]
    for w in workers:
        w.start()
    raw_seen = checked_seen = during = 0
    while any(w.is_alive() for w in workers):
        before = written.value
        # the file itself, as any reader sees it: absent, or every byte of one write, never a prefix
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = None
        if raw is not None:
            assert len(raw) == len(payload) and raw == payload, f"a torn file: {len(raw)} of {len(payload)} bytes"
            raw_seen += 1
        data = cache.read_checked(path)
        assert data is None or data == payload  # never a torn or mixed file
        checked_seen += data is not None
        # a complete reading taken after one write finished and before the last one did: truly concurrent
        during += (raw is not None or data is not None) and before > 0 and written.value < workers_n * rounds
        if data is None:  # a reader that saw a mismatch deletes the entry; writers recreate it
            time.sleep(0.001)
    for w in workers:
        w.join()
        assert w.exitcode == 0
    assert written.value == workers_n * rounds
    assert raw_seen > 0 and checked_seen > 0, "the reader never saw the entry while the writers ran"
    assert during > 0, "no reading overlapped the writes: the test checked nothing"
    assert cache.read_checked(path) == payload
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_torn_or_bit_flipped_entry_is_a_miss_and_both_files_go(tmp_path):
    entry = tmp_path / "entry.npz"
    sidecar = Path(f"{entry}.sha256")
    arrays = {"a": np.arange(2000.0), "b": np.eye(3)}
    cache.save_arrays(entry, **arrays)
    whole = entry.read_bytes()
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0x01  # inside the array data: np.load alone would read a wrong number
    for name, damaged in [("half", whole[: len(whole) // 2]), ("last byte missing", whole[:-1]),
                          ("one bit flipped", bytes(flipped)), ("empty", b"")]:
        cache.save_arrays(entry, **arrays)
        entry.write_bytes(damaged)  # by hand, behind the cache's back, as a crash or a bad disk would
        assert cache.read_checked(entry) is None, name
        assert not entry.exists() and not sidecar.exists(), f"{name}: the corrupt entry was left in place"
        cache.save_arrays(entry, **arrays)
        entry.write_bytes(damaged)
        assert cache.load_arrays(entry) is None, name
    # data whose sidecar never landed (a kill between the two renames) is a miss, not a trusted file
    cache.save_arrays(entry, **arrays)
    sidecar.unlink()
    assert cache.load_arrays(entry) is None
    cache.save_arrays(entry, **arrays)
    loaded = cache.load_arrays(entry)
    assert loaded.keys() == arrays.keys() and all(np.array_equal(loaded[k], v) for k, v in arrays.items())


def test_a_truncated_result_is_recomputed_not_served(tiny_model_dir, isolated_cache):
    from llmgeom.measure import extract
    from llmgeom.models.loading import load

    loaded = load(str(tiny_model_dir))
    texts = ["The ship sailed at dawn.", "Call me Ishmael, said the sailor.", "To be, or not to be."]
    calls = []
    real = extract._forward
    extract._forward = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        first = extract.layer_entropy(loaded, texts, batch_size=2)
        n_batches = len(calls)
        assert n_batches > 0
        [entry] = (isolated_cache / "results").glob("layer_entropy-*.npz")
        np.testing.assert_array_equal(extract.layer_entropy(loaded, texts, batch_size=2).entropy, first.entropy)
        assert len(calls) == n_batches  # a sound entry is served from the cache
        entry.write_bytes(entry.read_bytes()[:-7])  # a torn entry, by hand
        again = extract.layer_entropy(loaded, texts, batch_size=2)
    finally:
        extract._forward = real
    assert len(calls) == 2 * n_batches  # every batch ran again
    np.testing.assert_array_equal(again.entropy, first.entropy)
    assert cache.load_arrays(entry) is not None  # and the entry is whole again


KILLABLE = """
import sys, time
import llmgeom.measure.extract as extract
from llmgeom.models.loading import load
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
    from llmgeom.measure import extract
    from llmgeom.models.loading import load

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
    from llmgeom.store.cache import CacheError, empty_results_cache

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
        done = subprocess.run([sys.executable, "-m", "llmgeom.store.cache", "empty", str(target)], capture_output=True,
                              text=True)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "left alone" in done.stderr
    assert (shared / "downloads" / "model.gguf").read_bytes() == b"weights"
    done = subprocess.run([sys.executable, "-m", "llmgeom.store.cache", "empty", str(tmp_path / "fresh")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and (tmp_path / "fresh" / "downloads" / "model.gguf").exists()


def test_a_json_result_is_checksummed_and_a_damaged_one_recomputed(isolated_cache):
    """A reproduction card's part goes through the same checksummed store as every array result."""
    calls = []

    def compute():
        calls.append(1)
        return {"loss": 1.25, "missing": float("nan"), "rows": [1, 2]}

    first = cache.cached_json("card-feeding", compute, model="m", settings={"n": 1})
    again = cache.cached_json("card-feeding", compute, model="m", settings={"n": 1})
    assert len(calls) == 1 and again["rows"] == first["rows"] == [1, 2] and np.isnan(again["missing"])
    stored = next((isolated_cache / "results").glob("card-feeding-*.json"))
    assert Path(f"{stored}.sha256").is_file()
    stored.write_text(stored.read_text().replace("1.25", "9.25"))  # a flipped digit: the checksum no longer holds
    assert cache.cached_json("card-feeding", compute, model="m", settings={"n": 1})["loss"] == 1.25
    assert len(calls) == 2
