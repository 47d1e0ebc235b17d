"""Time one reward-model training step and one PPO step with the default 0.5B model, on CUDA or CPU.

    python benchmarks/gpu_steps.py --gguf PATH.gguf            [--device cuda|cpu]
    python benchmarks/gpu_steps.py --hf-dir DIR                [--device cuda|cpu]

`--hf-dir` takes a folder from `benchmarks/gguf_to_hf.py` (no `gguf` package needed). A folder made
with `--skeleton` (config + tokenizer, 11 MB) has no weights: the same architecture is built with
random weights ("weights": "random" in the output), which times a step just as well.

What is timed, each as the mean of the steps after a warm-up one:
- reward model (rrr_cli.reranker, as `train_reward_model` runs it): caching the frozen
  trunk's states for 2 x rm-batch texts of rm-length tokens (tokens/s), then one Bradley-Terry step
  through the trainable top layers, final norm and head, with AdamW;
- PPO (rrr_cli.training.ppo.PPOTrainer.step): rollouts of ppo-batch MBPP chat prompts for
  ppo-new-tokens tokens, reward = the reward model's score, then ppo-epochs of minibatch updates;
  reported with its rollout / reward / update split.

A hard time limit (default 6 minutes) stops the work and prints what was measured so far. Output:
one JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

RESULT: dict = {"timed_out": False, "errors": []}
_printed = threading.Lock()


def emit_and_exit(code: int = 0) -> None:
    if _printed.acquire(blocking=False):
        print(json.dumps(RESULT), flush=True)
    os._exit(code)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def install_time_limit(seconds: float) -> None:
    """SIGALRM interrupts Python code at the limit; a watchdog thread ends the process shortly after
    in case the main thread is stuck inside one long native call."""
    def on_alarm(signum, frame):
        raise TimeoutError

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(seconds))

    def watchdog():
        time.sleep(seconds + 20)
        RESULT["timed_out"] = True
        RESULT["errors"].append("watchdog: stuck past the time limit")
        emit_and_exit(0)

    threading.Thread(target=watchdog, daemon=True).start()


def shim_platformdirs() -> None:
    # rrr_cli.config imports platformdirs, which GPU images often lack; the benchmark writes nothing there.
    try:
        import platformdirs  # noqa: F401
    except ImportError:
        root = tempfile.mkdtemp(prefix="rrr-bench-")
        sys.modules["platformdirs"] = types.SimpleNamespace(
            user_cache_dir=lambda app: os.path.join(root, "cache"), user_config_dir=lambda app: os.path.join(root, "config"))


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def materialise(args) -> tuple[str, str]:
    """(model spec for rrr's loaders, "real" | "random"): a GGUF path, a HF folder, or a HF folder with
    random weights written from a skeleton's config."""
    if args.gguf:
        return str(args.gguf), "real"
    folder = Path(args.hf_dir)
    if any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")):
        return str(folder), "real"
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    log(f"{folder} has no weights: building the architecture with random weights")
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(folder)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    out = Path(tempfile.mkdtemp(prefix="rrr-random-model-"))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(folder).save_pretrained(out)
    del model
    return str(out), "random"


def prompts_for(tokenizer, count: int) -> list[str]:
    from rrr_cli.generation.prompts import chat_messages
    from rrr_cli.tasks import load_tasks

    tasks = load_tasks(["mbpp"], limit=count, split="train")
    return [tokenizer.apply_chat_template(chat_messages(t), tokenize=False, add_generation_prompt=True) for t in tasks]


def code_text(tokens: int, tokenizer, seed: int) -> str:
    """A Python-looking completion of about `tokens` tokens (distinct per seed)."""
    line = f"    value_{seed} = [x * {seed} for x in range(10) if x % 3 != {seed % 3}]\n"
    text = "def solve():\n"
    while len(tokenizer(text, add_special_tokens=False)["input_ids"]) < tokens:
        text += line
    return text


def time_reward_model(spec: str, device: str, args) -> object:
    import torch

    from rrr_cli.reranker import RewardModel, RewardModelSettings
    from rrr_cli.training.train_reward import bradley_terry_loss

    started = time.perf_counter()
    model = RewardModel.from_base(spec, RewardModelSettings(max_length=args.rm_length), seed=0, device=device)
    sync(device)
    RESULT["rm_load_s"] = round(time.perf_counter() - started, 2)
    log(f"reward model loaded in {RESULT['rm_load_s']} s (bf16 autocast: {model.use_bf16})")
    texts = [("", code_text(args.rm_length, model.tokenizer, k)) for k in range(2 * args.rm_batch)]
    encoded = [model.encode(p, c) for p, c in texts]
    tokens = sum(len(e) for e in encoded)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)
    cache_s, step_s = [], []
    for step in range(args.rm_steps + 1):
        t0 = time.perf_counter()
        states = []
        for start in range(0, len(encoded), args.rm_batch):
            states += model.trunk_states(encoded[start:start + args.rm_batch])
        sync(device)
        t1 = time.perf_counter()
        model.trunk.train()
        scores = model.score_from_states(states)
        loss = bradley_terry_loss(scores[0::2], scores[1::2])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync(device)
        t2 = time.perf_counter()
        if step:  # the first step warms up kernels and allocators
            cache_s.append(t1 - t0)
            step_s.append(t2 - t1)
        log(f"reward model step {step}: cache {t1 - t0:.2f} s, train step {t2 - t1:.2f} s")
        RESULT["rm"] = {
            "pairs_per_step": args.rm_batch, "tokens_per_text": args.rm_length, "steps_timed": len(step_s),
            "cache_s": _mean(cache_s), "cache_tokens_per_s": round(tokens / _mean(cache_s)) if cache_s else None,
            "train_step_s": _mean(step_s),
            "trainable_layers": model.settings.trainable_layers,
        }
    model.trunk.eval()
    return model


