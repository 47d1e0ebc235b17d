"""Prompt styles: a chat reply becomes the continuation of the task's prompt."""

import subprocess
import sys

from rrr_cli.generation.prompts import chat_messages, extract_code_block, to_completion
from rrr_cli.tasks import load_tasks


def run(program):
    return subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=30).returncode


def humaneval(n):
    return load_tasks(["humaneval-python"])[n]


def test_chat_request_carries_the_prompt():
    task = humaneval(0)
    messages = chat_messages(task)
    assert messages[-1]["role"] == "user" and task.prompt.strip() in messages[-1]["content"]


def test_full_function_reply_becomes_a_passing_continuation():
    task = humaneval(0)
    reply = ("Sure!\n\n```python\nfrom typing import List\nimport itertools\n\n"
             "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
             '    """Docstring restated."""\n'
             "    return any(gap(a, b) < threshold for a, b in itertools.combinations(numbers, 2))\n\n"
             "def gap(a, b):\n    return abs(a - b)\n\n"
             "print(has_close_elements([1.0, 2.0], 0.5))\n```\nThis works because...")
    completion = to_completion(task, "chat", reply)
    assert "print(" not in completion and "def gap" in completion
    assert run(task.prompt + completion + task.tests) == 0


def test_wrong_reply_fails_and_broken_reply_stays_broken():
    task = humaneval(0)
    wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
    assert run(task.prompt + to_completion(task, "chat", wrong) + task.tests) != 0
    broken = "```python\ndef has_close_elements(numbers, threshold):\n    return (\n```"
    assert run(task.prompt + to_completion(task, "chat", broken) + task.tests) != 0


def test_two_space_indentation_is_normalised():
    task = humaneval(0)
    reply = ("```python\ndef has_close_elements(numbers, threshold):\n"
             "  for i, a in enumerate(numbers):\n    for b in numbers[i + 1:]:\n"
             "      if abs(a - b) < threshold:\n        return True\n  return False\n```")
    assert run(task.prompt + to_completion(task, "chat", reply) + task.tests) == 0


def test_code_block_choice_and_unfenced_reply():
    assert extract_code_block("```text\nno\n```\n```python\nyes\n```", "python") == "yes"
    assert extract_code_block("x = 1", "python") == "x = 1"
    assert extract_code_block("```python\nunclosed = 1", "python") == "unclosed = 1"


def test_braced_reply_keeps_only_the_body():
    task = load_tasks(["humaneval-cpp"])[0]
    signature = task.prompt.rstrip().splitlines()[-1]
    reply = f"```cpp\n#include <string>\n{signature}\n    return string.size(); // }} in a comment\n}}\n```"
    completion = to_completion(task, "chat", reply)
    assert completion.strip().startswith("return string.size();")
    assert completion.count("}") == 1  # only the one inside the comment
