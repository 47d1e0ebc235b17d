"""Sampling candidates: tasks in, candidate records out, whatever the backend and prompt style."""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Iterable, Iterator

from rrr_cli.generation.base import Backend, SamplingParams
from rrr_cli.generation.prompts import (check_style, chat_messages, reply_prefix, stop_sequences, style_for,
                                        to_completion)
from rrr_cli.records import Candidate, Task

# Measured default (see docs/prompt-styles.md): chat for Python, completion for the other languages.
DEFAULT_STYLE = "auto"


def render_prompt(task: Task, backend: Backend, style: str) -> str:
    """The text the backend continues for this task in this style."""
    if style_for(task, style) == "chat":
        return backend.render_chat(chat_messages(task)) + reply_prefix(task)
    return task.prompt


def sample_candidates(
    tasks: Iterable[Task],
    backend: Backend,
    params: SamplingParams,
    prompt_style: str = DEFAULT_STYLE,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Candidate]:
    """`params.n` candidates per task, task by task (so output streams and progress moves).

    Candidate j of a task is sampled with seed `params.seed + j` and carries that seed, its token
    count and the sum and mean of its tokens' log-probabilities. A backend that batches across prompts
    (`Backend.prompt_window`, default 1) gets up to that many consecutive tasks with the same
    stop strings per call, so its batch stays full between tasks; it hands each task back as its
    last candidate ends (`Backend.generate_stream`), and candidates still come out task by task, in
    order, as soon as a task and every task before it are done; progress moves once per task. Each
    candidate's `extra` carries `task_sampling_s`, its task's share of the call's wall time: the time
    since the call's previous hand-over, shared by tokens among the tasks that come out with it (a
    batched call samples its tasks together: no task has a time of its own).
    """
    check_style(prompt_style)
    size = max(1, int(backend.prompt_window))
    for window, task_params in _windows(tasks, params, prompt_style, size):
        prompts = [render_prompt(task, backend, prompt_style) for task in window]
        finished: dict[int, list] = {}
        next_out = 0
        mark = time.monotonic()
        for index, generations in backend.generate_stream(prompts, task_params):
            finished[index] = generations
            ready = []
            while next_out in finished:
                ready.append((window[next_out], finished.pop(next_out)))
                next_out += 1
            if not ready:
                continue
            now = time.monotonic()
            elapsed, mark = now - mark, now
            tokens = [max(sum(g.n_tokens for g in generations), 1) for _, generations in ready]
            for (task, generations), used in zip(ready, tokens):
                share = round(elapsed * used / sum(tokens), 3)
                for sample_id, generation in enumerate(generations):
                    candidate = _candidate(task, backend, params, style_for(task, prompt_style), sample_id, generation)
                    candidate.extra["task_sampling_s"] = share
                    yield candidate
                if progress:
                    progress(1)
            mark = time.monotonic()  # the caller's time with the candidates is not sampling time


def _windows(tasks: Iterable[Task], params: SamplingParams, prompt_style: str, size: int):
    """Consecutive runs of up to `size` tasks whose sampling parameters (stop strings) agree."""
    window: list[Task] = []
    window_params = None
    for task in tasks:
        stop = stop_sequences(task, style_for(task, prompt_style))
        task_params = dataclasses.replace(params, stop=tuple(params.stop) + stop)
        if window and (task_params != window_params or len(window) >= size):
            yield window, window_params
            window = []
        window.append(task)
        window_params = task_params
    if window:
        yield window, window_params


def _candidate(task: Task, backend: Backend, params: SamplingParams, prompt_style: str, sample_id: int,
               generation) -> Candidate:
    candidate = Candidate(
        task_id=task.task_id,
        language=task.language,
        prompt=task.prompt,
        completion=to_completion(task, prompt_style, generation.text),
        sample_id=sample_id,
        model=backend.model_name,
        backend=backend.name,
        prompt_style=prompt_style,
        temperature=params.temperature,
        seed=None if params.seed is None else params.seed + sample_id,
        n_tokens=generation.n_tokens,
        logprob_sum=generation.logprob_sum,
        mean_logprob=generation.mean_logprob,
    )
    candidate.extra = {"finish_reason": generation.finish_reason, "top_p": params.top_p}
    if prompt_style == "chat":
        candidate.extra["response"] = generation.text
    return candidate
