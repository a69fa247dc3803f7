"""`make bench`: our pipeline against the companion route, side by side in one run; writes _build/bench/results.json.

Every comparison is a ratio of medians measured in the same process, one after the other, because this machine is
shared and noisy: absolute seconds drift between runs, ratios much less. The companion route is
``llmgeom.core.entropy.companion_matrix_entropy`` (a d×d ``torch.svd`` per text, chapter 1), called one text at a time
on unpadded states, as the companion code does.

Sections (keys in results.json):
  kernel_*    (a) the entropy kernel alone, random states, N ∈ {32,128,512}, d ∈ {128,576,2048,4096}, f32/f64
  e2e_*       (b) per-layer entropy of every layer, end to end, SmolLM2 and a random 2-layer GPT-NeoX of width 2048
  analysis_*  (c) our analysis time on top of the bare batched forward pass
  gemm_*      (d) this CPU's fp32 GEMM rate, and our forward pass's FLOP rate as a fraction of it
  rss_*       (e) peak memory of a corpus-scale run at 128 and 1024 texts (subprocesses)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import gemm_rate, machine_info, median_seconds  # noqa: E402

from llmgeom.core.entropy import companion_matrix_entropy, matrix_entropy  # noqa: E402
from llmgeom.data.feeding import model_input, text_encoding  # noqa: E402

OUT = ROOT / "_build" / "bench"
LATEST = ROOT / "bench" / "latest"


# (a) ------------------------------------------------------------------------------------------------------------
def bench_kernel(quick: bool) -> tuple[list[dict], dict]:
    rows, flat = [], {}
    sizes_n = [32, 128, 512]
    sizes_d = [128, 576, 2048] if quick else [128, 576, 2048, 4096]
    max_rel = {torch.float32: 0.0, torch.float64: 0.0}
    for dtype in (torch.float32, torch.float64):
        tag = "f32" if dtype == torch.float32 else "f64"
        for d in sizes_d:
            for n in sizes_n:
                generator = torch.Generator().manual_seed(n * 10_000 + d)
                batch = 16
                states = torch.randn(batch, n, d, generator=generator, dtype=dtype)
                # the companion's cost is d³ whatever N is: time fewer texts where d is large
                n_companion = 1 if d >= 2048 else (2 if d >= 576 else 8)
                repeats_companion = 1 if d >= 2048 else 3
                companion_h = [companion_matrix_entropy(states[i]) for i in range(n_companion)]
                t_companion = median_seconds(lambda: [companion_matrix_entropy(states[i]) for i in range(n_companion)],
                                             repeats_companion) / n_companion
                ours = matrix_entropy(states, dtype=dtype)
                t_ours = median_seconds(lambda: matrix_entropy(states, dtype=dtype), 5) / batch
                ours_norm = np.asarray(ours.normalized)[:n_companion]
                rel = float(np.max(np.abs(ours_norm - np.array(companion_h)) / np.abs(np.array(companion_h))))
                max_rel[dtype] = max(max_rel[dtype], rel)
                ratio = t_companion / t_ours
                rows.append({"dtype": tag, "N": n, "d": d, "companion_s_per_text": t_companion,
                             "ours_s_per_text": t_ours, "ratio": ratio, "max_rel_diff": rel})
                flat[f"kernel_ratio_n{n}_d{d}_{tag}"] = ratio
                print(f"  kernel {tag} N={n:4d} d={d:5d}: companion {t_companion * 1e3:9.2f} ms/text, "
                      f"ours {t_ours * 1e3:8.3f} ms/text, ratio {ratio:9.1f}, max rel diff {rel:.1e}", flush=True)
    flat["kernel_max_rel_diff_f32"] = max_rel[torch.float32]
    flat["kernel_max_rel_diff_f64"] = max_rel[torch.float64]
    return rows, flat


# (b), (c), (d) --------------------------------------------------------------------------------------------------
def forward_flops(model, n_tokens_total: int, seq_len: int) -> float:
    """FLOPs of the backbone's forward pass (what the pipeline runs: hidden states, no logits).

    2 × the backbone's parameters except the embedding table (a lookup, not a product) × tokens, plus attention
    (QKᵀ and AV: 4 × layers × N × d per token).
    """
    config = model.config
    backbone = getattr(model, "base_model", model)
    params = sum(p.numel() for name, p in backbone.named_parameters() if "embed" not in name)
    attention = 4 * config.num_hidden_layers * seq_len * config.hidden_size
    return float(n_tokens_total) * (2 * params + attention)


def bare_forward(loaded, texts: list[str], batch_size: int):
    """The same padded batches and hidden-state copies as `layer_entropy`, without the analysis."""
    from llmgeom.measure.extract import iter_batches

    for _ in iter_batches(loaded, texts, layers="all", batch_size=batch_size, progress=False):
        pass


def ours(loaded, texts: list[str], batch_size: int):
    from llmgeom.measure.extract import layer_entropy

    return layer_entropy(loaded, texts, layers="all", batch_size=batch_size, use_cache=False, progress=False)


@torch.no_grad()
def companion_pipeline(loaded, texts: list[str]):
    """The companion's way: one text at a time, no padding, a d×d SVD per text per layer."""
    for text in texts:
        # fed as our pipeline feeds it (llmgeom.data.feeding), so the two routes read the same tokens
        ids = torch.tensor([model_input(loaded.prefix_ids, text_encoding(loaded.tokenizer, text))])
        o = loaded.model(input_ids=ids, output_hidden_states=True, use_cache=False)
        [companion_matrix_entropy(h[0]) for h in o.hidden_states]


