"""A peft LoRA adapter as a GGUF LoRA adapter, so llama.cpp samples from a trained policy.

selftrain's PPO policy is a LoRA adapter on the base generator. Merging it into the weights would mean
re-quantising a whole model per iteration; llama.cpp instead applies a GGUF LoRA adapter at run time
on top of the quantised base (`llama_adapter_lora_init`), at nearly the base model's speed. The file
holds, for each adapted weight `blk.N.<tensor>.weight` of the base GGUF, the two factors
`….lora_a` (r × in) and `….lora_b` (out × r) in float32, plus `adapter.lora.alpha`; llama.cpp scales
the product by alpha / r, as peft does.

Llama-architecture GGUF files store the rows of the query and key weights permuted for llama.cpp's
rotary layout (transformers undoes this on load); an adapter's B factors of those two weights get the
same permutation. Qwen2 files are stored as is. Other architectures are refused rather than guessed.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path

from rrr_cli.errors import RrrError

# peft's module names in Llama/Qwen-style decoders -> the tensor names in their GGUF files.
TENSOR_NAMES = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
}
ARCHITECTURES = ("qwen2", "llama")  # checked: llama.cpp + adapter samples what transformers + merged adapter does
_PEFT_NAME = re.compile(r"(?:.*\.)?layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$")


def gguf_tensor_name(peft_name: str) -> str:
    """`base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` -> `blk.3.attn_q.weight.lora_a`."""
    match = _PEFT_NAME.match(peft_name)
    if not match or match.group(2) not in TENSOR_NAMES:
        raise RrrError(f"cannot map adapter weight {peft_name} to a llama.cpp tensor")
    layer, module, factor = match.groups()
    return f"blk.{layer}.{TENSOR_NAMES[module]}.weight.lora_{factor.lower()}"


def _rope_permute(rows, n_head: int):
    """The row permutation llama.cpp's converter applies to Llama q/k weights (pairs -> halves)."""
    return (rows.reshape(n_head, 2, rows.shape[0] // n_head // 2, *rows.shape[1:])
            .swapaxes(1, 2).reshape(rows.shape))


def _field(reader, key: str):
    field = reader.fields.get(key)
    if field is None:
        return None
    value = field.parts[-1]
    return bytes(value).decode() if field.types and field.types[0].name == "STRING" else int(value[0])


def export_lora_gguf(adapter_dir: str | os.PathLike, base_gguf: str | os.PathLike,
                     out: str | os.PathLike) -> Path:
    """Write `adapter_dir` (a peft LoRA: adapter_config.json + adapter_model.safetensors) as a GGUF
    LoRA adapter for the model `base_gguf`, atomically. Checks every tensor against the base's shapes."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    adapter_dir, out = Path(adapter_dir), Path(out)
    try:
        config = json.loads((adapter_dir / "adapter_config.json").read_text())
        weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
        rank, alpha = int(config["r"]), float(config["lora_alpha"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RrrError(f"{adapter_dir}: not a readable peft LoRA adapter ({exc!r})") from None
    if config.get("use_rslora"):
        alpha *= math.sqrt(rank)  # rsLoRA scales by alpha/sqrt(r); llama.cpp always uses alpha/r
    if config.get("use_dora"):
        raise RrrError(f"{adapter_dir}: DoRA adapters cannot be exported to llama.cpp")

    reader = gguf.GGUFReader(str(base_gguf))
    shapes = {t.name: [int(x) for x in t.shape] for t in reader.tensors}  # ggml order: [in, out]
    arch = _field(reader, "general.architecture")
    if arch not in ARCHITECTURES:
        raise RrrError(f"{base_gguf}: exporting a LoRA adapter for {arch} models is not supported "
                       f"(supported: {', '.join(ARCHITECTURES)}); sample the policy with transformers")
    tensors: dict[str, np.ndarray] = {}
    for name, value in weights.items():
        tensors[gguf_tensor_name(name)] = np.ascontiguousarray(value, dtype=np.float32)
    if arch == "llama":
        heads = _field(reader, "llama.attention.head_count")
        kv_heads = _field(reader, "llama.attention.head_count_kv") or heads
        for name in list(tensors):
            if name.endswith((".attn_q.weight.lora_b", ".attn_k.weight.lora_b")):
                n_head = heads if ".attn_q." in name else kv_heads
                tensors[name] = np.ascontiguousarray(_rope_permute(tensors[name], n_head))
    for name in [n for n in tensors if n.endswith(".lora_a")]:
        base = name[: -len(".lora_a")]
        a, b = tensors[name], tensors.get(base + ".lora_b")
        if base not in shapes or b is None:
            raise RrrError(f"{adapter_dir}: adapter weight {base} has no match in {base_gguf}")
        fan_in, fan_out = shapes[base][0], shapes[base][1]
        if a.shape != (rank, fan_in) or b.shape != (fan_out, rank):
            raise RrrError(f"{adapter_dir}: adapter shapes {a.shape}, {b.shape} do not fit {base} "
                           f"({fan_out} x {fan_in}) of {base_gguf}")

    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        writer = gguf.GGUFWriter(tmp, arch)
        writer.add_string("general.type", "adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", alpha)
        for name in sorted(tensors):
            writer.add_tensor(name, tensors[name])
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
