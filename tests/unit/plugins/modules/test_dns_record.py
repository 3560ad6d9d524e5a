# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv.dcos.dns_record through AnsibleModule, against the in-memory server (``dns.query.*`` only)."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pptv.dcos.plugins.modules import dns_record

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="  # the fake server's key (conftest.py)
RESULT_KEYS = {
    "changed",
    "actions",
    "zone",
    "zones",
    "record_sets",
    "updates_sent",
    "queries_sent",
    "transfers_sent",
    "reads",
}


@pytest.fixture
def server(fake_dns):
    fake_dns.add_zone("example.com", [("web.example.com", "A", 300, ["10.0.0.1"])])
    fake_dns.add_key()
    return fake_dns


def run(capsys, check=False, diff=False, **args):
    base = {"server": "127.0.0.1", "key_name": "ddns-key", "key_secret": SECRET, "zone": "example.com"}
    base.update(args)
    if check:
        base["_ansible_check_mode"] = True
    if diff:
        base["_ansible_diff"] = True
    with patch_module_args(base), pytest.raises(SystemExit):
        dns_record.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def test_create_returns_the_documented_keys(server, capsys):
    result, _out = run(capsys, record="api", value=["10.0.0.9"], ttl=60)
    assert not result.get("failed"), result
    assert set(result) >= RESULT_KEYS
    assert "diff" not in result  # only with --diff
    assert result["changed"] is True
    assert result["zone"] == "example.com."
    assert result["updates_sent"] == 1
    assert result["actions"] == ["create api.example.com. A: add 10.0.0.9"]
    assert result["record_sets"][0]["after"] == {"ttl": 60, "values": ["10.0.0.9"]}
    assert server.get("api.example.com", "A") == (60, ["10.0.0.9"])


def test_same_again_is_unchanged(server, capsys):
    result, _out = run(capsys, record="web", value=["10.0.0.1"])
    assert result["changed"] is False
    assert result["updates_sent"] == 0
    assert result["actions"] == []


def test_check_mode_and_diff(server, capsys):
    result, _out = run(capsys, check=True, diff=True, record="web", value=["10.0.0.2"], ttl=60)
    assert result["changed"] is True
    assert result["updates_sent"] == 0
    assert server.count("update") == 0
    assert result["diff"] == {
        "before": {"web.example.com. A": {"ttl": 300, "values": ["10.0.0.1"]}},
        "after": {"web.example.com. A": {"ttl": 60, "values": ["10.0.0.2"]}},
    }
    assert result["actions"] == ["update web.example.com. A: add 10.0.0.2; delete 10.0.0.1; ttl 300 -> 60"]
    assert server.get("web.example.com", "A") == (300, ["10.0.0.1"])


def test_batch_entries_take_top_level_defaults(server, capsys):
    result, _out = run(
        capsys,
        ttl=120,
        exclusive=False,
        records=[
            {"record": "web", "value": ["10.0.0.2"]},
            {"record": "mail", "type": "MX", "value": ["10 web"], "ttl": 30},
            {"record": "old", "state": "absent"},
        ],
    )
    assert result["changed"] is True, result
    assert result["updates_sent"] == 1
    assert server.get("web.example.com", "A") == (120, ["10.0.0.1", "10.0.0.2"])
    assert server.get("mail.example.com", "MX") == (30, ["10 web.example.com."])
    assert [r["changed"] for r in result["record_sets"]] == [True, True, False]


def test_secret_never_appears_in_a_failure(server, capsys):
    wrong = "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlci0="
    result, out = run(capsys, record="web", value=["10.0.0.2"], key_secret=wrong)
    assert result["failed"] is True
    assert "(BADSIG)" in result["msg"]
    assert wrong not in out and SECRET not in out
    assert "Traceback" not in out


def test_bad_base64_names_the_option(server, capsys):
    result, out = run(capsys, record="web", value=["10.0.0.2"], key_secret="%%%not-base64%%%")
    assert result["msg"] == "key_secret: not valid base64 (the secret of a BIND key statement)"
    assert "%%%not-base64%%%" not in out


def test_key_name_without_secret(server, capsys):
    result, _out = run(capsys, record="web", value=["10.0.0.2"], key_secret=None)
    assert result["msg"] == "key_secret: required with key_name (or give key_file)"


def test_record_and_records_are_mutually_exclusive(server, capsys):
    result, _out = run(capsys, record="web", records=[{"record": "x", "value": ["10.0.0.1"]}])
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"] and "record" in result["msg"]


def test_bad_type_choice_is_refused_by_the_argument_spec(server, capsys):
    result, _out = run(capsys, record="web", type="SOA", value=["x"])
    assert result["failed"] is True
    assert "type" in result["msg"] and "SOA" in result["msg"]


def test_conflict_fails_and_reports_what_was_sent(server, capsys):
    server.before_update = lambda: server.put("web.example.com", "A", 300, ["10.0.0.1", "10.0.0.7"])
    result, _out = run(capsys, record="web", value=["10.0.0.2"])
    assert result["failed"] is True
    assert "another writer changed the records" in result["msg"]
    assert result["dns_rc_str"] == "NXRRSET"
    assert result["updates_sent"] == 1
    assert result["changed"] is False
    assert server.get("web.example.com", "A") == (300, ["10.0.0.1", "10.0.0.7"])


def test_unreachable_server(server, capsys):
    server.down.add("127.0.0.1")
    result, _out = run(capsys, record="web", value=["10.0.0.2"])
    assert "Connection refused (server unreachable)" in result["msg"]
