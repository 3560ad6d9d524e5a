# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one task of a module the way an operator would: through ``ansible-playbook``.

Integration tests call :func:`run_task` so that every test goes through Ansible's real argument
parsing, check mode, diff mode, ``no_log`` and the collection loader, on localhost.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


class TaskResult(dict):
    """The task's result as the module returned it, plus ``stdout`` (the raw playbook output)."""

    @property
    def failed(self):
        return bool(self.get("failed"))

    @property
    def changed(self):
        return bool(self.get("changed"))


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def run_playbook(playbook, inventory, extra_vars=None, check=False, diff=False, env=None, timeout=900, connection=None):
    """Run a playbook file as an operator would; returns the json callback's whole report.

    ``report["stats"][host]["changed"]`` counts changed tasks; ``report["plays"]`` holds every
    task's per-host result. An unparsable output raises with what ansible-playbook printed.
    """
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if connection:
        cmd += ["-c", connection]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=ansible_env(**(env or {})), capture_output=True, text=True, timeout=timeout, check=False
    )
    try:
        report = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"ansible-playbook printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        ) from exc
    report["rc"] = proc.returncode
    report["stdout"] = proc.stdout
    return report


def run_play(tasks, check=False, diff=False, extra_vars=None, env=None, timeout=600):
    """Run ``tasks`` in one play on localhost; returns the list of task results in order."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    with tempfile.TemporaryDirectory(prefix="pptv-play-") as tmp:
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(yaml.safe_dump(play, sort_keys=False))
        variables = {"ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")}
        variables.update(extra_vars or {})
        report = run_playbook(
            playbook,
            "localhost,",
            variables,
            check=check,
            diff=diff,
            env=env,
            connection="local",
            timeout=timeout,
        )
    results = []
    for task in report["plays"][0]["tasks"]:
        result = TaskResult(task["hosts"].get("localhost", {}))
        result["stdout"] = report["stdout"]
        results.append(result)
    return results


def run_task(module, args, check=False, diff=False, env=None, **task_keys):
    """Run ``pptv.dcos.<module>`` (or a fully qualified name) with ``args``; returns its result."""
    name = module if "." in module else f"pptv.dcos.{module}"
    task = {"name": name, name: args, "ignore_errors": True}
    task.update(task_keys)
    return run_play([task], check=check, diff=diff, env=env)[0]
