"""Prompt styles: a chat reply (started with the fence and the prompt) becomes the continuation."""

import subprocess
import sys

from rrr_cli.generation.prompts import chat_messages, reply_prefix, to_completion
from rrr_cli.tasks import load_tasks


def run(program):
    return subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=30).returncode


def humaneval(n, language="python"):
    return load_tasks([f"humaneval-{language}"])[n]


def test_chat_request_carries_the_prompt_and_the_reply_starts_with_it():
    task = humaneval(0)
    assert task.prompt.strip() in chat_messages(task)[-1]["content"]
    assert reply_prefix(task) == "```python\n" + task.prompt


def test_body_and_helpers_become_a_passing_continuation():
    task = humaneval(0)
    reply = ("    return any(gap(a, b) < threshold for a, b in itertools.combinations(numbers, 2))\n\n"
             "import itertools\n\ndef gap(a, b):\n    return abs(a - b)\n\n"
             "print(has_close_elements([1.0, 2.0], 0.5))\n")
    completion = to_completion(task, "chat", reply)
    assert "print(" not in completion and "def gap" in completion
    assert run(task.prompt + completion + task.tests) == 0


def test_wrong_reply_fails_and_broken_reply_stays_broken():
    task = humaneval(0)
    assert run(task.prompt + to_completion(task, "chat", "    return False\n") + task.tests) != 0
    broken = to_completion(task, "chat", "    return (\n")
    assert broken == "    return (\n" and run(task.prompt + broken + task.tests) != 0


def test_prompt_helpers_are_not_repeated():
    task = next(t for t in load_tasks(["humaneval-python"]) if t.prompt.count("def ") > 1)
    completion = to_completion(task, "chat", "    return None\n")
    assert "def " not in completion


def test_a_closing_fence_ends_the_code():
    task = humaneval(0)
    completion = to_completion(task, "chat", "    return True\n```\nExplanation: x = (\n")
    assert completion.strip() == "return True"


def test_braced_reply_keeps_only_the_body():
    task = humaneval(0, "cpp")
    reply = "    return string.size(); // } in a comment\n}\nint helper() { return 1; }\n"
    completion = to_completion(task, "chat", reply)
    assert completion.strip().startswith("return string.size();")
    assert "helper" not in completion and completion.count("}") == 1  # only the one in the comment


def test_completion_style_is_the_raw_text():
    task = humaneval(0)
    assert to_completion(task, "completion", "    return 1\n") == "    return 1\n"


def test_braced_reply_keeps_the_close_where_the_tests_do_not_close():
    task = humaneval(0, "js")
    completion = to_completion(task, "chat", "  return string.length;\n}\nconsole.log(strlen('x'));\n")
    assert completion == "  return string.length;\n}\n"


def test_auto_style_is_chat_for_python_and_completion_elsewhere():
    from rrr_cli.generation.prompts import check_style, style_for
    from rrr_cli.generation.sampling import render_prompt

    assert check_style("auto") == "auto"
    assert style_for(humaneval(0), "auto") == "chat"
    cpp = humaneval(0, "cpp")
    assert style_for(cpp, "auto") == "completion" and style_for(cpp, "chat") == "chat"

    class Chat:
        def render_chat(self, messages):
            return "<chat>"

    assert render_prompt(cpp, Chat(), "auto") == cpp.prompt
    assert render_prompt(humaneval(0), Chat(), "auto").startswith("<chat>```python\n")
