# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Same-image release end to end, `prod` as one more env of the package's platform (issue 14).

Every playbook runs through ansible-runner, as an AWX job runs it (support.runner: a private data
dir, the answers as extravars, the signing key injected as a file the way the credential type
does). Images get their digests from a registry on loopback (support.registry), so prod runs
``<registry>/pptvenvs/web@sha256:...`` exactly as a cluster runs what CI pushed.

The story, in order: a digest with no passing record is refused, naming the policy; a tested
digest is promoted and prod serves it; promoting it again changes nothing; a canary of a bad image
fails its gate and prod is untouched; a good canary passes and the main app rolls to it; rollback
restores the previous version, and cancels a deployment in flight.
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import requests
import yaml
from support.ansible_run import ROOT
from support.procs import docker, free_port
from support.registry import local_registry
from support.runner import run_job

from .envplatform import ENVS, PREFIX, wait

pytestmark = pytest.mark.timeout(3000)

SAMPLE = "pptv-dcos/sample:bookworm"
REPOSITORY = "pptvenvs/web"
APP_ID = "/prod/web"
CANARY_ID = "/prod/web-canary-1"
CANARY_PREFIX = "/prod/web-canary-"
SIGNING_KEY = "pptvenvs-release-key-for-tests-only"
BROKEN_TAG = f"{PREFIX}sample:broken"
NEXT_TAG = f"{PREFIX}sample:next"


def _build(tmp_path, tag, config_change=None, label=None):
    """An image FROM the sample: a LABEL (a new digest), or its baked config changed (a bad release)."""
    context = tmp_path / tag.replace(":", "-")
    context.mkdir()
    lines = [f"FROM {SAMPLE}"]
    if label:
        lines.append(f"LABEL org.pptv.dcos.test.release={label}")
    if config_change:
        config = json.loads((ROOT / "lab" / "images" / "sample" / "config.json").read_text())
        config_change(config)
        (context / "config.json").write_text(json.dumps(config))
        lines.append("COPY config.json /etc/pptv-sample/config.json")
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    built = docker("build", "-q", "-t", tag, str(context))
    assert built.returncode == 0, built.stderr


@pytest.fixture(scope="module")
def release(platform, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("pptvenvs-release")
    key_file = tmp_path / "signing.key"
    key_file.write_text(SIGNING_KEY + "\n")
    key_file.chmod(0o600)
    _build(tmp_path, NEXT_TAG, label="next")
    # Listens on 9090 instead of its catalogue port: Marathon's health check never passes.
    _build(tmp_path, BROKEN_TAG, config_change=lambda c: c["web"].update(port=9090))
    try:
        with local_registry(free_port(), PREFIX) as registry:
            catalogue = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all.yml").read_text())[
                "dcos_catalogue"
            ]
            for entry in catalogue:
                if entry["name"] == "web":
                    entry["image"] = f"{registry.address}/{REPOSITORY}:bookworm"
            yield {
                "platform": platform,
                "registry": registry,
                "tmp": tmp_path,
                "key_file": key_file,
                "records": tmp_path / "releases.jsonl",
                "catalogue": catalogue,
                "digests": {
                    "first": registry.push(SAMPLE, REPOSITORY, "first"),
                    "next": registry.push(NEXT_TAG, REPOSITORY, "next"),
                    "broken": registry.push(BROKEN_TAG, REPOSITORY, "broken"),
                },
                "jobs": 0,
            }
    finally:
        docker("rmi", BROKEN_TAG, NEXT_TAG)


def _job(release, playbook, **answers):
    """One job of ``playbook`` through ansible-runner, against prod, with ``answers`` as the survey's."""
    release["jobs"] += 1
    platform = release["platform"]
    extravars = dict(
        platform["vars"],
        env="prod",
        dcos_catalogue=release["catalogue"],
        dcos_release_path=str(release["records"]),
        dcos_canary_timeout=60,
    )
    extravars.update(answers)
    return run_job(
        release["tmp"] / f"job-{release['jobs']}-{playbook.removesuffix('.yml')}",
        f"playbooks/{playbook}",
        platform["inventory"],
        extravars=extravars,
        envvars={"PPTV_DCOS_RELEASE_SIGNING_KEY_FILE": str(release["key_file"]), "ANSIBLE_PIPELINING": "1"},
        timeout=1500,
    )


