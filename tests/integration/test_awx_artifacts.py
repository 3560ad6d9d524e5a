# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX/Tower artifacts of the repository, and a job run through ansible-runner as AWX runs one.

* ``execution-environment.yml``: ``ansible-builder create`` (in a network namespace without any
  interface but loopback, which proves it needs no network) writes a build context that names our
  requirements and installs the collection.
* ``awx/``: every job template points at a playbook of the repository, asks only for variables
  the playbook reads, never for a secret, and its survey has AWX's shape.
* ``tests/support/runner.py``: a job with extra vars, a credential in the environment and a vault
  password file; its artifacts hold the events AWX stores and no secret.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import jinja2
import jinja2.meta
import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from support.runner import ROOT, run_job

AWX = ROOT / "awx"
PLAYBOOKS = ROOT / "playbooks"

# The job templates the repository must define, each with its playbook.
EXPECTED_TEMPLATES = {
    "deploy_env": "playbooks/deploy_env.yml",
    "teardown_env": "playbooks/teardown_env.yml",
    "status_env": "playbooks/status_env.yml",
    "promote": "playbooks/promote.yml",
    "rollback": "playbooks/rollback.yml",
}
# Templates that may run against production: the only ones that change prod.
PROD_TEMPLATES = {"promote", "rollback", "status_env_prod"}

SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
SECRET_WORDS = re.compile(r"key|secret|passw|token|credential|vault", re.IGNORECASE)
ENV_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def templates():
    return load_yaml(AWX / "job_templates.yml")["job_templates"]


def survey(template):
    with open(AWX / template["survey_spec"], encoding="utf-8") as handle:
        return json.load(handle)


# -- execution-environment.yml ---------------------------------------------------------------------


