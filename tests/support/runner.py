# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a playbook of the repository through ansible-runner, the way AWX runs a job template.

AWX hands each job a private data directory: ``env/extravars`` (the survey answers and the
template's variables), ``env/settings`` and the job's environment (credentials injected as
environment variables, e.g. the ``pptv.dcos release signing key`` credential's
``PPTV_DCOS_RELEASE_SIGNING_KEY``), with the project checked out as the working directory and an
inventory synced from the project. :func:`run_job` does the same with this checkout as the
project: ansible-playbook runs in the repository root (so ``ansible.cfg`` applies and
``pptv.dcos.*`` resolves through ``ANSIBLE_COLLECTIONS_PATH=<repo>/.collections``), with an
inventory path from the repository (``inventories/test``) or a test's own.

Secrets go in ``envvars`` (kept in memory: ``suppress_env_files``, as AWX keeps credentials out
of the job's files) or in files a ``cmdline`` option names (``--vault-password-file``), never in
``extravars``. The result is a :class:`JobResult`: ``rc``, ``status``, ``stats`` and the artifact
directory with its ``job_events`` and ``stdout``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import ansible_runner

ROOT = Path(__file__).resolve().parents[2]


class JobResult:
    """What a finished ansible-runner job leaves: rc, status, stats and its artifacts."""

    def __init__(self, runner, private_data_dir):
        self.rc = runner.rc
        self.status = runner.status
        self.stats = runner.stats
        self.private_data_dir = Path(private_data_dir)
        self.artifact_dir = Path(runner.config.artifact_dir)

    @property
    def stdout(self):
        path = self.artifact_dir / "stdout"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    @property
    def events(self):
        """The job events AWX would store, in order (``job_events/<counter>-<uuid>.json``)."""
        files = sorted(
            (self.artifact_dir / "job_events").glob("*.json"), key=lambda path: int(path.name.split("-", 1)[0])
        )
        return [json.loads(path.read_text(encoding="utf-8")) for path in files]

    def events_of(self, kind):
        return [event for event in self.events if event.get("event") == kind]

    def task_results(self, task_name):
        """The ``res`` of each ``runner_on_ok``/``runner_on_failed`` event of the task named ``task_name``."""
        found = []
        for event in self.events:
            if event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
                data = event.get("event_data", {})
                if data.get("task") == task_name:
                    found.append(data.get("res", {}))
        return found

    def artifact_files(self):
        """Every file under the artifact directory."""
        return [path for path in self.artifact_dir.rglob("*") if path.is_file()]


def job_env(extra=None):
    """The job's environment: the checkout's collections and ansible.cfg, the venv's tools first."""
    env = {
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.update(extra or {})
    return env


def run_job(
    private_data_dir,
    playbook,
    inventory,
    extravars=None,
    envvars=None,
    cmdline=None,
    limit=None,
    timeout=600,
):
    """Run ``playbook`` (a path relative to the repository, ``playbooks/status_env.yml``) as AWX would.

    ``inventory`` is a path relative to the repository (``inventories/test``) or absolute.
    ``extravars`` are written to ``env/extravars`` (what the survey answers become); ``envvars``
    are the job's environment (credential injections), kept out of every file; ``cmdline`` adds
    ansible-playbook options (``--vault-password-file /path``).
    """
    private_data_dir = Path(private_data_dir)
    (private_data_dir / "env").mkdir(parents=True, exist_ok=True)
    (private_data_dir / "env" / "extravars").write_text(json.dumps(extravars or {}), encoding="utf-8")
    # AWX's job settings: idle timeouts off, the pexpect runner, one artifact dir per job.
    (private_data_dir / "env" / "settings").write_text(
        json.dumps({"idle_timeout": 0, "job_timeout": timeout, "pexpect_timeout": 5}), encoding="utf-8"
    )
    inventory_path = Path(inventory)
    if not inventory_path.is_absolute():
        inventory_path = ROOT / inventory_path
    runner = ansible_runner.run(
        private_data_dir=str(private_data_dir),
        project_dir=str(ROOT),
        playbook=str(playbook),
        inventory=str(inventory_path),
        envvars=job_env(envvars),
        cmdline=cmdline,
        limit=limit,
        suppress_env_files=True,
        quiet=True,
        timeout=timeout,
    )
    return JobResult(runner, private_data_dir)