def bench_end_to_end(name: str, loaded, texts: list[str], n_companion: int, batch_size: int) -> dict:
    n_texts = len(texts)
    seq_len = len(text_encoding(loaded.tokenizer, texts[0]))
    ours(loaded, texts[:batch_size], batch_size)  # warm-up
    t_ours = median_seconds(lambda: ours(loaded, texts, batch_size), 3) / n_texts
    t_bare = median_seconds(lambda: bare_forward(loaded, texts, batch_size), 3) / n_texts
    t_companion = median_seconds(lambda: companion_pipeline(loaded, texts[:n_companion]), 1) / n_companion
    flops = forward_flops(loaded.model, seq_len, seq_len)
    row = {"model": name, "texts": n_texts, "tokens": seq_len, "layers": loaded.n_layers + 1,
           "width": int(loaded.model.config.hidden_size), "companion_texts_timed": n_companion,
           "companion_s_per_text": t_companion, "ours_s_per_text": t_ours, "bare_forward_s_per_text": t_bare,
           "ratio": t_companion / t_ours, "analysis_overhead": (t_ours - t_bare) / t_bare,
           "ratio_bound_without_analysis": t_companion / t_bare,
           "forward_gflops": flops / t_bare / 1e9}
    print(f"  e2e {name}: companion {t_companion:.3f} s/text ({n_companion} texts), ours {t_ours:.4f} s/text, "
          f"ratio {row['ratio']:.1f}; bare forward {t_bare:.4f} s/text, overhead {row['analysis_overhead']:.1%}, "
          f"{row['forward_gflops']:.1f} GFLOP/s", flush=True)
    return row


def passages(loaded, n_texts: int, n_tokens: int) -> list[str]:
    from llmgeom.data.corpora import sample_passages

    return [p.text for p in sample_passages("shakespeare", loaded.tokenizer, n_texts, n_tokens, seed=0)]