def _record(release, name, env="int", result="passed"):
    job = _job(release, "record_release.yml", app="web", digest=release["digests"][name], result=result, env=env)
    assert job.rc == 0, job.stdout[-6000:]


def _app(release, app_id=APP_ID):
    answer = requests.get(f"{release['platform']['lab'].url}/v2/apps{app_id}", timeout=10)
    return answer.json()["app"] if answer.status_code == 200 else None


def _image(release, name):
    return release["registry"].ref(REPOSITORY, release["digests"][name])


def _serves(release):
    """GET / through prod's gateway by name: the answering app ID, or None."""
    try:
        answer = requests.get(f"http://{ENVS['prod']['gateway']}:8080/", headers={"Host": "web.pptv.lab"}, timeout=10)
    except requests.RequestException:
        return None
    return answer.text.strip() if answer.status_code == 200 else None


def _prod_records(release):
    if not release["records"].exists():
        return []
    lines = release["records"].read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["env"] == "prod"]


def _canaries(release):
    """The canary apps of /prod/web on Marathon, and those holding an address in the pool."""
    apps = requests.get(f"{release['platform']['lab'].url}/v2/apps", timeout=10).json()["apps"]
    on_marathon = [a["id"] for a in apps if a["id"].startswith(CANARY_PREFIX)]
    return on_marathon, [a for a in _pool_apps(release) if a.startswith(CANARY_PREFIX)]


def _pool_apps(release):
    return set(json.loads(release["platform"]["pool"].read_text())["pools"]["pptvenvs"]["allocations"])


def test_an_untested_digest_is_refused_naming_the_policy(release):
    job = _job(release, "promote.yml", app="web", digest=release["digests"]["first"], canary_instances=1)
    assert job.rc != 0
    assert "policy: pptv.dcos requires a passing record in env int" in job.stdout
    assert _app(release) is None and _app(release, CANARY_ID) is None


def test_a_tested_digest_is_promoted_and_prod_serves_it(release):
    _record(release, "first")
    job = _job(release, "promote.yml", app="web", digest=release["digests"]["first"], canary_instances=1)
    assert job.rc == 0, job.stdout[-6000:]
    app = _app(release)
    assert app["container"]["docker"]["image"] == _image(release, "first")
    # The first promotion has no main app to compare a canary with: no canary.
    assert _app(release, CANARY_ID) is None
    assert wait(lambda: _serves(release) == APP_ID, 60, "prod's web through its gateway")
    (record,) = _prod_records(release)
    assert (record["digest"], record["result"]) == (release["digests"]["first"], "passed")
    assert SIGNING_KEY not in "".join(p.read_text(errors="replace") for p in job.artifact_files())


def test_promoting_the_running_digest_again_changes_nothing(release):
    version = _app(release)["version"]
    job = _job(release, "promote.yml", app="web", digest=release["digests"]["first"], canary_instances=1)
    assert job.rc == 0, job.stdout[-6000:]
    assert {host: stats for host, stats in job.stats["changed"].items() if stats} == {}
    assert _app(release)["version"] == version
    assert len(_prod_records(release)) == 1


