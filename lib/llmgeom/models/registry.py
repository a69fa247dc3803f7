"""The committed size ladder: which models are under ``models/``, their checkpoints and their training logs.

:mod:`llmgeom.models.ladder` trains the ladder and writes each model's folder and ``training_log.json``; this module is
the one place that finds those folders (:func:`ladder_models`, :func:`ladder_checkpoints`), reads the logs
(:func:`training_log`) and checks committed weights against the SHA-256 their log recorded (:func:`verified`).
"""

from __future__ import annotations

import json
from pathlib import Path

from llmgeom.models.ladder import EXTRA_SEEDS, QUARTER_BUDGET
from llmgeom.store.cache import sha256_file
from llmgeom.store.fetch import ModelUnavailable
from llmgeom.store.paths import REPO_ROOT

LADDER_DIR = REPO_ROOT / "models"


def _is_model_folder(folder: Path) -> bool:
    return (folder / "config.json").exists() and (folder / "model.safetensors").exists()


def ladder_models(everything: bool = False) -> dict[str, Path]:
    """``{"ladder-<name>": folder}`` for the book ladder (the seven sizes and their
    :data:`llmgeom.models.ladder.SEED_REPEATS`), smallest first; ``everything=True`` adds every other committed model
    (the extra seeds and the quarter-budget rungs, which chapter 2's :func:`llmgeom.experiments.family.ladder_family`
    reads), all of which load by name."""
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


def training_log(model) -> dict:
    """The training log of a ladder model, given as ``"ladder-<name>"``, a folder, or a :class:`LoadedModel`.

    Holds the model's size, token budget, seed, held-out losses along training, wall time, GEMM rate and the
    SHA-256 of every weight file (appendix "The model ladder"); ``{}`` for a model without one.
    """
    folder = getattr(model, "source", model)
    if isinstance(folder, str) and folder.startswith("ladder-"):
        found = ladder_models(everything=True).get(folder.partition("@")[0])
        if found is None:
            raise ModelUnavailable(f"no ladder model {folder!r}; available: {', '.join(ladder_models(everything=True))}")
        folder = found
    log = Path(folder) / "training_log.json"
    return json.loads(log.read_text()) if log.exists() else {}


def verified(folder: Path, weights: Path) -> Path:
    """``folder`` after checking ``folder/weights`` against the SHA-256 its training log recorded."""
    recorded = training_log(folder).get("weights_sha256", {})
    expected = recorded.get(str(weights))
    if expected is not None and sha256_file(folder / weights) != expected:
        raise ModelUnavailable(
            f"{folder / weights} is corrupted (its SHA-256 differs from the one in training_log.json); "
            f"restore it with 'git checkout -- {folder / weights}' or retrain with 'make ladder'"
        )
    return folder
