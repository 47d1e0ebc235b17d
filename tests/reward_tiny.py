"""A tiny randomly initialised Qwen2-architecture base model for the reward-model tests.

Two layers, hidden size 32, and tiny_lm's byte-level tokenizer built in memory (no download), saved as a
Hugging Face directory, which is one of the two forms a reward model's base can take.
"""

from __future__ import annotations

from pathlib import Path

from tiny_lm import tiny_tokenizer  # the same byte-level tokenizer as the other mechanism tests


def save_tiny_base(path: Path, seed: int = 0, layers: int = 2) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=258, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=1)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path
