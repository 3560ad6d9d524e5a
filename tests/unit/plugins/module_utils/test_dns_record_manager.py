# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dns_record manager without AnsibleModule: the change record holds what was written."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._dns_record import DnsRecordManager
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="  # the fake server's key (conftest.py)


@pytest.fixture
def server(fake_dns):
    fake_dns.add_zone("example.com", [("web.example.com", "A", 300, ["10.0.0.1"])])
    fake_dns.add_key()
    return fake_dns


def params(**kwargs):
    base = {
        "server": ["127.0.0.1"],
        "key_name": "ddns-key",
        "key_secret": SECRET,
        "key_algorithm": "hmac-sha256",
        "zone": "example.com",
        "exclusive": True,
    }
    base.update(kwargs)
    return base


def test_result_without_diff_mode_has_no_diff(server):
    result = DnsRecordManager(params(record="api", value=["10.0.0.9"])).run()
    assert result["changed"] is True
    assert "diff" not in result
    assert result["actions"] == ["create api.example.com. A: add 10.0.0.9"]
    assert result["reads"] == {"example.com.": "query"}


def test_diff_mode_adds_the_diff(server):
    result = DnsRecordManager(params(record="web", value=["10.0.0.2"]), ChangeRecord(diff_mode=True)).run()
    assert result["diff"]["after"] == {"web.example.com. A": {"ttl": 300, "values": ["10.0.0.2"]}}


def test_a_failed_second_message_reports_only_the_first_as_done(server):
    # Over UDP a batch of 60 new records needs several messages; the server refuses the second.
    batch = [{"record": f"n{i}", "value": [f"10.3.0.{i + 1}"]} for i in range(60)]
    calls = {"n": 0}

    def refuse_second():
        calls["n"] += 1
        if calls["n"] == 1:
            server.before_update = refuse_second  # arm again for the next message
        else:
            server.put("n59.example.com", "A", 300, ["10.9.9.9"])  # another writer: NXRRSET

    server.before_update = refuse_second
    manager = DnsRecordManager(params(records=batch, protocol="udp"))
    with pytest.raises(DcosError, match="another writer changed the records"):
        manager.run()
    failure = manager.record.failure()
    assert failure["changed"] is True
    assert 0 < len(failure["actions"]) < 60
    assert failure["actions"][0] == "create n0.example.com. A: add 10.3.0.1"
    assert manager.counters()["updates_sent"] >= 2


def test_a_records_item_that_is_not_a_dict_names_it(server):
    with pytest.raises(DcosError, match=r"records\[1\]: must be a dictionary, got 'web'"):
        DnsRecordManager(params(records=[{"record": "a", "value": ["10.0.0.1"]}, "web"])).run()


def test_bad_read_option_names_it(server):
    with pytest.raises(DcosError, match="read: 'fast' is not one of"):
        DnsRecordManager(params(record="web", value=["10.0.0.1"], read="fast")).run()
