"""Hostile candidates end with a verdict in bounded time, change nothing outside their work dir,
leave no process behind, and the next ordinary candidate still passes."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from rrr_cli.execution import Limits, run_program, run_programs, toolchain_missing
from rrr_cli.execution.sandbox import bwrap_problem

pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no sandbox: {bwrap_problem()}")

LIMITS = Limits(timeout_s=3.0, memory_mb=512, output_bytes=1_000_000, compile_timeout_s=30.0)
BOUND_S = 15.0  # a verdict must arrive within this, compilation included
MARK = "31337"  # the argument of the `sleep` a surviving child would be running

ORDINARY = {
    "python": "assert sum([1, 2]) == 3\n",
    "cpp": "#include <cassert>\nint main() { assert(1 + 2 == 3); return 0; }\n",
    "sh": "[[ $(( 1 + 2 )) -eq 3 ]]\n",
    "js": "const assert = require('node:assert');\nassert.deepEqual(1 + 2, 3);\n",
}

CPP_HEAD = ("#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n#include <csignal>\n#include <unistd.h>\n"
            "#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n")

# behaviour -> language -> program. {home}, {tmp}, {port} are filled in per test.
HOSTILE = {
    "fork_bomb": {
        "python": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "cpp": CPP_HEAD + "int main() { while (true) fork(); }\n",
        "sh": ":(){ :|:& };:\nwait\n",
        "js": "const {spawn} = require('child_process');\n"
              "for (;;) { try { spawn(process.execPath, [__filename]); } catch (e) {} }\n",
    },
    "memory_bomb": {
        "python": "blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))\n",
        "cpp": CPP_HEAD + "int main() { for (;;) { char *p = (char *)malloc(64 << 20); if (!p) return 3;"
               " memset(p, 1, 64 << 20); } }\n",
        "sh": "a=aaaaaaaaaaaaaaaa\nwhile true; do a=$a$a; done\n",
        "js": "const blocks = [];\nfor (;;) blocks.push(new Array(1 << 20).fill(1.5));\n",
    },
    "infinite_loop": {
        "python": "while True:\n    pass\n",
        "cpp": "int main() { volatile long i = 0; for (;;) i++; }\n",
        "sh": "while :; do :; done\n",
        "js": "for (;;) {}\n",
    },
    "outliving_child": {
        "python": "import os, signal\nif os.fork() == 0:\n    os.setsid()\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                  f"    os.execv('/bin/sleep', ['sleep', '{MARK}'])\nprint('parent done')\n",
        "cpp": CPP_HEAD + "int main() { if (fork() == 0) { setsid(); signal(SIGTERM, SIG_IGN);"
               f" execl(\"/bin/sleep\", \"sleep\", \"{MARK}\", (char *)0); }} return 0; }}\n",
        "sh": f"( trap '' TERM; setsid sleep {MARK} ) &\ndisown\necho parent done\n",
        "js": "const {spawn} = require('child_process');\n"
              f"spawn('/bin/bash', ['-c', \"trap '' TERM; exec sleep {MARK}\"], {{detached: true, stdio: 'ignore'}}).unref();\n",
    },
    "write_outside": {
        "python": "for path in ['{home}', '{tmp}']:\n    try:\n        open(path, 'w').write('pwned')\n    except OSError:\n        pass\n",
        "cpp": CPP_HEAD + "int main() { const char *paths[] = {\"{home}\", \"{tmp}\"};"
               " for (auto p : paths) { FILE *f = fopen(p, \"w\"); if (f) { fputs(\"pwned\", f); fclose(f); } } }\n",
        "sh": "echo pwned > '{home}'\necho pwned > '{tmp}'\necho pwned > \"$HOME/x\"\ntrue\n",
        "js": "const fs = require('fs');\nfor (const p of ['{home}', '{tmp}']) { try { fs.writeFileSync(p, 'pwned'); } catch (e) {} }\n",
    },
    "connect_localhost": {
        "python": "import socket\ns = socket.socket()\ns.settimeout(2)\ntry:\n    s.connect(('127.0.0.1', {port}))\n"
                  "    s.sendall(b'pwned')\n    print('connected')\nexcept OSError as e:\n    print('refused', e)\n",
        "cpp": CPP_HEAD + "int main() { int s = socket(AF_INET, SOCK_STREAM, 0); sockaddr_in a{}; a.sin_family = AF_INET;"
               " a.sin_port = htons({port}); inet_pton(AF_INET, \"127.0.0.1\", &a.sin_addr);"
               " if (connect(s, (sockaddr *)&a, sizeof a) == 0) { write(s, \"pwned\", 5); puts(\"connected\"); } return 0; }\n",
        "sh": "exec 3<>/dev/tcp/127.0.0.1/{port} && echo pwned >&3 && echo connected\ntrue\n",
        "js": "const net = require('net');\nconst s = net.connect({port}, '127.0.0.1', () => { s.write('pwned'); console.log('connected'); s.end(); });\n"
              "s.on('error', e => console.log('refused', e.code));\n",
    },
    "huge_output": {
        "python": "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(100 * 1024):\n    sys.stdout.write(line)\n",
        "cpp": CPP_HEAD + "int main() { static char b[1 << 20]; memset(b, 'x', sizeof b);"
               " for (int i = 0; i < 100; i++) fwrite(b, 1, sizeof b, stdout); }\n",
        "sh": "head -c 100000000 /dev/zero | tr '\\0' x\n",
        "js": "const b = 'x'.repeat(1 << 20);\nfor (let i = 0; i < 100; i++) process.stdout.write(b);\n",
    },
}

# Statuses each behaviour may end with (the sandbox decides how it ends, never the program).
EXPECTED = {
    "fork_bomb": {"timeout", "runtime_error", "failed", "passed"},
    "memory_bomb": {"runtime_error", "failed", "timeout"},
    "infinite_loop": {"timeout"},
    "outliving_child": {"passed"},
    "write_outside": {"passed", "failed", "runtime_error"},
    "connect_localhost": {"passed", "runtime_error"},
    "huge_output": {"runtime_error"},
}


def _survivors() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"sleep" in cmdline[0] and MARK.encode() in cmdline:
                found.append(entry.name)
    return found


class Listener:
    """A TCP listener on 127.0.0.1 that records whether anyone connected."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.socket.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self._stop = True
        self._thread.join()
        self.socket.close()


