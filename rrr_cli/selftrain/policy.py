"""Torch models for self-training: the base generator as a transformers causal LM (from a catalog GGUF,
a GGUF path or a Hugging Face folder), a trained PPO policy as a sampling backend, and PPO training."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rrr_cli.errors import RrrError
from rrr_cli.generation.prompts import chat_messages, style_for, to_completion
from rrr_cli.records import Task


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RrrError("--device cuda: torch sees no CUDA GPU")
    return device


def load_causal_lm(model: str | None, device: str = "cpu"):
    """(model, tokenizer) in torch from a catalog name, a GGUF file (dequantised) or a HF folder; the
    transformers backend's loader, so a policy and `--backend hf` see the same weights and dtype."""
    from rrr_cli.generation.hf import HFBackend
    from rrr_cli.models import resolve_model

    backend = HFBackend.from_path(resolve_model(model or None), device=device)
    if backend.tokenizer.pad_token_id is None:
        backend.tokenizer.pad_token = backend.tokenizer.eos_token
    return backend.model, backend.tokenizer


def policy_prompt(task: Task, tokenizer, style: str) -> str:
    """What the policy continues for `task`: the same text `rrr sample` renders in this style."""
    if style_for(task, style) == "chat":
        return tokenizer.apply_chat_template(chat_messages(task), tokenize=False, add_generation_prompt=True)
    return task.prompt


def policy_backend(base: str | None, policy_dir: Path, device: str, name: str, backend: str = "auto"):
    """A backend sampling from base + the PPO policy's LoRA adapter.

    On the CPU with a GGUF generator and llama.cpp: the quantised base with the adapter exported as a
    GGUF LoRA adapter (written once, beside the policy, as `policy.gguf`), several times faster than
    transformers here and the same model (its greedy text matches the merged transformers policy's;
    tests/test_gguf_lora.py). Elsewhere: transformers with the adapter merged.
    """
    from rrr_cli.generation.backends import choose_backend, open_backend
    from rrr_cli.models import resolve_model

    path = Path(resolve_model(base))
    if device == "cpu" and path.is_file() and choose_backend(backend, path) == "llama.cpp":
        from rrr_cli.generation.gguf_lora import export_lora_gguf

        adapter = policy_dir.with_name("policy.gguf")
        if not adapter.exists():
            export_lora_gguf(policy_dir, path, adapter)
        sampler = open_backend(base, "llama.cpp", lora_path=adapter)
        sampler.model_name = name
        return sampler
    from rrr_cli.generation.hf import HFBackend
    from rrr_cli.training.ppo import load_policy_model

    lm, tokenizer = load_causal_lm(base, device)
    return HFBackend(load_policy_model(lm, policy_dir), tokenizer, name=name, device=device)


Scorer = Callable[[list[Task], list[str], list["tuple[float, int] | None"]], list[float]]


def reply_logprobs(model, tokenizer, prompts: list[str], replies: list[str]) -> list[tuple[float, int] | None]:
    """(sum of token log-probs, tokens) of each reply after its prompt under `model`, at temperature 1:
    what a sampled candidate carries from its sampler (llama.cpp and transformers record the same)."""
    import torch

    out: list[tuple[float, int] | None] = []
    device = next(model.parameters()).device
    with torch.no_grad():
        for prompt, reply in zip(prompts, replies):
            head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            tail = tokenizer(reply, add_special_tokens=False)["input_ids"]
            if not tail or not head:
                out.append(None)
                continue
            ids = torch.tensor([head + tail], device=device)
            logits = model(input_ids=ids).logits[0, len(head) - 1:-1].float()
            chosen = logits.log_softmax(-1).gather(-1, ids[0, len(head):].unsqueeze(-1)).squeeze(-1)
            out.append((float(chosen.sum()), len(tail)))
    return out


def train_policy(base: str | None, tasks: list[Task], style: str, score: Scorer, ppo_config, steps: int,
                 out_dir: Path, device: str, on_step=None) -> list[dict]:
    """A fresh PPO policy from the base generator, trained `steps` steps on the tasks' prompts against
    `score(tasks, completions, logprobs)` (each rollout's log-probs under the policy, as a sampled
    candidate carries them); saved (atomically) to `out_dir`. Returns the per-step statistics."""
    import torch

    from rrr_cli.training.ppo import PPOTrainer

    lm, tokenizer = load_causal_lm(base, device)
    prompts = [policy_prompt(task, tokenizer, style) for task in tasks]
    by_prompt = {prompt: task for prompt, task in zip(prompts, tasks)}
    trainer = None

    def reward_fn(batch_prompts: list[str], texts: list[str]) -> list[float]:
        batch_tasks = [by_prompt[p] for p in batch_prompts]
        completions = [to_completion(t, style_for(t, style), text) for t, text in zip(batch_tasks, texts)]
        logprobs = reply_logprobs(trainer.policy, tokenizer, batch_prompts, texts)
        return score(batch_tasks, completions, logprobs)

    torch.manual_seed(ppo_config.seed)
    trainer = PPOTrainer(lm, tokenizer, reward_fn, ppo_config)
    history = trainer.train(prompts, steps, on_step=on_step)
    trainer.save(out_dir)
    return history
