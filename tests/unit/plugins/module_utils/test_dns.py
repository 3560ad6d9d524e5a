# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DNS core against the in-memory server of ``conftest.py`` (only ``dns.query.*`` is replaced)."""

from __future__ import annotations

import dns.name
import dns.rdatatype
import dns.update
import pytest

from ansible_collections.pptv.dcos.plugins.module_utils import _dns
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="  # the fake server's key (conftest.py)

E = _dns.Entry


@pytest.fixture
def server(fake_dns):
    fake_dns.add_zone("example.com", [("web.example.com", "A", 300, ["10.0.0.1", "10.0.0.2"])])
    fake_dns.add_zone("0.10.in-addr.arpa")
    fake_dns.add_key()
    return fake_dns


def client(**kwargs):
    kwargs.setdefault("key", _dns.make_key("ddns-key", SECRET))
    servers = kwargs.pop("servers", ["127.0.0.1"])
    return _dns.Client(servers, **kwargs)


def converge(entries, zone="example.com", **kwargs):
    c = kwargs.pop("client", None) or client()
    return _dns.converge(c, entries, zone=zone, **kwargs)


# -- idempotency --------------------------------------------------------------------------------


def test_create_when_absent(server):
    result = converge([E("api", "A", ["10.0.0.9"], ttl=60)])
    assert result.changed
    assert result.updates_sent == 1
    assert server.get("api.example.com", "A") == (60, ["10.0.0.9"])
    assert result.rrsets == [
        {
            "record": "api.example.com.",
            "zone": "example.com.",
            "type": "A",
            "state": "present",
            "changed": True,
            "before": None,
            "after": {"ttl": 60, "values": ["10.0.0.9"]},
        }
    ]


def test_matching_set_in_another_order_with_duplicates_is_unchanged(server):
    result = converge([E("web", "A", ["10.0.0.2", "10.0.0.1", "10.0.0.2"], ttl=300)])
    assert not result.changed
    assert server.count("update") == 0


def test_differing_values_are_changed(server):
    result = converge([E("web", "A", ["10.0.0.3"])])
    assert result.changed
    assert server.get("web.example.com", "A") == (300, ["10.0.0.3"])


def test_ttl_only_change_is_a_change(server):
    result = converge([E("web", "A", ["10.0.0.1", "10.0.0.2"], ttl=30)])
    assert result.changed
    assert result.changes[0].before.ttl == 300
    assert server.get("web.example.com", "A") == (30, ["10.0.0.1", "10.0.0.2"])


def test_omitted_ttl_keeps_the_existing_one_and_new_sets_get_3600(server):
    assert not converge([E("web", "A", ["10.0.0.1", "10.0.0.2"])]).changed
    converge([E("new", "A", ["10.0.0.5"])])
    assert server.get("new.example.com", "A") == (3600, ["10.0.0.5"])


def test_ipv6_values_are_compared_as_addresses(server):
    server.put("v6.example.com", "AAAA", 300, ["2001:db8::1"])
    assert not converge([E("v6", "AAAA", ["2001:DB8:0:0::1"], ttl=300)]).changed


def test_exclusive_false_adds_and_absent_removes_single_values(server):
    converge([E("web", "A", ["10.0.0.3"], exclusive=False)])
    assert server.get("web.example.com", "A")[1] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    update = [m for k, m in server.sent if k == "update"][-1]
    # Only the new record is added: no delete of the set.
    assert [(r.deleting, list(r)) for r in update.update] == [(None, [dns.rdata.from_text("IN", "A", "10.0.0.3")])]
    converge([E("web", "A", ["10.0.0.1"], state="absent")])
    assert server.get("web.example.com", "A")[1] == ["10.0.0.2", "10.0.0.3"]


def test_absent_without_value_deletes_the_set_and_twice_is_unchanged(server):
    assert converge([E("web", "A", state="absent")]).changed
    assert server.get("web.example.com", "A") is None
    second = converge([E("web", "A", state="absent")])
    assert not second.changed
    assert second.updates_sent == 0