@pytest.mark.parametrize("behaviour", sorted(HOSTILE))
@pytest.mark.parametrize("language", ["python", "cpp", "sh", "js"])
def test_hostile_candidate(language, behaviour, tmp_path):
    if toolchain_missing(language):
        pytest.skip(toolchain_missing(language))
    token = uuid.uuid4().hex
    home_target = Path(os.path.expanduser("~")) / f"rrr-hostile-{token}"
    tmp_target = Path("/tmp") / f"rrr-hostile-{token}"
    listener = Listener()
    try:
        program = HOSTILE[behaviour][language]
        for name, value in {"home": home_target, "tmp": tmp_target, "port": listener.port}.items():
            program = program.replace("{" + name + "}", str(value))
        started = time.monotonic()
        result = run_program(language, program, LIMITS)
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert elapsed < BOUND_S, f"{behaviour}: took {elapsed:.1f} s"
    assert result.status in EXPECTED[behaviour], (result.status, result.stderr[-600:])
    assert "connected" not in result.stdout and listener.connections == 0
    assert not home_target.exists() and not tmp_target.exists()
    assert len(result.stdout) <= LIMITS.output_bytes
    time.sleep(0.2)  # the kernel tears the PID namespace down asynchronously
    assert _survivors() == []
    follow_up = run_program(language, ORDINARY[language], LIMITS)
    assert follow_up.status == "passed", follow_up.stderr[-600:]


def test_candidates_cannot_read_each_others_work_dirs():
    secret = uuid.uuid4().hex
    writer = ("import time\nopen('secret.txt', 'w').write('" + secret + "')\ntime.sleep(2)\n")
    reader = ("import glob, time\ntime.sleep(0.5)\nfound = []\n"
              "for pattern in ['/tmp/*/secret.txt', '/tmp/rrr-run-*/*', '/proc/*/cwd/secret.txt',"
              " '/proc/*/root/tmp/work/secret.txt']:\n"
              "    for path in glob.glob(pattern):\n"
              "        try:\n            found.append(open(path).read())\n        except OSError:\n            pass\n"
              "print(found)\nassert '" + secret + "' not in ''.join(found)\n")
    results = run_programs([("python", writer), ("python", reader)], LIMITS, workers=2, cache=False)
    assert [r.status for r in results] == ["passed", "passed"], results[1].stderr