def time_ppo(spec: str, device: str, reward_model, args) -> None:
    import torch

    from rrr_cli.selftrain.policy import load_causal_lm
    from rrr_cli.training.ppo import PPOConfig, PPOTrainer

    started = time.perf_counter()
    lm, tokenizer = load_causal_lm(spec, device)
    sync(device)
    RESULT["policy_load_s"] = round(time.perf_counter() - started, 2)
    prompts = prompts_for(tokenizer, args.ppo_batch)
    RESULT["ppo_prompt_tokens_mean"] = round(sum(len(tokenizer(p)["input_ids"]) for p in prompts) / len(prompts))

    def reward_fn(batch_prompts, completions):
        return reward_model.score_texts(list(zip(batch_prompts, completions)))

    config = PPOConfig(batch_size=args.ppo_batch, mini_batch_size=args.ppo_mini_batch, ppo_epochs=args.ppo_epochs,
                       max_new_tokens=args.ppo_new_tokens, temperature=0.8, learning_rate=5e-5, seed=0)
    trainer = PPOTrainer(lm, tokenizer, reward_fn, config)
    steps = []
    for step in range(args.ppo_steps + 1):
        t0 = time.perf_counter()
        stats = trainer.step(prompts)
        sync(device)
        elapsed = time.perf_counter() - t0
        log(f"PPO step {step}: {elapsed:.2f} s (rollout {stats['seconds_rollout']:.2f}, reward "
            f"{stats['seconds_reward']:.2f}, update {stats['seconds_update']:.2f}), response length "
            f"{stats['response_length']:.0f}")
        if step:
            steps.append((elapsed, stats))
        if steps:
            n = len(steps)
            RESULT["ppo"] = {
                "batch": args.ppo_batch, "mini_batch": args.ppo_mini_batch, "epochs": args.ppo_epochs,
                "max_new_tokens": args.ppo_new_tokens, "steps_timed": n,
                "step_s": _mean([e for e, _ in steps]),
                "rollout_s": _mean([s["seconds_rollout"] for _, s in steps]),
                "reward_s": _mean([s["seconds_reward"] for _, s in steps]),
                "update_s": _mean([s["seconds_update"] for _, s in steps]),
                "response_tokens_mean": _mean([s["response_length"] for _, s in steps]),
                "rollout_tokens_per_s": round(sum(s["response_length"] * args.ppo_batch for _, s in steps)
                                              / sum(s["seconds_rollout"] for _, s in steps), 1),
                "kl_last": round(steps[-1][1]["kl"], 4),
            }
    del trainer
    if device == "cuda":
        RESULT["cuda_peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)


def _mean(values) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--gguf", type=Path, help="the catalog GGUF (needs the gguf package)")
    source.add_argument("--hf-dir", type=Path, help="a HF folder from benchmarks/gguf_to_hf.py")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--time-limit", type=float, default=360.0, help="seconds (default 6 minutes)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--rm-batch", type=int, default=8, help="pairs per reward-model step")
    parser.add_argument("--rm-length", type=int, default=512, help="tokens per reward-model text")
    parser.add_argument("--rm-steps", type=int, default=3)
    parser.add_argument("--ppo-batch", type=int, default=8)
    parser.add_argument("--ppo-mini-batch", type=int, default=4)
    parser.add_argument("--ppo-epochs", type=int, default=2)
    parser.add_argument("--ppo-new-tokens", type=int, default=128)
    parser.add_argument("--ppo-steps", type=int, default=2)
    parser.add_argument("--skip-ppo", action="store_true")
    args = parser.parse_args()

    install_time_limit(args.time_limit)
    started = time.perf_counter()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    shim_platformdirs()
    try:
        import torch
        import transformers

        if args.threads:
            torch.set_num_threads(args.threads)
        if args.device == "cuda" and not torch.cuda.is_available():
            raise SystemExit("gpu_steps: --device cuda but torch sees no CUDA GPU")
        RESULT.update({
            "device": args.device, "torch": torch.__version__, "transformers": transformers.__version__,
            "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
            "cpu_threads": torch.get_num_threads(),
        })
        spec, weights = materialise(args)
        RESULT["weights"] = weights
        reward_model = time_reward_model(spec, args.device, args)
        if not args.skip_ppo:
            time_ppo(spec, args.device, reward_model, args)
    except TimeoutError:
        RESULT["timed_out"] = True
        log("time limit reached: reporting what was measured")
    except Exception as exc:  # report it in the JSON line rather than lose the figures so far
        RESULT["errors"].append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        log(f"error: {exc!r}")
    signal.alarm(0)
    RESULT["total_s"] = round(time.perf_counter() - started, 1)
    emit_and_exit(0)


if __name__ == "__main__":
    main()