def test_entries_for_the_same_set_apply_in_order(server):
    result = converge([E("web", "A", ["10.0.0.7"]), E("web", "A", ["10.0.0.8"], exclusive=False)])
    assert len(result.rrsets) == 1
    assert server.get("web.example.com", "A")[1] == ["10.0.0.7", "10.0.0.8"]


# -- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("plain", '"plain"'),
        ("with spaces", '"with spaces"'),
        ('"already" "quoted"', '"already" "quoted"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("x" * 300, '"' + "x" * 255 + '" "' + "x" * 45 + '"'),
    ],
)
def test_txt_values(server, value, stored):
    converge([E("t", "TXT", [value])])
    assert server.get("t.example.com", "TXT")[1] == [stored]
    assert not converge([E("t", "TXT", [value])]).changed


@pytest.mark.parametrize("target", ["web", "web.example.com.", "WEB.Example.COM."])
def test_cname_targets_relative_absolute_and_any_case_are_the_same(server, target):
    converge([E("alias", "CNAME", ["web"])])
    assert server.get("alias.example.com", "CNAME")[1] == ["web.example.com."]
    assert not converge([E("alias", "CNAME", [target])]).changed


def test_every_type_parses_and_reads_back(server):
    entries = [
        E("a.example.com.", "A", ["10.1.1.1"]),
        E("aaaa.example.com.", "AAAA", ["::1"]),
        E("cname.example.com.", "CNAME", ["a"]),
        E("_x._tcp.example.com.", "SRV", ["0 5 80 a"]),
        E("txt.example.com.", "TXT", ["v"]),
        E("mx.example.com.", "MX", ["10 a"]),
        E("sub.example.com.", "NS", ["ns1.other.net."]),
        E("1.1.0.10.in-addr.arpa.", "PTR", ["a.example.com."]),
    ]
    first = _dns.converge(client(), entries)
    assert first.zones == ["example.com.", "0.10.in-addr.arpa."]
    assert first.updates_sent == 2
    assert not _dns.converge(client(), entries).changed
    assert server.get("_x._tcp.example.com", "SRV")[1] == ["0 5 80 a.example.com."]


def test_bad_value_names_the_entry_and_the_type(server):
    with pytest.raises(DcosError) as caught:
        converge([E("ok", "A", ["10.0.0.1"], index=0), E("bad", "MX", ["mail"], index=1)])
    assert caught.value.msg.startswith("records[1].value[0]: 'mail' is not a valid MX value")
    assert server.count("update") == 0


def test_cname_with_two_values_is_refused(server):
    with pytest.raises(DcosError, match="value: a CNAME record set holds exactly one value"):
        converge([E("alias", "CNAME", ["a", "b"])])


def test_name_outside_the_zone(server):
    with pytest.raises(DcosError, match=r"record: www\.other\.net\. is not inside zone example\.com\."):
        converge([E("www.other.net.", "A", ["10.0.0.1"])])


def test_present_without_value(server):
    with pytest.raises(DcosError, match="value: at least one value is required"):
        converge([E("x", "A", None)])


# -- NS -----------------------------------------------------------------------------------------


def test_apex_ns_is_changed_by_adding_before_deleting_single_records(server):
    result = converge([E("@", "NS", ["ns2.example.com."])])
    assert result.changed
    assert server.get("example.com", "NS")[1] == ["ns2.example.com."]
    update = [m for k, m in server.sent if k == "update"][-1]
    kinds = [r.deleting for r in update.update]
    assert kinds == [None, dns.rdataclass.NONE]  # add, then delete one record (never the whole set)


def test_delegation_ns_is_read_from_the_authority_section(server):
    server.put("sub.example.com", "NS", 600, ["ns.other.net."])
    result = converge([E("sub", "NS", ["ns.other.net."], ttl=600)])
    assert not result.changed
    assert result.rrsets[0]["before"] == {"ttl": 600, "values": ["ns.other.net."]}


