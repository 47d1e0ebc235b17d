"""A peft LoRA adapter exported as a GGUF LoRA adapter: llama.cpp on the quantised base + the adapter
samples what transformers samples from the same base with the adapter merged."""

from __future__ import annotations

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.generation.gguf_lora import gguf_tensor_name


def test_peft_names_map_to_llama_cpp_tensors():
    assert gguf_tensor_name("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight") == \
        "blk.3.attn_q.weight.lora_a"
    assert gguf_tensor_name("base_model.model.model.layers.12.mlp.down_proj.lora_B.weight") == \
        "blk.12.ffn_down.weight.lora_b"
    with pytest.raises(RrrError, match="cannot map"):
        gguf_tensor_name("base_model.model.lm_head.lora_A.weight")


@pytest.mark.model
def test_llama_cpp_with_the_exported_adapter_matches_transformers(pulled_model, tmp_path):
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    from rrr_cli.generation.base import SamplingParams
    from rrr_cli.generation.gguf_lora import export_lora_gguf
    from rrr_cli.generation.hf import HFBackend
    from rrr_cli.generation.llamacpp import LlamaCppBackend

    torch.set_num_threads(2)
    hf = HFBackend.from_path(pulled_model, device="cpu")
    torch.manual_seed(0)
    lora = peft.get_peft_model(hf.model, peft.LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                                         init_lora_weights=False))
    with torch.no_grad():  # a policy that has clearly moved away from the base
        for name, weight in lora.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.15)
    lora.save_pretrained(tmp_path / "policy")
    adapter = export_lora_gguf(tmp_path / "policy", pulled_model, tmp_path / "policy.gguf")
    hf.model = lora.merge_and_unload()

    prompt = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
    params = SamplingParams(n=1, temperature=0.0, max_tokens=32, seed=0)
    merged = hf.generate([prompt], params)[0][0]
    with LlamaCppBackend(pulled_model, lora_path=adapter, threads=2) as llama:
        adapted = llama.generate([prompt], params)[0][0]
    with LlamaCppBackend(pulled_model, threads=2) as llama:
        base = llama.generate([prompt], params)[0][0]
    # The same greedy start (the two runtimes' arithmetic differs, so the tails may drift apart)...
    assert adapted.text[:40] == merged.text[:40]
    # ...and one the base model does not write.
    assert base.text[:40] != merged.text[:40]


def test_a_folder_without_adapter_weights_is_refused(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    from rrr_cli.generation.gguf_lora import export_lora_gguf

    with pytest.raises(RrrError, match="not a readable peft LoRA adapter"):
        export_lora_gguf(tmp_path, tmp_path / "base.gguf", tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