def test_a_canary_of_a_bad_image_fails_its_gate_and_prod_is_untouched(release):
    _record(release, "broken")  # it passed in int, yet it does not start in prod
    before = _app(release)
    job = _job(release, "promote.yml", app="web", digest=release["digests"]["broken"], canary_instances=1)
    assert job.rc != 0
    assert "canary gate failed for /prod/web" in job.stdout
    # Marathon's health check failed it: the canary never became healthy.
    failed = [e["event_data"]["task"] for e in job.events_of("runner_on_failed")]
    assert failed[0] == "Start the canaries, healthy on Marathon, /prod/web-canary-1", failed
    after = _app(release)
    assert (after["version"], after["container"]["docker"]["image"]) == (
        before["version"],
        before["container"]["docker"]["image"],
    )
    assert _canaries(release) == ([], [])
    assert wait(lambda: _serves(release) == APP_ID, 60, "prod's web after the failed gate")
    assert len(_prod_records(release)) == 1


def test_a_good_canary_passes_its_gate_and_the_main_app_rolls_to_it(release):
    _record(release, "next")
    job = _job(release, "promote.yml", app="web", digest=release["digests"]["next"], canary_instances=2)
    assert job.rc == 0, job.stdout[-6000:]
    assert "Start the canaries, healthy on Marathon, /prod/web-canary-1, /prod/web-canary-2" in job.stdout
    # The gate saw both canaries in the gateway's upstream, then every probe through the gateway answered.
    assert "Every gateway routes the name to the canaries too, /prod/web" in job.stdout
    assert job.stdout.count("request ") >= 20
    assert _app(release)["container"]["docker"]["image"] == _image(release, "next")
    assert _canaries(release) == ([], [])
    assert [r["digest"] for r in _prod_records(release)] == [release["digests"]["first"], release["digests"]["next"]]
    assert wait(lambda: _serves(release) == APP_ID, 60, "prod's web after the rollout")


def test_rollback_restores_the_previous_version(release):
    job = _job(release, "rollback.yml", app="web")
    assert job.rc == 0, job.stdout[-6000:]
    app = _app(release)
    assert app["container"]["docker"]["image"] == _image(release, "first")
    assert not app.get("deployments")
    assert wait(lambda: _serves(release) == APP_ID, 60, "prod's web after the rollback")


def test_rollback_cancels_a_deployment_in_flight(release):
    url = f"{release['platform']['lab'].url}/v2/apps{APP_ID}"
    body = copy.deepcopy(_app(release))
    for field in ("version", "versionInfo", "tasks", "deployments", "lastTaskFailure", "tasksRunning",
                  "tasksHealthy", "tasksUnhealthy", "tasksStaged"):  # fmt: skip
        body.pop(field, None)
    body["container"]["docker"]["image"] = _image(release, "broken")
    started = requests.put(url, json=body, timeout=10)
    assert started.status_code == 200, started.text
    # The broken task never becomes healthy: the deployment stays (the old task stopped first: one fixed IP).
    assert wait(lambda: _app(release).get("deployments"), 10, "the deployment in flight")
    job = _job(release, "rollback.yml", app="web")
    assert job.rc == 0, job.stdout[-6000:]
    assert "cancelled deployment(s)" in job.stdout
    app = _app(release)
    assert app["container"]["docker"]["image"] == _image(release, "first")
    assert not app.get("deployments")
    deployments = requests.get(f"{release['platform']['lab'].url}/v2/deployments", timeout=10).json()
    assert [d for d in deployments if APP_ID in d.get("affectedApps", [])] == []


def test_the_promotion_history_is_kept_and_every_record_verifies(release):
    job = _job(release, "record_release.yml", app="web", digest=release["digests"]["next"], result="failed", env="prod")
    assert job.rc == 0, job.stdout[-6000:]
    # A failed record after a passed one withdraws the digest from the policy: promote refuses it.
    shutil.copy(release["records"], release["tmp"] / "records-before.jsonl")
    refused = _job(release, "promote.yml", app="web", digest=release["digests"]["next"], canary_instances=0,
                   dcos_release_required_envs=["prod"])  # fmt: skip
    assert refused.rc != 0
    assert "the newest record in prod is failed" in refused.stdout
    assert release["records"].read_text() == (release["tmp"] / "records-before.jsonl").read_text()
