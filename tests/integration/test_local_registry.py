# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local registry of the image-by-digest tests (tests/support/registry.py), on the real engine.

One ``docker-registry`` on a free loopback port for the module. Images pushed to it get a
``RepoDigest``; a digest reference pulls back from the registry (and only from it: the local
references are removed first). Everything is named ``pptvreg-*``; the registry's tags and the
image built here are removed at the end, the source images never.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.ansible_run import ROOT
from support.procs import docker, free_port
from support.registry import local_registry, state_dir

PREFIX = "pptvreg-"
SAMPLE = "pptv-dcos/sample:bookworm"
BASE = "pptv-dcos/base:bookworm"
LABELLED = f"{PREFIX}labelled:test"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def refs(image):
    out = docker("image", "inspect", "--format", "{{json .RepoTags}}{{json .RepoDigests}}", image)
    assert out.returncode == 0, out.stderr
    tags, digests = out.stdout.strip().split("][", 1)
    return json.loads(tags + "]") + json.loads("[" + digests)


def image_id(image):
    out = docker("image", "inspect", "--format", "{{.Id}}", image)
    return out.stdout.strip() if out.returncode == 0 else None


@pytest.fixture(scope="module")
def labelled():
    """A second, tiny image: the base plus a label (so a different config, hence a different digest)."""
    for image in (SAMPLE, BASE):
        if image_id(image) is None:
            pytest.fail(f"{image} is missing: run make setup (scripts/images.sh builds it)")
    built = subprocess.run(
        ["docker", "build", "-q", "-t", LABELLED, "-"],
        input=f"FROM {BASE}\nLABEL org.pptv.dcos.test={PREFIX}labelled\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    yield LABELLED
    docker("rmi", LABELLED)


@pytest.fixture(scope="module")
def registry(labelled):
    with local_registry(free_port(), PREFIX) as running:
        yield running


def test_docker_treats_loopback_registries_as_insecure():
    """Why no daemon config is needed: plain HTTP to 127.0.0.0/8 is Docker's default."""
    cidrs = json.loads(docker("info", "--format", "{{json .RegistryConfig.InsecureRegistryCIDRs}}").stdout)
    assert "127.0.0.0/8" in cidrs


def test_push_gives_a_digest_that_pulls_back_from_the_registry(registry):
    source_before = image_id(SAMPLE)
    digest = registry.push(SAMPLE, PREFIX + "sample", "one")
    assert DIGEST.fullmatch(digest), digest
    ref = registry.ref(PREFIX + "sample", digest)
    assert ref == f"{registry.address}/{PREFIX}sample@{digest}"
    assert ref in refs(SAMPLE)
    # The registry itself serves the manifest under that digest.
    manifest = subprocess.run(
        [
            "curl",
            "-fsS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            f"http://{registry.address}/v2/{PREFIX}sample/manifests/{digest}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert manifest.stdout == "200", manifest

    # Forget every local reference under the registry: the run below must pull.
    # (Docker drops a repository's digest references with its last tag; rmi what is left of ours.)
    assert docker("rmi", f"{registry.address}/{PREFIX}sample:one").returncode == 0
    for left in [r for r in refs(SAMPLE) if r.startswith(registry.address + "/")]:
        assert docker("rmi", left).returncode == 0
    assert not [r for r in refs(SAMPLE) if r.startswith(registry.address + "/")]
    ran = docker("run", "--rm", "--entrypoint", "/bin/true", ref)
    assert ran.returncode == 0, ran.stderr
    assert "Unable to find image" in ran.stderr and f"Digest: {digest}" in ran.stderr, ran.stderr
    assert ref in refs(SAMPLE)
    assert image_id(SAMPLE) == source_before  # the same image: pushed and pulled back by digest


def test_same_image_twice_same_digest_other_image_other_digest(registry, labelled):
    first = registry.push(SAMPLE, PREFIX + "twice", "a")
    second = registry.push(SAMPLE, PREFIX + "twice", "b")
    assert first == second
    other = registry.push(labelled, PREFIX + "twice", "c")
    assert DIGEST.fullmatch(other) and other != first
    assert registry.ref(PREFIX + "twice", other) in refs(labelled)


def test_exit_stops_the_registry_and_removes_only_its_references(registry, labelled):
    """A second registry of the same prefix, inside the first: it leaves the first one alone."""
    kept = registry.push(labelled, PREFIX + "kept", "t")
    port = free_port()
    with local_registry(port, PREFIX) as running:
        pid = running.proc.pid
        root = running.root
        state = running.state_file
        assert json.loads(state.read_text())["pid"] == pid
        assert state.parent == state_dir()
        digest = running.push(labelled, PREFIX + "exit", "t")
        address = running.address
    assert running.proc.poll() is not None
    assert not root.exists() and not state.exists()
    assert image_id(labelled) is not None  # the source image stays, with its own tag
    assert [r for r in refs(labelled) if r.startswith(address + "/")] == []
    assert image_id(f"{address}/{PREFIX}exit@{digest}") is None
    assert registry.proc.poll() is None and registry.state_file.exists()
    assert registry.ref(PREFIX + "kept", kept) in refs(labelled)


def test_leftover_registry_of_a_killed_run_is_ended_by_its_pid(labelled):
    """A run killed before cleanup leaves its registry running; the next start ends it (ours only)."""
    port = free_port()
    worker = subprocess.Popen(  # a run that starts a registry, pushes, then is killed
        [
            sys.executable,
            "-c",
            "import os, signal, sys; sys.path.insert(0, 'tests');"
            "from support.registry import local_registry;"
            f"cm = local_registry({port}, {PREFIX + 'killed-'!r}); r = cm.__enter__();"
            f"r.push({labelled!r}, 'pptvreg-killed', 't');"
            "print(r.proc.pid, r.root, flush=True); os.kill(os.getpid(), signal.SIGKILL)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _err = worker.communicate(timeout=300)
    pid_text, root = out.split()
    leftover = int(pid_text)
    try:
        assert (state_dir() / f"{PREFIX}killed-registry-{worker.pid}-{port}.json").exists()
        assert docker("image", "inspect", f"127.0.0.1:{port}/pptvreg-killed:t").returncode == 0
        with local_registry(free_port(), PREFIX + "killed-"):
            assert not _alive(leftover)
            assert not (state_dir() / f"{PREFIX}killed-registry-{worker.pid}-{port}.json").exists()
            assert docker("image", "inspect", f"127.0.0.1:{port}/pptvreg-killed:t").returncode != 0
            assert image_id(labelled) is not None
            assert not Path(root).exists()
    finally:
        if _alive(leftover):
            os.kill(leftover, signal.SIGTERM)


def _alive(pid):
    """Whether ``pid`` is (still) a docker-registry: a zombie or a reused pid is not."""
    try:
        return b"docker-registry" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
