"""A peft LoRA adapter exported as a GGUF LoRA adapter: llama.cpp on the quantised base + the adapter
computes what transformers computes from the same base with the adapter merged."""

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


TEXT = ("def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
        "    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n")


def _llama_cpp_logprobs(model_path, tokens, lora_path=None):
    """Per-token log-probs of `tokens[1:]` under llama.cpp (optionally with a GGUF LoRA adapter)."""
    import numpy as np
    from llama_cpp import Llama

    llama = Llama(model_path=str(model_path), lora_path=str(lora_path) if lora_path else None, n_ctx=256,
                  n_threads=2, logits_all=True, verbose=False)
    try:
        llama.eval(tokens)
        logits = np.asarray(llama.scores[: len(tokens) - 1], dtype=np.float64)
    finally:
        llama.close()
    logits -= logits.max(axis=1, keepdims=True)
    logprobs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return logprobs[np.arange(len(tokens) - 1), tokens[1:]]


@pytest.mark.model
def test_llama_cpp_with_the_exported_adapter_scores_text_as_transformers_merged(pulled_model, tmp_path):
    """The export promises that llama.cpp + adapter computes the function transformers + merged adapter
    computes. Both runtimes read the same quantised weights, but llama.cpp quantises activations to 8 bits
    inside its matmuls and sums in another order, by CPU kernel (AVX2, AVX-512): so compare per-token
    log-probs of a fixed text with a tolerance, not greedy text (one flipped near-tie changes every later
    token). The tolerances are relative: the adapted model must sit far closer to the merged one than the
    base model does, and within a few times the two runtimes' own disagreement on the base model, which is
    what a CPU's kernels change."""
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    import numpy as np
    from llama_cpp import Llama

    from rrr_cli.generation.gguf_lora import export_lora_gguf
    from rrr_cli.generation.hf import HFBackend

    torch.set_num_threads(2)
    hf = HFBackend.from_path(pulled_model, device="cpu")
    vocab = Llama(model_path=str(pulled_model), vocab_only=True, verbose=False)
    tokens = vocab.tokenize(TEXT.encode(), add_bos=True)
    vocab.close()

    def transformers_logprobs(model):
        with torch.no_grad():
            logits = model(torch.tensor([tokens])).logits[0, :-1].double()
        return torch.log_softmax(logits, dim=-1)[torch.arange(len(tokens) - 1), torch.tensor(tokens[1:])].numpy()

    base_transformers = transformers_logprobs(hf.model.eval())
    torch.manual_seed(0)
    lora = peft.get_peft_model(hf.model, peft.LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                                         init_lora_weights=False))
    with torch.no_grad():  # a policy that has clearly moved away from the base
        for name, weight in lora.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.15)
    lora.save_pretrained(tmp_path / "policy")
    adapter = export_lora_gguf(tmp_path / "policy", pulled_model, tmp_path / "policy.gguf")
    merged = transformers_logprobs(lora.merge_and_unload().eval())
    adapted = _llama_cpp_logprobs(pulled_model, tokens, lora_path=adapter)
    base = _llama_cpp_logprobs(pulled_model, tokens)

    to_merged = float(np.mean(np.abs(adapted - merged)))
    base_to_merged = float(np.mean(np.abs(base - merged)))
    runtimes = float(np.mean(np.abs(base - base_transformers)))  # the two runtimes' own disagreement
    print(f"nats/token: adapted vs merged {to_merged:.4f}, base vs merged {base_to_merged:.4f}, "
          f"llama.cpp vs transformers without adapter {runtimes:.4f}")
    # AMD EPYC, AVX2 (2026-12-01): 0.062 adapted vs merged, 0.678 base vs merged, 0.026 without adapter.
    # A wrong export (a factor transposed, q/k rows unpermuted, alpha/r off) lands near the base's 0.68.
    assert base_to_merged > 0.3, f"the adapter barely changed the model ({base_to_merged:.3f} nats/token)"
    assert to_merged < 0.25 * base_to_merged, (to_merged, base_to_merged)
    assert to_merged < 4 * runtimes + 0.02, (to_merged, runtimes)


def test_a_folder_without_adapter_weights_is_refused(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    from rrr_cli.generation.gguf_lora import export_lora_gguf

    with pytest.raises(RrrError, match="not a readable peft LoRA adapter"):
        export_lora_gguf(tmp_path, tmp_path / "base.gguf", tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
