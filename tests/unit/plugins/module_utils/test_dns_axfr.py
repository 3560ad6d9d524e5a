# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a zone with one AXFR instead of a query per record set (issue 11), against the
in-memory server of ``conftest.py`` (``dns.query.xfr`` is its transport)."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils import _dns
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="  # the fake server's key (conftest.py)
MANY = _dns.AXFR_MIN_RECORD_SETS

E = _dns.Entry


@pytest.fixture
def server(fake_dns):
    records = [(f"h{i}.example.com", "A", 300, [f"10.0.0.{i + 1}"]) for i in range(100)]
    fake_dns.add_zone("example.com", records)
    fake_dns.add_key()
    return fake_dns


def client():
    return _dns.Client(["127.0.0.1"], key=_dns.make_key("ddns-key", SECRET))


def entries(count):
    return [E(f"h{i}", "A", [f"10.0.0.{i + 1}"], ttl=300) for i in range(count)]


def test_a_converged_batch_is_read_with_one_signed_transfer(server):
    result = _dns.converge(client(), entries(100), zone="example.com")
    assert not result.changed
    assert result.transfers_sent == 1
    assert result.queries_sent == 1  # the zone's SOA check only, no query per name
    assert result.reads == {"example.com.": "axfr"}
    (transfer,) = [m for kind, m in server.sent if kind == "transfer"]
    assert transfer.had_tsig and transfer.keyname.to_text() == "ddns-key."


def test_the_transfer_reads_what_queries_read(server):
    server.put("t.example.com", "TXT", 60, ['"a" "b"'])
    server.put("sub.example.com", "NS", 600, ["ns.other.net."])
    batch = entries(MANY) + [E("t", "TXT", ['"a" "b"'], ttl=60), E("sub", "NS", ["ns.other.net."], ttl=600)]
    by_query = _dns.converge(client(), batch, zone="example.com", read="query")
    by_transfer = _dns.converge(client(), batch, zone="example.com", read="axfr")
    assert by_query.rrsets == by_transfer.rrsets
    assert not by_transfer.changed and by_transfer.reads == {"example.com.": "axfr"}


def test_a_name_below_a_delegation_is_read_per_name_as_a_query_would(server):
    server.put("sub.example.com", "NS", 600, ["ns.sub.example.com."])
    server.put("ns.sub.example.com", "A", 600, ["10.9.9.9"])  # glue: a query gets a referral
    batch = entries(MANY) + [E("ns.sub", "A", ["10.9.9.9"], ttl=600)]
    by_query = _dns.converge(client(), batch, zone="example.com", read="query", check_mode=True)
    by_transfer = _dns.converge(client(), batch, zone="example.com", read="axfr", check_mode=True)
    assert by_query.rrsets == by_transfer.rrsets


def test_changes_are_found_and_written_and_read_back_by_transfer(server):
    batch = [E(f"h{i}", "A", [f"10.1.0.{i + 1}"], ttl=300) for i in range(50)] + [E("new", "A", ["10.2.0.1"])]
    result = _dns.converge(client(), batch, zone="example.com")
    assert len(result.changes) == 51
    assert result.updates_sent == 1
    assert result.transfers_sent == 2  # the read and the read-back
    assert result.queries_sent == 1
    assert server.get("h7.example.com", "A") == (300, ["10.1.0.8"])
    assert not _dns.converge(client(), batch, zone="example.com").changed


def test_a_small_batch_is_read_per_name(server):
    result = _dns.converge(client(), entries(MANY - 1), zone="example.com")
    assert result.transfers_sent == 0
    assert result.queries_sent == MANY
    assert result.reads == {"example.com.": "query"}


def test_read_query_never_transfers(server):
    result = _dns.converge(client(), entries(100), zone="example.com", read="query")
    assert result.transfers_sent == 0 and result.queries_sent == 101


def test_a_refused_transfer_falls_back_to_queries_with_a_note(server):
    server.transfer_refused = True
    result = _dns.converge(client(), entries(40), zone="example.com")
    assert not result.changed
    assert result.transfers_sent == 1
    assert result.queries_sent == 41
    assert result.reads == {"example.com.": "query"}
    (note,) = result.notes
    assert "refused the zone transfer (AXFR) of example.com. (REFUSED)" in note
    assert "allow-transfer" in note and "read its 40 record sets with one query each" in note


def test_read_axfr_fails_when_the_transfer_is_refused(server):
    server.transfer_refused = True
    with pytest.raises(_dns.ZoneTransferRefused) as caught:
        _dns.converge(client(), entries(2), zone="example.com", read="axfr")
    assert caught.value.details["dns_rc_str"] == "REFUSED"
    assert server.count("update") == 0


def test_an_unreachable_server_during_the_transfer_is_an_error_in_words(server):
    c = client()
    wanted, _zones = _dns.prepare(c, entries(MANY), zone="example.com")
    server.down.add("127.0.0.1")
    with pytest.raises(DcosError, match=r"Connection refused \(server unreachable\)"):
        _dns.read_current(c, wanted)


def test_bad_read_mode_names_the_option(server):
    with pytest.raises(DcosError, match="read: 'fast' is not one of auto, axfr, query"):
        _dns.converge(client(), entries(1), zone="example.com", read="fast")