# -- zone discovery -----------------------------------------------------------------------------


def test_zone_found_from_the_soa_forward_and_reverse(server):
    result = converge(
        [E("deep.name.example.com.", "A", ["10.0.0.1"]), E("5.0.0.10.in-addr.arpa.", "PTR", ["web.example.com."])],
        zone=None,
    )
    assert result.zones == ["example.com.", "0.10.in-addr.arpa."]
    assert server.get("5.0.0.10.in-addr.arpa", "PTR") == (3600, ["web.example.com."])


def test_zone_discovery_on_a_refused_name_fails_in_words(server):
    with pytest.raises(DcosError) as caught:
        converge([E("www.nowhere.org.", "A", ["10.0.0.1"])], zone=None)
    assert "not authoritative for any zone holding www.nowhere.org." in caught.value.msg


def test_given_zone_the_server_does_not_serve(server):
    with pytest.raises(DcosError) as caught:
        converge([E("www", "A", ["10.0.0.1"])], zone="nowhere.org")
    assert "REFUSED" in caught.value.msg and "nowhere.org" in caught.value.msg
    assert server.count("update") == 0


def test_update_for_a_zone_that_is_not_there_is_notauth(server):
    c = client()
    change = _dns.Change(
        dns.name.from_text("gone.org"),
        dns.name.from_text("a.gone.org"),
        dns.rdatatype.A,
        None,
        _dns.RecordSet(60, [dns.rdata.from_text("IN", "A", "10.0.0.1")]),
    )
    with pytest.raises(DcosError, match=r"not authoritative for gone\.org\. \(NOTAUTH\)"):
        _dns.send_changes(c, [change])


# -- TSIG ---------------------------------------------------------------------------------------


def test_bad_base64_secret_names_the_option_without_echoing_it():
    with pytest.raises(DcosError) as caught:
        _dns.make_key("ddns-key", "not base64 at all!!")
    assert caught.value.msg == "key_secret: not valid base64 (the secret of a BIND key statement)"


def test_wrong_secret_is_badsig_in_words(server):
    wrong = "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlci0="
    with pytest.raises(DcosError) as caught:
        converge([E("web", "A", ["10.0.0.1"])], client=client(key=_dns.make_key("ddns-key", wrong)))
    assert "(BADSIG)" in caught.value.msg and "key_secret" in caught.value.msg
    assert wrong not in caught.value.msg and SECRET not in caught.value.msg
    assert server.count("update") == 0


def test_unknown_key_is_badkey_in_words(server):
    with pytest.raises(DcosError) as caught:
        converge([E("web", "A", ["10.0.0.1"])], client=client(key=_dns.make_key("who", SECRET)))
    assert "does not know the TSIG key who with algorithm hmac-sha256 (BADKEY)" in caught.value.msg


def test_key_not_allowed_is_refused_in_words(server):
    server.add_key("reader", allowed=False)
    with pytest.raises(DcosError) as caught:
        converge([E("web", "A", ["10.0.0.1"])], client=client(key=_dns.make_key("reader", SECRET)))
    assert "(REFUSED)" in caught.value.msg and "reader" in caught.value.msg
    assert caught.value.details["dns_rc_str"] == "REFUSED"


def test_queries_and_updates_are_signed(server):
    converge([E("api", "A", ["10.0.0.9"])])
    assert server.sent
    assert all(m.had_tsig and m.keyname == dns.name.from_text("ddns-key") for _kind, m in server.sent)


def test_key_file_in_tsig_keygen_format(tmp_path):
    path = tmp_path / "k.key"
    path.write_text(f'key "ddns-key" {{\n\talgorithm hmac-sha512;\n\tsecret "{SECRET}";\n}};\n')
    assert _dns.read_key_file(str(path)) == ("ddns-key", "hmac-sha512", SECRET)
    (tmp_path / "bad.key").write_text("options {};")
    with pytest.raises(DcosError, match="key_file: .* holds no BIND key statement"):
        _dns.read_key_file(str(tmp_path / "bad.key"))


