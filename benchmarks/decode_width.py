"""How many sequences to decode together: llama.cpp's tokens/s by batch width and context, one run.

Batched sampling decodes one token per live sequence per llama_decode, each sequence in its own KV
stream, so a step's cost is one pass over the weights shared by the batch plus attention over every
stream's cells (llama.cpp pads each stream to the longest one's). This script measures both parts
on the loaded model and threads, to choose the number of slots (`DEFAULT_PARALLEL` in
`rrr_cli/generation/llamacpp.py`):

- `one stream`: `width` tokens of one sequence per decode after `--context` cells (the ceiling
  `batched_sampling.py` compares against, at width 16);
- `streams`: one token for each of `width` sequences per decode, every stream holding the given
  number of cells, as in batched sampling.

Each figure is the median of `--repeats` measurements, interleaved over widths, so a slow spell on a
shared machine spreads over all of them. The CPU is printed with the figures.

    python benchmarks/decode_width.py                              # widths 8 16 24 32, 256 and 768 cells
    python benchmarks/decode_width.py --widths 16 32 48 --contexts 512 --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from cpu import cpu_description  # benchmarks/cpu.py, beside this script
from rrr_cli.atomic import atomic_write_text
from rrr_cli.errors import RrrError
from rrr_cli.generation.llamacpp import LlamaCppBackend
from rrr_cli.models import resolve_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: every core)")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 24, 32])
    parser.add_argument("--contexts", type=int, nargs="+", default=[256, 768], help="cells in each stream")
    parser.add_argument("--steps", type=int, default=16, help="decodes per streams measurement")
    parser.add_argument("--tokens", type=int, default=256, help="tokens per one-stream measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    if min(args.widths) < 1 or min(args.contexts) < 1 or args.steps < 1 or args.tokens < 1 or args.repeats < 1:
        parser.error("widths, contexts, steps, tokens and repeats must be positive")

    try:
        path = resolve_model(args.model)
    except RrrError as exc:
        parser.error(str(exc))
    widest = max(args.widths)
    backend = LlamaCppBackend(path, model_name=args.model, threads=args.threads, max_parallel=widest)
    cpu = cpu_description()
    print(f"cpu {cpu['model']}, {cpu['cpus']} logical CPUs, {' '.join(cpu['simd'])}; threads {backend.threads}",
          file=sys.stderr)
    one: dict[tuple[int, int], list[float]] = {}
    many: dict[tuple[int, int], list[float]] = {}
    for _ in range(args.repeats):
        for context in args.contexts:
            for width in args.widths:
                tokens, wall, _cpu = backend.decode_rate(width, n_tokens=args.tokens, context=context)
                one.setdefault((width, context), []).append(tokens / wall)
                tokens, wall, _cpu = backend.decode_rate(width, n_tokens=width * args.steps, context=context,
                                                         streams=True)
                many.setdefault((width, context), []).append(tokens / wall)
    rows = []
    for context in args.contexts:
        for width in args.widths:
            row = {"width": width, "context": context,
                   "one_stream_tokens_per_s": round(statistics.median(one[width, context]), 1),
                   "streams_tokens_per_s": round(statistics.median(many[width, context]), 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    backend.close()
    if args.json:
        atomic_write_text(args.json, json.dumps({"model": args.model, "cpu": cpu, "threads": backend.threads,
                                                 "repeats": args.repeats, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