def test_ansible_builder_create_writes_a_context_with_our_requirements_and_collection(tmp_path):
    definition = load_yaml(ROOT / "execution-environment.yml")
    assert definition["version"] == 3
    deps = definition["dependencies"]
    # Same pins as the controller's requirements.
    pins = dict(line.split("==", 1) for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    dev_pins = dict(
        line.split("==", 1) for line in (ROOT / "requirements-dev.txt").read_text().splitlines() if "==" in line
    )
    assert deps["ansible_core"]["package_pip"] == f"ansible-core=={pins['ansible-core']}"
    assert deps["ansible_runner"]["package_pip"] == f"ansible-runner=={dev_pins['ansible-runner']}"
    # The context is made from a copy holding what the definition names and a collection tarball,
    # as a checkout holds them after `ansible-galaxy collection build` (docs/awx.md).
    src = tmp_path / "src"
    for name in ("execution-environment.yml", deps["python"], deps["system"], deps["galaxy"]):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    build = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-galaxy"), "collection", "build", "--output-path", str(src), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = next(src.glob("pptv-dcos-*.tar.gz"))
    # No network: a new user and network namespace has only a loopback interface (down).
    create = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--net",
            str(ROOT / ".venv" / "bin" / "ansible-builder"),
            "create",
            "-f",
            str(src / "execution-environment.yml"),
            "-c",
            str(tmp_path / "context"),
            "--output-filename",
            "Containerfile",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert create.returncode == 0, create.stdout + create.stderr
    context = tmp_path / "context"
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert f"ansible-core=={pins['ansible-core']} ansible-runner=={dev_pins['ansible-runner']}" in containerfile
    assert "introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert "collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "/build/pptv-collection/pptv-dcos-*.tar.gz" in containerfile
    build_dir = context / "_build"
    assert (build_dir / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()
    assert (build_dir / "bindep.txt").read_text() == (ROOT / "bindep.txt").read_text()
    assert load_yaml(build_dir / "requirements.yml") == load_yaml(ROOT / "collections" / "requirements.yml")
    assert (build_dir / "pptv-collection" / tarball.name).read_bytes() == tarball.read_bytes()


# -- awx/: job templates, surveys, the credential type ---------------------------------------------


def test_the_template_set_is_complete_and_each_playbook_exists():
    found = {t["id"]: t["playbook"] for t in templates()}
    assert found == EXPECTED_TEMPLATES
    for playbook in found.values():
        assert (ROOT / playbook).is_file(), f"{playbook} is missing"


def test_templates_never_prompt_for_variables_and_only_promote_and_rollback_touch_prod():
    spec = load_yaml(AWX / "job_templates.yml")
    inventories = {inv["name"]: inv for inv in spec["inventories"]}
    credentials = {cred["name"] for cred in spec["credentials"]}
    teams = {team["name"] for team in spec["teams"]}
    assert teams == {"platform-ops", "release-managers", "developers", "auditors"}
    for template in templates():
        name = template["id"]
        assert template["ask_variables_on_launch"] is False, name
        assert template["ask_inventory_on_launch"] is False and template["ask_credential_on_launch"] is False, name
        assert template["project"] == spec["project"]["name"]
        assert template["execution_environment"] == spec["execution_environment"]["name"]
        inventory = inventories[template["inventory"]]
        assert (ROOT / inventory["source_path"] / "hosts.yml").is_file()
        assert set(template["credentials"]) <= credentials, name
        assert "extra_vars" not in template, f"{name}: variables come from the survey, secrets from credentials"
        rbac = template["rbac"]
        assert set(sum(rbac.values(), [])) <= teams
        assert rbac["admin"] == ["platform-ops"] and rbac["read"] == ["auditors"]
        if inventory["source_path"] == "inventories/prod":
            assert name in PROD_TEMPLATES, f"{name} changes production outside promote/rollback"
            assert rbac["execute"] == ["release-managers"]
            assert "pptv.dcos release signing key" in template["credentials"]
        else:
            assert inventory["source_path"] == "inventories/test"
            assert rbac["execute"] == ["developers"]


def _check_question(survey_name, question):
    where = f"{survey_name}: {question.get('variable')}"
    required = {"question_name", "variable", "type", "required"}
    assert required <= set(question), f"{where}: needs {sorted(required - set(question))}"
    assert set(question) <= required | {"question_description", "default", "choices", "min", "max", "new_question"}
    assert isinstance(question["question_name"], str) and question["question_name"], where
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", question["variable"]), where
    assert question["type"] in SURVEY_TYPES, where
    assert isinstance(question["required"], bool), where
    default = question.get("default", "")
    if question["type"] in ("multiplechoice", "multiselect"):
        choices = question["choices"]
        assert isinstance(choices, list) and choices and all(isinstance(c, str) and c for c in choices), where
        assert len(set(choices)) == len(choices), where
        assert default in ("", *choices), f"{where}: default {default!r} is not a choice"
    else:
        assert "choices" not in question, where
    if question["type"] in ("integer", "float"):
        kind = int if question["type"] == "integer" else (int, float)
        assert isinstance(question["min"], kind) and isinstance(question["max"], kind), where
        assert question["min"] <= default <= question["max"], where
    if question["type"] in ("text", "textarea"):
        assert isinstance(question.get("min", 0), int) and isinstance(question.get("max", 1024), int), where
        assert isinstance(default, str) and (default == "" or question["min"] <= len(default) <= question["max"])


@pytest.mark.parametrize("template", templates(), ids=lambda t: t["id"])
def test_each_survey_has_awx_shape_and_asks_no_secret(template):
    spec = survey(template)
    assert set(spec) == {"name", "description", "spec"}
    assert isinstance(spec["name"], str) and isinstance(spec["description"], str)
    assert template["survey_enabled"] is True and isinstance(spec["spec"], list) and spec["spec"]
    variables = [q["variable"] for q in spec["spec"]]
    assert len(set(variables)) == len(variables)
    for question in spec["spec"]:
        _check_question(spec["name"], question)
        assert question["type"] != "password", f"{question['variable']}: secrets come from AWX credentials"
        assert not SECRET_WORDS.search(question["variable"]), f"{question['variable']}: looks like a secret"
        if question["variable"] == "env":  # environment names: a closed list of Marathon group names
            assert question["type"] == "multiplechoice"
            assert all(ENV_RE.fullmatch(choice) for choice in question["choices"])
            assert "prod" not in question["choices"], "production changes only go through promote/rollback"
    # The env choices are envs of the template's inventory (when it lists them), never a protected one.
    inventory = next(
        i for i in load_yaml(AWX / "job_templates.yml")["inventories"] if i["name"] == template["inventory"]
    )
    group_vars = load_yaml(ROOT / inventory["source_path"] / "group_vars" / "all.yml") or {}
    for question in spec["spec"]:
        if question["variable"] == "env" and "dcos_envs" in group_vars:
            assert set(question["choices"]) <= set(group_vars["dcos_envs"]), question["choices"]
            assert not set(question["choices"]) & set(group_vars.get("dcos_protected_envs", ["prod"]))
    if template["id"] == "teardown_env":
        env = next(q for q in spec["spec"] if q["variable"] == "env")
        assert "int" not in env["choices"]
    if template["id"] == "promote":
        digest = next(q for q in spec["spec"] if q["variable"] == "digest")
        assert digest["type"] == "text" and digest["min"] == digest["max"] == len("sha256:") + 64
        assert "sha256:" in digest["question_description"] and "64" in digest["question_description"]


def _jinja_names(value, expression, env, names):
    if isinstance(value, dict):
        for key, item in value.items():
            _jinja_names(item, key in ("when", "that", "until", "changed_when", "failed_when"), env, names)
    elif isinstance(value, list):
        for item in value:
            _jinja_names(item, expression, env, names)
    elif isinstance(value, str):
        text = "{{ " + value + " }}" if expression and "{{" not in value else value
        names |= jinja2.meta.find_undeclared_variables(env.parse(text))


class _AnyName(dict):
    def get(self, key, default=None):
        return super().get(key, _anything)


def _anything(*_args, **_kwargs):
    return None


def playbook_reads(playbook):
    """The variables a playbook (and the vars files, task files and templates it names) reads."""
    env = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
    # Ansible's filters and tests (bool, to_json, match, ...): any name will do for finding variables.
    env.filters = _AnyName(env.filters)
    env.tests = _AnyName(env.tests)
    names, seen, todo = set(), set(), [ROOT / playbook]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".j2":
            names |= jinja2.meta.find_undeclared_variables(env.parse(text))
        else:
            _jinja_names(yaml.safe_load(text), False, env, names)
        for other in PLAYBOOKS.rglob("*"):
            if other.is_file() and other.name in text:
                todo.append(other)
    return names


@pytest.mark.parametrize("template", templates(), ids=lambda t: t["id"])
def test_every_survey_variable_is_read_by_the_playbook(template):
    reads = playbook_reads(template["playbook"])
    for question in survey(template)["spec"]:
        assert question["variable"] in reads, f"{template['playbook']} never reads {question['variable']}"


def test_the_reader_finds_what_a_playbook_reads_and_not_what_it_does_not():
    reads = playbook_reads("playbooks/teardown_env.yml")
    assert {"env", "remove_logs", "remove_data", "dcos_envs"} <= reads  # env through vars/env.yml
    assert "deps" not in reads and "digest" not in reads


def test_the_signing_key_credential_type_injects_an_environment_variable_only():
    spec = load_yaml(AWX / "credential_types" / "release_signing_key.yml")
    assert spec["name"] == "pptv.dcos release signing key" and spec["kind"] in ("cloud", "net")
    fields = {field["id"]: field for field in spec["inputs"]["fields"]}
    assert fields["signing_key"]["secret"] is True and spec["inputs"]["required"] == ["signing_key"]
    # A file private to the job, and its path in the environment: never the key itself.
    assert spec["injectors"] == {
        "file": {"template": "{{ signing_key }}"},
        "env": {"PPTV_DCOS_RELEASE_SIGNING_KEY_FILE": "{{ tower.filename }}"},
    }
    names = {t["name"] for t in load_yaml(AWX / "job_templates.yml")["credentials"]}
    assert spec["name"] in names


# -- a job through ansible-runner ------------------------------------------------------------------

SIGNING_KEY = "runner-test-signing-key-0f3c9a7e5d"
VAULT_PASSWORD = "runner-test-vault-password-77ab1c"
VAULT_SECRET = "runner-test-vault-secret-value-4e21d9"
DIGEST = "sha256:" + "5" * 64


@pytest.fixture
def job_files(tmp_path):
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD + "\n")
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    vault_file = tmp_path / "secrets.yml"
    vault_file.write_bytes(vault.encrypt(yaml.safe_dump({"probe_secret": VAULT_SECRET})))
    key_file = tmp_path / "signing-key"  # what the AWX credential type's file injector writes
    key_file.write_text(SIGNING_KEY)
    return {
        "password": password_file,
        "vault": vault_file,
        "key": key_file,
        "records": tmp_path / "records" / "releases.jsonl",
    }


def _job(tmp_path, job_files, name, envvars=None, **extra):
    extravars = {
        "app": "shop/web",
        "digest": DIGEST,
        "env": "int",
        "release_path": str(job_files["records"]),
        "probe_vault_file": str(job_files["vault"]),
    }
    extravars.update(extra)
    return run_job(
        tmp_path / name,
        "tests/integration/files/awx-probe.yml",
        "tests/integration/files/awx-inventory.yml",
        extravars=extravars,
        envvars=envvars or {"PPTV_DCOS_RELEASE_SIGNING_KEY_FILE": str(job_files["key"])},
        cmdline=f"--vault-password-file {job_files['password']}",
    )


def _no_secret_in(paths):
    for path in paths:
        data = path.read_bytes()
        for secret in (SIGNING_KEY, VAULT_PASSWORD, VAULT_SECRET):
            assert secret.encode() not in data, f"{secret} leaked into {path}"


def test_a_job_runs_as_awx_runs_it_and_its_artifacts_hold_no_secret(tmp_path, job_files):
    job = _job(tmp_path, job_files, "job-1")
    assert job.status == "successful" and job.rc == 0, job.stdout
    assert job.stats["failures"] == {} and job.stats["ok"]["localhost"] >= 4
    assert job.stats["changed"] == {"localhost": 1}  # the record appended
    kinds = [event["event"] for event in job.events]
    assert kinds[0] == "playbook_on_start" and kinds[-1] == "playbook_on_stats"
    stats = job.events_of("playbook_on_stats")[0]["event_data"]
    assert stats["changed"] == {"localhost": 1}
    # The extra vars (the survey answers) reached the play.
    said = job.task_results("The survey answers arrived as extra vars")[0]
    assert said["msg"] == f"probe shop/web@{DIGEST} in int"
    assert job.task_results("The image promote would deploy")[0]["msg"] == (
        f"promote would deploy registry.example:5000/shop/web@{DIGEST}"
    )
    # The key came from the credential's file, and the record was signed with it.
    record = json.loads(job_files["records"].read_text().splitlines()[0])
    assert record["signature"].startswith("hmac-sha256:") and record["user"] == "runner-test"
    assert (job.artifact_dir / "stdout").is_file() and (job.artifact_dir / "job_events").is_dir()
    assert job.artifact_files()
    _no_secret_in(job.artifact_files())
    _no_secret_in(path for path in (tmp_path / "job-1" / "env").rglob("*") if path.is_file())
    # A second job changes nothing (the identical record is there), and is still successful.
    again = _job(tmp_path, job_files, "job-2")
    assert again.status == "successful" and again.stats["changed"] == {}


def test_a_job_for_an_untested_digest_fails_naming_the_policy(tmp_path, job_files):
    other = "sha256:" + "6" * 64
    job = _job(tmp_path, job_files, "job-refused", verify_digest=other)
    assert job.status == "failed" and job.rc == 2
    assert job.stats["failures"] == {"localhost": 1}
    failed = [e for e in job.events if e["event"] == "runner_on_failed"]
    assert len(failed) == 1 and failed[0]["event_data"]["task"] == "The policy finds it"
    msg = failed[0]["event_data"]["res"]["msg"]
    assert msg.startswith(f"policy: pptv.dcos requires a passing record in env int for shop/web@{other}; none found")
    assert job.events_of("playbook_on_stats")
    _no_secret_in(job.artifact_files())


def test_a_secret_in_the_jobs_environment_ends_in_the_artifacts(tmp_path, job_files):
    """Why the credential type injects a file: ansible-runner writes the job's whole environment
    into artifacts/<job>/command, so a key given as an environment variable is kept there."""
    job = _job(tmp_path, job_files, "job-env", envvars={"PPTV_DCOS_RELEASE_SIGNING_KEY": SIGNING_KEY})
    assert job.status == "successful", job.stdout
    command = json.loads((job.artifact_dir / "command").read_text())
    assert command["env"]["PPTV_DCOS_RELEASE_SIGNING_KEY"] == SIGNING_KEY
    leaked = [path.name for path in job.artifact_files() if SIGNING_KEY.encode() in path.read_bytes()]
    assert leaked == ["command"]  # no_log kept it out of every event and the stdout
