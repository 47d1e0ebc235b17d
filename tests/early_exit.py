"""Candidates that try to pass without their tests running to the end, per language, on one real task.

Each language has its task (HumanEval's first task in Python, `add` elsewhere: MultiPL-E's PHP `strlen`
clashes with PHP's own), a known-good body, a wrong body, and the early-exit forms: an exit inside the
function, an exit at top level after the function (before the tests run), and a hook that rewrites the
exit status of a failing run (atexit, a shutdown hook, an abort handler, a trap). Every form exits 0 on
the old harness unless `NONZERO` names it. A completion continues the task's prompt as a generator's would: in
PHP, JS and TS it closes the function; in C++, Java, C#, bash and Go the tests do, so a form "at top
level" there closes it itself and opens a function for the tests' own closing brace.

Read by `tests/test_verdict_integrity.py` and `benchmarks/verdict_integrity.py`.
"""

from __future__ import annotations

from pathlib import Path

from rrr_cli.records import Task
from rrr_cli.tasks import load_tasks

TASKS = {"python": ("humaneval-python", "HumanEval/0"), "go": ("plugins/rrr-go/examples/go-tasks.jsonl", "go/add")}
DEFAULT_TASK = "{language}/HumanEval_53_add"

GOOD = {
    "python": None,  # the task's canonical solution
    "cpp": "    return x + y;\n",
    "java": "        return x + y;\n",
    "cs": "        return x + y;\n",
    "php": "    return $x + $y;\n}\n",
    "ts": "    return x + y;\n}\n",
    "js": "    return x + y;\n}\n",
    "sh": "    echo $(( $1 + $2 ))\n",
    "go": "\treturn x + y\n",
}
WRONG = {
    "python": "    return False\n",
    "cpp": "    return 0;\n",
    "java": "        return 0l;\n",
    "cs": "        return 0L;\n",
    "php": "    return 0;\n}\n",
    "ts": "    return 0;\n}\n",
    "js": "    return 0;\n}\n",
    "sh": "    echo 0\n",
    "go": "\treturn 0\n",
}

FORMS: dict[str, dict[str, str]] = {
    "python": {
        "exit inside the function": "    import os\n    os._exit(0)\n",
        "SystemExit inside the function": "    raise SystemExit(0)\n",
        "exit at top level": "    return False\n\n\nimport os\nos._exit(0)\n",
        "atexit hook": "    return False\n\n\nimport atexit, os\natexit.register(lambda: os._exit(0))\n",
    },
    "cpp": {
        "exit inside the function": "    exit(0);\n",
        "exit at top level": "    return 0;\n}\nstatic int rrr_early = (exit(0), 0);\nvoid rrr_after() {\n",
        "abort handler": "    static bool hooked = (std::signal(SIGABRT, [](int) { std::_Exit(0); }), true);\n"
                         "    return 0;\n",
    },
    "java": {
        "exit inside the function": "        System.exit(0);\n        return 0l;\n",
        "exit at top level": "        return 0l;\n    }\n    static { System.exit(0); }\n    static void rrrAfter() {\n",
        "shutdown hook": "        Runtime.getRuntime().addShutdownHook(new Thread(() -> Runtime.getRuntime().halt(0)));\n"
                         "        return 0l;\n",
    },
    "cs": {
        "exit inside the function": "        Environment.Exit(0);\n        return 0L;\n",
        "exit at top level": "        return 0L;\n    }\n    static Problem() { Environment.Exit(0); }\n"
                             "    static void RrrAfter() {\n",
        "unhandled-exception hook": "        AppDomain.CurrentDomain.UnhandledException += (s, e) => Environment.Exit(0);\n"
                                    "        throw new Exception(\"wrong\");\n",
    },
    "php": {
        "exit inside the function": "    exit(0);\n}\n",
        "exit at top level": "    return 0;\n}\nexit(0);\n",
        "shutdown function": "    register_shutdown_function(function () { exit(0); });\n    return 0;\n}\n",
    },
    "ts": {
        "exit inside the function": "    require('process').exit(0);\n    return 0;\n}\n",
        "exit at top level": "    return 0;\n}\nrequire('process').exit(0);\n",
        "exit handler": "    require('process').on('exit', () => { require('process').exitCode = 0; });\n    return 0;\n}\n",
    },
    "js": {
        "exit inside the function": "    process.exit(0);\n}\n",
        "exit at top level": "    return 0;\n}\nprocess.exit(0);\n",
        "exit handler": "    process.on('exit', () => { process.exitCode = 0; });\n    return 0;\n}\n",
    },
    "sh": {
        "exit inside the function": "    exit 0\n",
        "exit at top level": "    echo 0\n}\nexit 0\nrrr_after() {\n    :\n",
        "EXIT trap": "    echo 0\n}\ntrap 'exit 0' EXIT\nrrr_after() {\n    :\n",
    },
    "go": {
        "exit inside the function": "\trrros.Exit(0)\n\treturn 0\n",
        "exit at top level": "\treturn 0\n}\n\nfunc init() { rrros.Exit(0) }\n\nfunc rrrAfter() {\n",
    },
}
# Forms that fail on their own: bash runs the function in the tests' `$(...)`, so its `exit 0` ends only
# that subshell and the test sees a wrong answer.
NONZERO = {("sh", "exit inside the function")}


ROOT = Path(__file__).resolve().parent.parent


def task_for(language: str) -> Task:
    source, task_id = TASKS.get(language, (f"humaneval-{language}", DEFAULT_TASK.format(language=language)))
    source = str(ROOT / source) if source.endswith(".jsonl") else source
    found = [task for task in load_tasks([source]) if task.task_id == task_id]
    assert found, f"{task_id} not in {source}"
    return found[0]


def good_completion(language: str, task: Task) -> str:
    return GOOD[language] if GOOD[language] is not None else task.extra["canonical_solution"]
