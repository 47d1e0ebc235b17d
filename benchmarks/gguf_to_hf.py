"""Convert a GGUF model (e.g. the catalog's Qwen2.5-Coder-0.5B Q4_K_M) to a Hugging Face folder.

    python benchmarks/gguf_to_hf.py GGUF OUT_DIR [--dtype bfloat16] [--skeleton]

The weights are dequantised by transformers (it needs the `gguf` package, which a GPU machine may
lack) and written with `save_pretrained`, so `benchmarks/gpu_steps.py --hf-dir OUT_DIR` and
`rrr selftrain --generator OUT_DIR` load them without `gguf`.

`--skeleton` writes the config and tokenizer only (about 11 MB for Qwen2.5): small enough to travel
where a whole model cannot (the device tool carries at most 64 MiB). `gpu_steps.py` then builds the
same architecture with random weights, which times a training step just as well: the arithmetic
does not depend on the values, and rollouts run to a fixed length either way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def convert(gguf: Path, out: Path, dtype: str = "bfloat16", skeleton: bool = False) -> dict:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if not gguf.is_file():
        sys.exit(f"gguf_to_hf: {gguf}: no such file")
    started = time.perf_counter()
    where, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    if skeleton:
        config = AutoConfig.from_pretrained(where, gguf_file=name)
        config.torch_dtype = dtype
        config.save_pretrained(out)
        # Older transformers (4.x) read `rope_theta` at the top level; 5.x nests it in rope_parameters.
        data = json.loads((out / "config.json").read_text())
        theta = (data.get("rope_parameters") or {}).get("rope_theta")
        if theta is not None and "rope_theta" not in data:
            data["rope_theta"] = theta
            (out / "config.json").write_text(json.dumps(data, indent=2) + "\n")
    else:
        model = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=getattr(torch, dtype))
        model.save_pretrained(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"out": str(out), "bytes": size, "skeleton": skeleton, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--skeleton", action="store_true", help="config and tokenizer only, no weights")
    args = parser.parse_args()
    print(json.dumps(convert(args.gguf, args.out, args.dtype, args.skeleton)))


if __name__ == "__main__":
    main()
