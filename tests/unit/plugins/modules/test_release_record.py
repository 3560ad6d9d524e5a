# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_record through AnsibleModule on the file backend (a real file under tmp_path)."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pptv.dcos.plugins.modules import release_record

KEY = "s3cr3t-signing-key-of-the-test"
DIGEST = "sha256:" + "1" * 64
RECORD = {
    "state": "recorded",
    "app": "shop/web",
    "image": "registry.example:5000/shop/web",
    "digest": DIGEST,
    "env": "int",
    "result": "passed",
    "user": "alice",
    "job": "https://awx.example/#/jobs/playbook/42",
}
NO_JOB = {k: v for k, v in RECORD.items() if k != "job"}


@pytest.fixture
def run(tmp_path, capsys, monkeypatch):
    path = tmp_path / "releases.jsonl"

    def _run(args, check=False, diff=False, key=KEY):
        args = dict(args, path=str(path))
        if key is not None:
            args["signing_key"] = key
        if check:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args), pytest.raises(SystemExit):
            release_record.main()
        out = capsys.readouterr().out
        assert KEY not in out  # no_log: never in a result, a message or the invocation
        return json.loads(out)

    _run.path = path
    monkeypatch.delenv("PPTV_DCOS_RELEASE_SIGNING_KEY", raising=False)
    return _run


def test_record_then_verify_then_query(run):
    appended = run(RECORD, diff=True)
    assert appended["changed"] and appended["appended"] and appended["count"] == 1
    assert appended["diff"]["before"]["count"] == 0 and appended["diff"]["after"]["record"]["job"] == RECORD["job"]
    assert not run(RECORD)["changed"]
    verified = run({"state": "verified", "app": "shop/web", "digest": DIGEST, "required_envs": ["int"]})
    assert not verified["changed"] and verified["image_ref"] == f"registry.example:5000/shop/web@{DIGEST}"
    assert verified["policy"] == "pptv.dcos" and verified["record"]["valid"]
    queried = run({"state": "query", "app": "shop/web"})
    assert queried["passed_digests"] == [DIGEST] and queried["records"][0]["user"] == "alice"


def test_the_key_comes_from_the_environment_the_awx_credential_sets(run, monkeypatch):
    monkeypatch.setenv("PPTV_DCOS_RELEASE_SIGNING_KEY", KEY)
    assert run(RECORD, key=None)["changed"]
    monkeypatch.delenv("PPTV_DCOS_RELEASE_SIGNING_KEY")
    missing = run({"state": "query", "app": "shop/web"}, key=None)
    assert missing["failed"] and "signing_key" in missing["msg"]


def test_the_key_file_comes_from_the_environment_the_awx_credential_sets(run, monkeypatch, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    monkeypatch.setenv("PPTV_DCOS_RELEASE_SIGNING_KEY_FILE", str(key_file))
    assert run(RECORD, key=None)["changed"]
    both = run({"state": "query", "app": "shop/web"})
    assert both["failed"] and "mutually exclusive: signing_key|signing_key_file" in both["msg"]


def test_an_unrecorded_digest_fails_naming_the_policy(run):
    run(RECORD)
    other = "sha256:" + "2" * 64
    refused = run({"state": "verified", "app": "shop/web", "digest": other, "required_envs": ["int"]})
    assert refused["failed"] and not refused["changed"]
    assert refused["msg"].startswith(f"policy: pptv.dcos requires a passing record in env int for shop/web@{other}")
    assert refused["policy"] == "pptv.dcos" and refused["records"] == []


def test_check_mode_writes_nothing(run):
    planned = run(RECORD, check=True)
    assert planned["changed"] and planned["actions"] == [f"append passed record of shop/web@{DIGEST} in env int"]
    assert not run.path.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (dict(RECORD, digest="sha256:123"), "digest: 'sha256:123' is not valid"),
        (dict(RECORD, digest="latest"), "digest:"),
        (NO_JOB, "state is recorded but all of the following are missing: job"),
        ({"state": "verified", "app": "shop/web", "digest": DIGEST}, "required_envs"),
        (dict(RECORD, result="maybe"), "result"),
        (dict(RECORD, required_envs=["int"]), "required_envs: not used with state=recorded"),
        (dict(RECORD, backend="zookeeper", zk_root="no-slash"), "zk_root:"),
    ],
)
def test_bad_input_fails_naming_the_option(run, args, words):
    result = run(args)
    assert result["failed"] and words in result["msg"], result
    assert not run.path.exists()


def test_a_short_key_is_refused_without_showing_it(run):
    result = run(RECORD, key="tiny-key")
    assert result["failed"] and result["msg"] == "signing_key: must be at least 16 characters long"
    assert "tiny-key" not in json.dumps(result)