# -- check mode ---------------------------------------------------------------------------------


def test_check_mode_sends_only_queries(server):
    result = converge([E("web", "A", ["10.0.0.5"]), E("new", "A", ["10.0.0.6"])], check_mode=True)
    assert result.changed
    assert result.updates_sent == 0
    assert server.count("update") == 0
    assert server.count("query") == result.queries_sent == 3  # zone SOA + two record sets
    assert server.get("web.example.com", "A") == (300, ["10.0.0.1", "10.0.0.2"])
    assert [c.label for c in result.changes] == ["web.example.com. A", "new.example.com. A"]


# -- prerequisites and races --------------------------------------------------------------------


def test_update_carries_prerequisites_for_what_was_read(server):
    converge([E("web", "A", ["10.0.0.3"]), E("new", "A", ["10.0.0.4"])])
    update = [m for k, m in server.sent if k == "update"][-1]
    prereqs = {}
    for rrset in update.prerequisite:  # one RR per RRset in this section once parsed
        key = (rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), rrset.deleting)
        prereqs[key] = sorted(prereqs.get(key, []) + [r.to_text() for r in rrset])
    assert prereqs == {
        ("web.example.com.", "A", None): ["10.0.0.1", "10.0.0.2"],  # exactly what was read
        ("new.example.com.", "A", dns.rdataclass.NONE): [],  # "does not exist"
        ("new.example.com.", "CNAME", dns.rdataclass.NONE): [],  # and no CNAME there
    }


def test_a_concurrent_writer_fails_the_update_cleanly(server):
    server.before_update = lambda: server.put("web.example.com", "A", 300, ["10.0.0.1", "10.0.0.2", "10.9.9.9"])
    with pytest.raises(_dns.DnsConflict) as caught:
        converge([E("web", "A", ["10.0.0.3"])])
    assert "NXRRSET" in caught.value.msg and "web.example.com. A" in caught.value.msg
    assert caught.value.details["record_sets"] == ["web.example.com. A"]
    assert server.get("web.example.com", "A")[1] == ["10.0.0.1", "10.0.0.2", "10.9.9.9"]


def test_a_concurrent_create_fails_the_create(server):
    server.before_update = lambda: server.put("new.example.com", "A", 60, ["10.9.9.9"])
    with pytest.raises(_dns.DnsConflict, match="YXRRSET"):
        converge([E("new", "A", ["10.0.0.3"])])
    assert server.get("new.example.com", "A") == (60, ["10.9.9.9"])


def test_retry_rereads_and_converges(server):
    server.before_update = lambda: server.put("web.example.com", "A", 300, ["10.0.0.1", "10.0.0.2", "10.9.9.9"])
    result = converge([E("web", "A", ["10.0.0.3"], exclusive=False)], retries=1)
    assert result.retries == 1
    assert result.updates_sent == 2
    assert server.get("web.example.com", "A")[1] == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.9.9.9"]


def test_a_server_that_ignores_part_of_an_update_is_caught(server):
    converge([E("alias", "CNAME", ["web"])])
    server.ignore_updates = True
    with pytest.raises(DcosError, match="accepted the update but did not apply all of it: web.example.com. A"):
        converge([E("web", "A", ["10.0.0.3"])])


def test_cname_next_to_other_data_is_reported(server):
    with pytest.raises(DcosError, match="did not apply all of it"):
        converge([E("web", "CNAME", ["other.net."])])


# -- batching -----------------------------------------------------------------------------------


def test_thousand_records_go_in_one_tcp_message(server):
    entries = [E(f"h{i}", "A", [f"10.2.{i // 250}.{i % 250}"], ttl=60) for i in range(1000)]
    result = converge(entries)
    assert result.updates_sent == 1
    assert server.count("update") == 1
    assert len(server.zones[dns.name.from_text("example.com")]) >= 1000
    assert not converge(entries).changed


