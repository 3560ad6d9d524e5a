# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throwaway image registry on loopback, so that tests can deploy images by digest.

A local image has a ``RepoDigest`` only once it has been pushed to a registry, and promotion
deploys ``repo@sha256:...``. :func:`local_registry` runs Debian's ``docker-registry``
(distribution 2.8) on ``127.0.0.1:<port>`` with its storage in a temporary directory::

    with local_registry(free_port(), "pptvreg-") as registry:
        digest = registry.push("pptv-dcos/sample:bookworm", "pptvreg-sample", "t1")
        docker("run", "--rm", registry.ref("pptvreg-sample", digest))

Docker treats registries in 127.0.0.0/8 as insecure (plain HTTP) by default
(``docker info``: ``InsecureRegistryCIDRs``), so the daemon needs no configuration.

The registry's pid, its owner (this process), address and storage go to a state file
``$PPTV_STATE_DIR/e2e/<name_prefix>registry-<owner pid>-<port>.json`` (default state dir
``/var/lib/pptv-dcos``). Before starting, the registries of earlier runs with the same prefix whose
owner is gone (a run killed before its cleanup) are ended by that pid, after checking that the pid
is still a ``docker-registry`` serving that run's config, and their storage and image references
are removed. On exit: the registry is terminated by pid, its storage removed, and every image
reference under its address (``<address>/...`` tags and ``<address>/...@sha256`` digests) is
removed. An image that was pushed from a source reference is only ever untagged, never deleted:
a reference under the address is left in place when it is the image's last one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from support.procs import docker, pid_alive, stop_process

REGISTRY = "/usr/bin/docker-registry"
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def state_dir():
    return Path(os.environ.get("PPTV_STATE_DIR", "/var/lib/pptv-dcos")) / "e2e"


def _cmdline(pid):
    try:
        return [p.decode(errors="replace") for p in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if p]
    except OSError:
        return []


def _is_our_registry(pid, config):
    """Whether ``pid`` is still ``docker-registry serve <config>`` (and not a reused pid)."""
    cmd = _cmdline(pid)
    return len(cmd) >= 3 and os.path.basename(cmd[0]) == "docker-registry" and cmd[1] == "serve" and cmd[2] == config


def _running(pid):
    """Alive and not a zombie (a leftover whose parent was killed may wait to be reaped)."""
    try:
        return pid_alive(pid) and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _end(pid, wait=15):
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _images():
    """``[(image id, [references])]`` of every local image: its RepoTags and RepoDigests."""
    ids = docker("image", "ls", "-q", "--no-trunc").stdout.split()
    if not ids:
        return []
    proc = docker("image", "inspect", *sorted(set(ids)))
    if proc.returncode != 0:  # one went away meanwhile: take them one by one
        found = []
        for image_id in sorted(set(ids)):
            one = docker("image", "inspect", image_id)
            if one.returncode == 0:
                found += json.loads(one.stdout)
    else:
        found = json.loads(proc.stdout)
    return [(i["Id"], (i.get("RepoTags") or []) + (i.get("RepoDigests") or [])) for i in found]


def remove_references(address, sources=()):
    """Remove every image reference under ``address/``; never delete an image in ``sources``.

    An image that keeps a reference elsewhere is only untagged. One whose only references are
    under ``address`` was pulled from the registry and is removed, unless it is a source that was
    pushed (then its last reference stays: removing it would delete the image).
    """
    left = []
    for image_id, refs in _images():
        ours = [r for r in refs if r.startswith(address + "/")]
        if not ours:
            continue
        others = [r for r in refs if not r.startswith(address + "/")]
        if not others and image_id in sources:
            left.append(ours[-1])
            ours = ours[:-1]
        for ref in ours:
            docker("rmi", ref)
    return left


