"""A tiny randomly initialised causal LM with a byte-level tokenizer, for tests of the training mechanics.

Qwen2 architecture (as the default generator), 2 layers, hidden 64; the tokenizer maps each byte to a
token, so any text round-trips, and carries a minimal chat template so chat-style prompts render.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1}
    for char in sorted(ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_model(seed: int = 0, vocab_size: int = 258):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, initializer_range=0.2, pad_token_id=0, eos_token_id=1, bos_token_id=1)
    model = AutoModelForCausalLM.from_config(config)
    model.eval()
    return model


def save_tiny(path: Path, seed: int = 0) -> Path:
    """Save the tiny model and tokenizer as a Hugging Face directory (what `--generator DIR` loads)."""
    tiny_model(seed).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path


def digit_tasks(names: list[str]) -> list[dict]:
    """Tasks `def <name>(): return <k>` where k is the task's position mod 3 + 1, in completion style:
    the program is the prompt, the completion (one line) and an assert on the returned digit."""
    return [{"task_id": f"toy/{name}", "language": "python", "prompt": f"def {name}():\n    return",
             "tests": f"\nassert {name}() == {index % 3 + 1}\n", "stop_tokens": ["\n"], "source": "toy"}
            for index, name in enumerate(names)]


def train_on_digits(model, tokenizer, prompts: list[str], steps: int = 150, seed: int = 0):
    """Teach the tiny model that every prompt continues with ` 1`, ` 2` or ` 3` and a newline (each a
    third of the time), so sampled candidates pass about a third of the time: some pass, some fail."""
    import torch

    torch.manual_seed(seed)
    texts = [p + f" {d}\n" + tokenizer.eos_token for p in prompts for d in (1, 2, 3)]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model


def save_digit_model(path: Path, prompts: list[str], seed: int = 0) -> Path:
    """The tiny model trained on the digit tasks, saved as a Hugging Face folder."""
    tokenizer = tiny_tokenizer()
    tokenizer.padding_side = "right"
    model = train_on_digits(tiny_model(seed), tokenizer, prompts, seed=seed)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