def test_udp_messages_stay_within_1232_bytes_and_are_few(server):
    entries = [E(f"h{i}", "A", [f"10.2.0.{i}"]) for i in range(100)]
    result = converge(entries, client=client(protocol="udp"))
    sizes = [len(m.to_wire()) for k, m in server.sent if k == "update"]
    assert result.updates_sent == len(sizes)
    assert max(sizes) <= 1232
    assert len(sizes) <= 6  # 100 A records, about 20 per message
    assert server.get("h99.example.com", "A") == (3600, ["10.2.0.99"])


def _rdata(rdtype, text, origin):
    return dns.rdata.from_text("IN", rdtype, text, origin=origin, relativize=False)


def test_pack_bound_holds_for_a_mixed_large_batch():
    zone = dns.name.from_text("example.com")
    key = _dns.make_key("ddns-key", SECRET, "hmac-sha512")
    values = {
        "A": lambda i: f"10.0.{i % 250}.1",
        "TXT": lambda i: '"' + "t" * (i % 200) + '"',
        "SRV": lambda i: f"0 1 {i} x{i}.other.net.",
        "MX": lambda i: f"{i} mx{i}",
    }
    changes = []
    for i in range(3000):
        rdtype = ("A", "TXT", "SRV", "MX")[i % 4]
        before = _dns.RecordSet(60, {_rdata(rdtype, values[rdtype](i), zone)}) if i % 3 else None
        after = _dns.RecordSet(120, {_rdata(rdtype, values[rdtype](i + 1), zone)})
        name = dns.name.from_text(f"n{i}.sub{i % 7}", origin=zone)
        changes.append(_dns.Change(zone, name, dns.rdatatype.from_text(rdtype), before, after))
    for limit in (_dns.MAX_UDP_MESSAGE, _dns.MAX_TCP_MESSAGE):
        batches = _dns.pack(changes, limit, _dns.message_overhead(zone, key))
        assert sum(len(b) for b in batches) == len(changes)
        for batch in batches:
            update = dns.update.UpdateMessage(zone)
            for change in batch:
                change.add_to(update)
            update.use_tsig(key)
            assert len(update.to_wire()) <= limit


def test_a_failed_message_reports_what_was_applied_before(server):
    entries = [E(f"h{i}", "A", [f"10.2.0.{i}"]) for i in range(60)]
    calls = {"n": 0}

    def race():
        server.put("h59.example.com", "A", 60, ["10.9.9.9"])

    original = server._update

    def second_update_races(request):
        calls["n"] += 1
        if calls["n"] == 3:
            server.before_update = race
        return original(request)

    server._update = second_update_races
    with pytest.raises(_dns.DnsConflict) as caught:
        converge(entries, client=client(protocol="udp"))
    assert caught.value.details["applied"] > 0
    assert caught.value.details["updates_sent"] == 3


# -- transport failures -------------------------------------------------------------------------


def test_unreachable_server(server):
    server.down.add("127.0.0.1")
    with pytest.raises(DcosError) as caught:
        converge([E("web", "A", ["10.0.0.1"])])
    assert caught.value.msg == (
        "server: cannot reach any DNS server on port 53/tcp: "
        "127.0.0.1 (127.0.0.1): Connection refused (server unreachable)"
    )


def test_timeout(server):
    server.silent.add("127.0.0.1")
    with pytest.raises(DcosError, match=r"no answer within 2 s \(timeout\)"):
        converge([E("web", "A", ["10.0.0.1"])], client=client(timeout=2))


def test_next_server_is_tried_and_then_preferred(server):
    server.down.add("127.0.0.2")
    c = client(servers=["127.0.0.2", "127.0.0.1"])
    converge([E("web", "A", ["10.0.0.1"])], client=c)
    assert server.get("web.example.com", "A")[1] == ["10.0.0.1"]
    assert c._preferred == 1