def _stop_stale(prefix):
    """End the registries of killed earlier runs of ``prefix`` (their owner is gone), by their pid."""
    directory = state_dir()
    for path in directory.glob(f"{prefix}registry-*.json"):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        owner = state.get("owner")
        if isinstance(owner, int) and pid_alive(owner):
            continue  # a live run (this one, another checkout, another suite): not ours to end
        pid = state.get("pid")
        if isinstance(pid, int) and _is_our_registry(pid, state.get("config")):
            _end(pid)
        if state.get("address"):
            remove_references(state["address"], set(state.get("sources", [])))
        if state.get("root") and Path(state["root"]).name.startswith(prefix):
            shutil.rmtree(state["root"], ignore_errors=True)
        path.unlink(missing_ok=True)


class LocalRegistry:
    """A running registry: :attr:`address` (``127.0.0.1:<port>``), :meth:`push` and :meth:`ref`."""

    def __init__(self, port, prefix, proc, root, state_file):
        self.port = port
        self.prefix = prefix
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}/v2/"
        self.proc = proc
        self.root = root
        self.state_file = state_file
        self.sources = []

    def _save(self):
        state = {
            "pid": self.proc.pid,
            "owner": os.getpid(),
            "address": self.address,
            "config": str(self.root / "config.yml"),
            "root": str(self.root),
            "sources": self.sources,
        }
        self.state_file.write_text(json.dumps(state) + "\n")

    def ref(self, repository, digest):
        """``<address>/<repository>@<digest>``."""
        if not DIGEST_RE.fullmatch(digest):
            raise ValueError(f"digest {digest!r} is not sha256:<64 hex>")
        return f"{self.address}/{repository}@{digest}"

    def push(self, local_image, repository, tag):
        """Tag ``local_image`` as ``<address>/<repository>:<tag>``, push it; returns its ``sha256:`` digest."""
        inspected = docker("image", "inspect", "--format", "{{.Id}}", local_image)
        if inspected.returncode != 0:
            raise RuntimeError(f"no local image {local_image}: {inspected.stderr.strip()}")
        image_id = inspected.stdout.strip()
        if image_id not in self.sources:
            self.sources.append(image_id)
            self._save()
        target = f"{self.address}/{repository}:{tag}"
        tagged = docker("tag", local_image, target)
        if tagged.returncode != 0:
            raise RuntimeError(f"docker tag {local_image} {target} failed: {tagged.stderr.strip()}")
        pushed = docker("push", target)
        if pushed.returncode != 0:
            raise RuntimeError(f"docker push {target} failed:\n{pushed.stdout}{pushed.stderr}")
        said = re.search(rf"{re.escape(tag)}: digest: ({DIGEST_RE.pattern})", pushed.stdout)
        repo_digests = docker("image", "inspect", "--format", "{{json .RepoDigests}}", target)
        name = f"{self.address}/{repository}@"
        digests = [r[len(name) :] for r in json.loads(repo_digests.stdout or "[]") if r.startswith(name)]
        if said and said.group(1) in digests:
            return said.group(1)
        if said is None and len(digests) == 1:
            return digests[0]
        raise RuntimeError(f"docker push {target}: pushed digest {said and said.group(1)}, RepoDigests {digests}")

    def close(self):
        stop_process(self.proc)
        remove_references(self.address, set(self.sources))
        shutil.rmtree(self.root, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http only
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def local_registry(port, name_prefix, timeout=60):
    """Run ``docker-registry serve`` on ``127.0.0.1:port``; yields a :class:`LocalRegistry`."""
    if not os.access(REGISTRY, os.X_OK):
        raise RuntimeError(f"{REGISTRY} is missing: install Debian's docker-registry (make setup)")
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    _stop_stale(name_prefix)
    root = Path(tempfile.mkdtemp(prefix=f"{name_prefix}registry-"))
    config = root / "config.yml"
    (root / "storage").mkdir()
    config.write_text(CONFIG.format(root=root / "storage", port=port))
    log_path = root / "registry.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    state_file = directory / f"{name_prefix}registry-{os.getpid()}-{port}.json"
    registry = LocalRegistry(port, name_prefix, proc, root, state_file)
    try:
        registry._save()
        deadline = time.monotonic() + timeout
        while not _answers(registry.url):
            if proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited ({proc.returncode}):\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not answer {registry.url} within {timeout}s")
            time.sleep(0.2)
        yield registry
    finally:
        registry.close()