# (e) ------------------------------------------------------------------------------------------------------------
RSS_CHILD = """
import resource, sys
from llmgeom.data.corpora import sample_passages
from llmgeom.measure.extract import layer_entropy
from llmgeom.models.loading import load
loaded = load(sys.argv[1])
texts = [p.text for p in sample_passages("shakespeare", loaded.tokenizer, int(sys.argv[2]), 128, seed=0)]
layer_entropy(loaded, texts, layers="all", use_cache=False, progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mib(model: str, n_texts: int) -> float:
    run = subprocess.run([sys.executable, "-c", RSS_CHILD, model, str(n_texts)], capture_output=True, text=True,
                         check=True)
    return int(run.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not for the record)")
    args = parser.parse_args(argv)
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from llmgeom.models.loading import LoadedModel, load

    started = time.perf_counter()
    results = {"machine": machine_info(), "quick": args.quick}
    print("(a) entropy kernel", flush=True)
    results["kernel"], flat = bench_kernel(args.quick)

    print("(b, c, d) end to end", flush=True)
    smol = load("smollm2-135m")
    n_texts = 32 if args.quick else 128
    e2e_smol = bench_end_to_end("smollm2-135m", smol, passages(smol, n_texts, 128), 4 if args.quick else 16, 16)
    # the wide model reads the ladder's 2,048-token vocabulary, so its cost is the two wide blocks, not an
    # embedding table; 32 passages keep its forward passes to seconds
    ladder = load("ladder-w64-l1")
    torch.manual_seed(0)
    width = 1024 if args.quick else 2048
    config = GPTNeoXConfig(vocab_size=len(ladder.tokenizer), hidden_size=width, num_hidden_layers=2,
                           num_attention_heads=16, intermediate_size=4 * width, max_position_embeddings=512)
    wide = LoadedModel(f"gpt-neox-2x{width} (random)", GPTNeoXForCausalLM(config).eval(), ladder.tokenizer,
                       False, "random init")
    e2e_wide = bench_end_to_end(wide.name, wide, passages(ladder, 8 if args.quick else 32, 128),
                                2 if args.quick else 8, 16)
    results["end_to_end"] = [e2e_smol, e2e_wide]
    gemm = gemm_rate()
    results["gemm_gflops"] = gemm
    print(f"  fp32 GEMM 2048³: {gemm:.1f} GFLOP/s; SmolLM2 forward {e2e_smol['forward_gflops']:.1f} GFLOP/s "
          f"= {e2e_smol['forward_gflops'] / gemm:.0%}", flush=True)

    print("(e) peak memory of a corpus-scale run (ladder-w384-l6, 128 tokens, every layer)", flush=True)
    rss = {n: peak_rss_mib("ladder-w384-l6", n) for n in ([64, 256] if args.quick else [128, 1024])}
    small, large = sorted(rss)
    results["rss_mib"] = {str(n): v for n, v in rss.items()}
    print(f"  peak RSS: {small} texts {rss[small]:.0f} MiB, {large} texts {rss[large]:.0f} MiB", flush=True)

    flat.update({
        "e2e_ratio_smollm2": e2e_smol["ratio"],
        "e2e_ratio_wide": e2e_wide["ratio"],
        "analysis_overhead": e2e_smol["analysis_overhead"],
        "analysis_overhead_wide": e2e_wide["analysis_overhead"],
        "gemm_fraction": e2e_smol["forward_gflops"] / gemm,
        f"rss_ratio_{large}_vs_{small}": rss[large] / rss[small],
    })
    if not args.quick:
        flat["rss_ratio_1024_vs_128"] = rss[1024] / rss[128]
    results.update(flat)
    results["wall_s"] = time.perf_counter() - started
    results["self_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    OUT.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, sort_keys=False)
    (OUT / "results.json").write_text(text)
    if not args.quick:
        LATEST.mkdir(parents=True, exist_ok=True)
        (LATEST / "results.json").write_text(text)
    print(f"\nwrote {OUT / 'results.json'}" + ("" if args.quick else f" and {LATEST / 'results.json'}"))
    print(summary_table(results))
    return 0


TARGETS = {  # key: (target, higher is better)
    "kernel_ratio_n128_d2048_f32": (300, True),
    "kernel_max_rel_diff_f64": (1e-6, False),
    "e2e_ratio_smollm2": (4, True),
    "e2e_ratio_wide": (30, True),
    "analysis_overhead": (0.15, False),
    "gemm_fraction": (0.5, True),
    "rss_ratio_1024_vs_128": (1.2, False),
}


def summary_table(results: dict) -> str:
    lines = [f"{'key':32s} {'measured':>12s} {'target':>10s}  met"]
    for key, (target, higher) in TARGETS.items():
        if key not in results:
            continue
        value = results[key]
        met = value >= target if higher else value <= target
        lines.append(f"{key:32s} {value:12.4g} {('≥' if higher else '≤') + format(target, 'g'):>10s}  {'yes' if met else 'NO'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
