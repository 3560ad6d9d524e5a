# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv.dcos.dns_record against a real BIND (named from Debian's bind9) on 127.0.0.1.

The server is started by a session fixture with its own config, zones and TSIG keys in a
``pptvdns-*`` tmp dir (recursion off, no forwarders) and stopped by PID at teardown. Every state is
checked with an independent read: ``dig`` against the server. UPDATE messages are counted twice:
``updates_sent`` from the module, and BIND's own opcode counter (statistics channel).
"""

from __future__ import annotations

import re
import socket
import subprocess

import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.tsig
import dns.update
import pytest
from support.ansible_run import run_play, run_task
from support.bind import Bind, clean_stale

from ansible_collections.pptv.dcos.plugins.module_utils import _dns
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

ZONE = "example.test"


@pytest.fixture(scope="session")
def bind():
    clean_stale()
    server = Bind(zones=(ZONE, "2.0.192.in-addr.arpa"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def args(bind):
    """The connection options every task needs."""
    return {
        "server": "127.0.0.1",
        "port": bind.port,
        "key_name": bind.key_name,
        "key_secret": bind.key_secret,
        "zone": ZONE,
    }


def values(bind, name, rdtype="A"):
    """(ttl, sorted values) of a record set as dig sees it; (None, []) when absent."""
    rows = [row for row in bind.dig(name, rdtype) if row[3] == rdtype]
    if not rows:
        return None, []
    return int(rows[0][1]), sorted(" ".join(row[4:]) for row in rows)


def raw_update(bind, build):
    """A write by 'another writer': a signed UPDATE sent with plain dnspython."""
    key = dns.tsig.Key(bind.key_name, bind.key_secret, "hmac-sha256")
    update = dns.update.UpdateMessage(ZONE, keyring=key)
    build(update)
    response = dns.query.tcp(update, "127.0.0.1", port=bind.port, timeout=5)
    assert response.rcode() == dns.rcode.NOERROR


# -- the single form ----------------------------------------------------------------------------


def test_add_then_same_again_is_unchanged(bind, args):
    seen = bind.updates_received()
    first = run_task("dns_record", dict(args, record="add1", value=["10.0.1.1", "10.0.1.2"], ttl=120))
    assert not first.failed, first["msg"]
    assert first.changed
    assert first["updates_sent"] == 1
    assert bind.updates_received() - seen == 1
    assert values(bind, "add1.example.test") == (120, ["10.0.1.1", "10.0.1.2"])
    assert first["record_sets"][0]["before"] is None
    assert first["record_sets"][0]["after"] == {"ttl": 120, "values": ["10.0.1.1", "10.0.1.2"]}

    # Same values in another order, with a duplicate: nothing to do, nothing sent.
    again = run_task("dns_record", dict(args, record="add1", value=["10.0.1.2", "10.0.1.1", "10.0.1.2"], ttl=120))
    assert not again.failed, again["msg"]
    assert not again.changed
    assert again["updates_sent"] == 0
    assert bind.updates_received() - seen == 1


def test_ttl_only_change_is_a_change(bind, args):
    run_task("dns_record", dict(args, record="ttl1", value=["10.0.2.1"], ttl=300))
    changed = run_task("dns_record", dict(args, record="ttl1", value=["10.0.2.1"], ttl=60), diff=True)
    assert changed.changed
    assert changed["diff"]["before"]["ttl1.example.test. A"] == {"ttl": 300, "values": ["10.0.2.1"]}
    assert changed["diff"]["after"]["ttl1.example.test. A"] == {"ttl": 60, "values": ["10.0.2.1"]}
    assert values(bind, "ttl1.example.test") == (60, ["10.0.2.1"])
    # Without ttl, the existing TTL is kept (only what the user specified is compared).
    kept = run_task("dns_record", dict(args, record="ttl1", value=["10.0.2.1"]))
    assert not kept.changed
    assert values(bind, "ttl1.example.test") == (60, ["10.0.2.1"])


def test_exclusive_false_adds_and_removes_one_value(bind, args):
    run_task("dns_record", dict(args, record="ex1", value=["10.0.3.1", "10.0.3.2"], ttl=300))
    added = run_task("dns_record", dict(args, record="ex1", value=["10.0.3.3"], exclusive=False))
    assert added.changed
    assert values(bind, "ex1.example.test") == (300, ["10.0.3.1", "10.0.3.2", "10.0.3.3"])
    assert not run_task("dns_record", dict(args, record="ex1", value=["10.0.3.3"], exclusive=False)).changed

    removed = run_task("dns_record", dict(args, record="ex1", value=["10.0.3.2"], state="absent"))
    assert removed.changed
    assert values(bind, "ex1.example.test") == (300, ["10.0.3.1", "10.0.3.3"])
    assert not run_task("dns_record", dict(args, record="ex1", value=["10.0.3.2"], state="absent")).changed

    # exclusive (the default): the set becomes exactly the value.
    exact = run_task("dns_record", dict(args, record="ex1", value=["10.0.3.1"]))
    assert exact.changed
    assert values(bind, "ex1.example.test") == (300, ["10.0.3.1"])


def test_absent_twice(bind, args):
    run_task("dns_record", dict(args, record="gone1", value=["10.0.4.1", "10.0.4.2"]))
    first = run_task("dns_record", dict(args, record="gone1", state="absent"))
    assert first.changed
    assert first["record_sets"][0]["after"] is None
    assert values(bind, "gone1.example.test") == (None, [])
    second = run_task("dns_record", dict(args, record="gone1", state="absent"))
    assert not second.failed, second["msg"]
    assert not second.changed
    assert second["updates_sent"] == 0


EVERY_TYPE = [
    # type, record, value, zone (None = found from the SOA), what dig shows
    ("A", "t-a", ["10.0.5.1"], ZONE, ["10.0.5.1"]),
    ("AAAA", "t-aaaa", ["2001:DB8:0::0:1"], ZONE, ["2001:db8::1"]),
    ("CNAME", "t-cname", ["ns1"], ZONE, ["ns1.example.test."]),
    ("SRV", "_http._tcp.t-srv", ["0 5 8080 ns1"], ZONE, ["0 5 8080 ns1.example.test."]),
    ("TXT", "t-txt", ["hello world", '"v=1" "x"'], ZONE, ['"hello world"', '"v=1" "x"']),
    ("PTR", "5.2.0.192.in-addr.arpa.", ["ns1.example.test."], None, ["ns1.example.test."]),
    ("MX", "t-mx", ["10 ns1", "20 mail.elsewhere.test."], ZONE, ["10 ns1.example.test.", "20 mail.elsewhere.test."]),
    ("NS", "t-ns", ["ns1", "ns2.example.test."], ZONE, ["ns1.example.test.", "ns2.example.test."]),
]


@pytest.mark.parametrize(("rdtype", "record", "value", "zone", "shown"), EVERY_TYPE, ids=[t[0] for t in EVERY_TYPE])
def test_every_type_round_trip(bind, args, rdtype, record, value, zone, shown):
    task_args = dict(args, record=record, type=rdtype, value=value, zone=zone)
    if zone is None:
        del task_args["zone"]
    name = dns.name.from_text(record, origin=dns.name.from_text(ZONE)).to_text()
    gone = dict(task_args, state="absent")
    gone.pop("value")
    created, again, removed = run_play(
        [{"pptv.dcos.dns_record": a, "ignore_errors": True} for a in (task_args, task_args, gone)]
    )
    assert not created.failed, created["msg"]
    assert created.changed
    assert created["record_sets"][0]["record"] == name
    if zone is None:
        assert created["zone"] == "2.0.192.in-addr.arpa."
    assert not again.changed
    assert removed.changed
    # NS below the apex is a delegation: dig shows it in the authority section, so read it with the core.
    client = _dns.Client("127.0.0.1", port=bind.port, key=_dns.make_key(bind.key_name, bind.key_secret))
    assert _dns.read_rrset(client, None, dns.name.from_text(name), dns.rdatatype.from_text(rdtype)) is None


def test_every_type_is_visible_to_dig(bind, args):
    """One batch with every type; dig reads each record set back."""
    records = [{"record": r, "type": t, "value": v} for t, r, v, _zone, _shown in EVERY_TYPE if t != "NS"]
    result = run_task(
        "dns_record", dict(args, zone=None, records=[dict(r, record=_fqdn(r["record"])) for r in records])
    )
    assert not result.failed, result["msg"]
    assert result["zones"] == ["example.test.", "2.0.192.in-addr.arpa."]
    assert result["updates_sent"] == 2  # one per zone
    for rdtype, record, _value, _zone, shown in EVERY_TYPE:
        if rdtype == "NS":
            continue
        assert values(bind, _fqdn(record), rdtype)[1] == sorted(shown), rdtype
    # The delegation: dig shows NS below the apex in the authority section.
    run_task("dns_record", dict(args, record="deleg", type="NS", value=["ns1", "ns2"]))
    out = bind.dig("x.deleg.example.test", "A")
    assert out == []  # a referral has no answer...
    referral = subprocess.run(
        ["dig", "+norec", "+noall", "+authority", "-p", str(bind.port), "@127.0.0.1", "x.deleg.example.test", "A"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "deleg.example.test." in referral and "ns1.example.test." in referral


def _fqdn(record):
    return record if record.endswith(".") else f"{record}.{ZONE}."


def test_apex_ns_change_keeps_the_zone_delegated(bind, args):
    added = run_task("dns_record", dict(args, record="@", type="NS", value=["ns1", "ns2", "ns1.elsewhere.test."]))
    assert added.changed, added.get("msg")
    assert values(bind, ZONE, "NS")[1] == ["ns1.elsewhere.test.", "ns1.example.test.", "ns2.example.test."]
    back = run_task("dns_record", dict(args, record="@", type="NS", value=["ns1", "ns2"]))
    assert back.changed, back.get("msg")
    assert values(bind, ZONE, "NS")[1] == ["ns1.example.test.", "ns2.example.test."]


def test_cname_next_to_other_data_is_reported_not_silently_ignored(bind, args):
    run_task("dns_record", dict(args, record="both", value=["10.0.6.1"]))
    result = run_task("dns_record", dict(args, record="both", type="CNAME", value=["ns1"]))
    assert result.failed
    assert "did not apply all of it" in result["msg"]
    assert "CNAME" in result["msg"]
    assert values(bind, "both.example.test", "CNAME") == (None, [])


# -- check mode and diff ------------------------------------------------------------------------


def test_check_mode_reads_reports_and_writes_nothing(bind, args):
    seen = bind.updates_received()
    result = run_task("dns_record", dict(args, record="chk1", value=["10.0.7.1"], ttl=90), check=True, diff=True)
    assert not result.failed, result["msg"]
    assert result.changed
    assert result["updates_sent"] == 0
    assert result["diff"]["after"] == {"chk1.example.test. A": {"ttl": 90, "values": ["10.0.7.1"]}}
    assert result["actions"] == ["create chk1.example.test. A: add 10.0.7.1"]
    # Independent read: the record does not exist, and BIND received no UPDATE.
    assert values(bind, "chk1.example.test") == (None, [])
    assert bind.updates_received() == seen

    run_task("dns_record", dict(args, record="chk1", value=["10.0.7.1"], ttl=90))
    checked_delete = run_task("dns_record", dict(args, record="chk1", state="absent"), check=True)
    assert checked_delete.changed
    assert values(bind, "chk1.example.test") == (90, ["10.0.7.1"])


def test_diff_shows_record_sets_before_and_after(bind, args):
    run_task("dns_record", dict(args, record="dif1", value=["10.0.8.1", "10.0.8.2"], ttl=300))
    result = run_task(
        "dns_record",
        dict(
            args,
            records=[
                {"record": "dif1", "value": ["10.0.8.2", "10.0.8.3"]},
                {"record": "dif2", "value": ["::1"], "type": "AAAA"},
            ],
        ),
        diff=True,
    )
    assert result["diff"] == {
        "before": {
            "dif1.example.test. A": {"ttl": 300, "values": ["10.0.8.1", "10.0.8.2"]},
            "dif2.example.test. AAAA": None,
        },
        "after": {
            "dif1.example.test. A": {"ttl": 300, "values": ["10.0.8.2", "10.0.8.3"]},
            "dif2.example.test. AAAA": {"ttl": 3600, "values": ["::1"]},
        },
    }
    assert "dif1.example.test. A" in result["stdout"]


# -- the batch form -----------------------------------------------------------------------------


def test_batch_of_500_records_in_one_update(bind, args):
    records = [{"record": f"b{i}", "value": [f"10.1.{i // 250}.{i % 250 + 1}"], "ttl": 60} for i in range(500)]
    seen = bind.updates_received()
    result = run_task("dns_record", dict(args, records=records))
    assert not result.failed, result["msg"]
    assert result.changed
    assert len(result["record_sets"]) == 500
    assert result["updates_sent"] == 1
    assert bind.updates_received() - seen == 1
    axfr = bind.dig(ZONE, "AXFR", "-y", f"hmac-sha256:{bind.key_name}:{bind.key_secret}")
    batch = {row[0]: row[4] for row in axfr if re.fullmatch(r"b\d+\.example\.test\.", row[0]) and row[3] == "A"}
    assert len(batch) == 500
    assert batch["b0.example.test."] == "10.1.0.1"
    assert batch["b499.example.test."] == "10.1.1.250"

    # Converged: nothing sent; one change among 500: one message with one record set.
    assert run_task("dns_record", dict(args, records=records))["updates_sent"] == 0
    records[123]["value"] = ["10.9.9.9"]
    one = run_task("dns_record", dict(args, records=records))
    assert one["updates_sent"] == 1
    assert [r["record"] for r in one["record_sets"] if r["changed"]] == ["b123.example.test."]
    assert values(bind, "b123.example.test") == (60, ["10.9.9.9"])
    assert bind.updates_received() - seen == 2


def test_batch_over_udp_uses_more_but_few_messages(bind, args):
    records = [{"record": f"u{i}", "value": [f"10.2.0.{i + 1}"]} for i in range(60)]
    result = run_task("dns_record", dict(args, protocol="udp", records=records))
    assert not result.failed, result["msg"]
    # 60 record sets do not fit in one 1232-byte message, and need far fewer than 60.
    assert 1 < result["updates_sent"] < 10
    assert values(bind, "u59.example.test") == (3600, ["10.2.0.60"])


# -- failures, in words -------------------------------------------------------------------------


def test_wrong_secret_is_badsig_and_the_secret_never_appears(bind, args):
    wrong = "c2VjcmV0LXRoYXQtaXMtd3Jvbmctc2VjcmV0LXRoYXQ="
    result = run_task("dns_record", dict(args, record="k1", value=["10.0.9.1"], key_secret=wrong))
    assert result.failed
    assert "BADSIG" in result["msg"] and "key_secret" in result["msg"]
    assert wrong not in result["stdout"]
    assert bind.key_secret not in result["stdout"]
    assert values(bind, "k1.example.test") == (None, [])


def test_unknown_key_or_algorithm_is_badkey(bind, args):
    unknown = run_task("dns_record", dict(args, record="k2", value=["10.0.9.2"], key_name="nosuchkey"))
    assert unknown.failed
    assert "BADKEY" in unknown["msg"] and "nosuchkey" in unknown["msg"]
    algorithm = run_task("dns_record", dict(args, record="k2", value=["10.0.9.2"], key_algorithm="hmac-sha512"))
    assert "BADKEY" in algorithm["msg"] and "hmac-sha512" in algorithm["msg"]
    assert bind.key_secret not in unknown["stdout"] + algorithm["stdout"]


def test_key_not_allowed_to_update_is_refused(bind, args):
    result = run_task(
        "dns_record",
        dict(args, record="k3", value=["10.0.9.3"], key_name=bind.other_key_name, key_secret=bind.other_key_secret),
    )
    assert result.failed
    assert "REFUSED" in result["msg"] and bind.other_key_name in result["msg"]
    assert result["dns_rc_str"] == "REFUSED"
    assert values(bind, "k3.example.test") == (None, [])


def test_key_file_from_tsig_keygen_format(bind, args, tmp_path):
    key_file = tmp_path / "ddns.key"
    key_file.write_text(f'key "{bind.key_name}" {{\n\talgorithm hmac-sha256;\n\tsecret "{bind.key_secret}";\n}};\n')
    task_args = dict(args, record="kf1", value=["10.0.9.4"], key_file=str(key_file))
    del task_args["key_secret"], task_args["key_name"]
    result = run_task("dns_record", task_args)
    assert not result.failed, result["msg"]
    assert values(bind, "kf1.example.test") == (3600, ["10.0.9.4"])


def test_unknown_zone(bind, args):
    given = run_task("dns_record", dict(args, zone="nozone.test", record="x", value=["10.0.10.1"]))
    assert given.failed
    assert "nozone.test" in given["msg"] and "REFUSED" in given["msg"]
    found = run_task("dns_record", dict(args, zone=None, record="x.nozone.test.", value=["10.0.10.1"]))
    assert found.failed
    assert "not authoritative for any zone holding x.nozone.test." in found["msg"]


def test_record_outside_the_zone_names_the_option(args):
    result = run_task("dns_record", dict(args, record="www.other.test.", value=["10.0.10.2"]))
    assert result.failed
    assert result["msg"].startswith("record: www.other.test. is not inside zone example.test.")
    bad = run_task(
        "dns_record",
        dict(args, records=[{"record": "v1", "value": ["10.0.0.1"]}, {"record": "v2", "value": ["300.1.1.1"]}]),
    )
    assert bad.failed
    assert bad["msg"].startswith("records[1].value[0]: '300.1.1.1' is not a valid A value")


def test_server_down(args):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = run_task("dns_record", dict(args, port=port, record="d1", value=["10.0.11.1"]))
    assert result.failed
    assert "Connection refused (server unreachable)" in result["msg"]


def test_server_timeout(args):
    # A listening socket that never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        result = run_task(
            "dns_record", dict(args, port=silent.getsockname()[1], timeout=1, record="d2", value=["10.0.11.2"])
        )
    assert result.failed
    assert "no answer within 1 s (timeout)" in result["msg"]


def test_second_server_is_used_when_the_first_is_down(bind, args):
    # 127.0.0.2 is loopback too, but named listens on 127.0.0.1 only.
    result = run_task("dns_record", dict(args, server=["127.0.0.2", "127.0.0.1"], record="fb1", value=["10.0.12.1"]))
    assert not result.failed, result["msg"]
    assert values(bind, "fb1.example.test") == (3600, ["10.0.12.1"])


# -- a concurrent writer ------------------------------------------------------------------------


class RacingClient(_dns.Client):
    """The real client; before its first UPDATE, another writer changes a record set for real."""

    def __init__(self, race, **kwargs):
        super().__init__(**kwargs)
        self.race = race

    def update(self, message):
        if self.race is not None:
            race, self.race = self.race, None
            race()
        return super().update(message)


def _client(bind, race=None):
    return RacingClient(race, servers=["127.0.0.1"], port=bind.port, key=_dns.make_key(bind.key_name, bind.key_secret))


def test_concurrent_writer_is_caught_by_the_prerequisites(bind):
    raw_update(bind, lambda u: u.add("race1", 300, "A", "10.0.13.1"))
    # We read {10.0.13.1} and want exactly {10.0.13.2}; meanwhile another writer adds 10.0.13.3.
    client = _client(bind, race=lambda: raw_update(bind, lambda u: u.add("race1", 300, "A", "10.0.13.3")))
    with pytest.raises(_dns.DnsConflict) as caught:
        _dns.converge(client, [_dns.Entry("race1", "A", ["10.0.13.2"])], zone=ZONE)
    assert "YXRRSET" in caught.value.msg or "NXRRSET" in caught.value.msg
    assert "race1.example.test. A" in caught.value.msg
    # Nothing of ours was applied; the other writer's record is there.
    assert values(bind, "race1.example.test") == (300, ["10.0.13.1", "10.0.13.3"])

    # A create races with a create: "RRset does not exist" fails.
    client = _client(bind, race=lambda: raw_update(bind, lambda u: u.add("race2", 300, "A", "10.0.13.9")))
    with pytest.raises(_dns.DnsConflict):
        _dns.converge(client, [_dns.Entry("race2", "A", ["10.0.13.8"])], zone=ZONE)
    assert values(bind, "race2.example.test") == (300, ["10.0.13.9"])


def test_concurrent_writer_then_retry_converges_on_fresh_state(bind):
    raw_update(bind, lambda u: u.add("race3", 300, "A", "10.0.14.1"))
    client = _client(bind, race=lambda: raw_update(bind, lambda u: u.add("race3", 300, "A", "10.0.14.3")))
    result = _dns.converge(client, [_dns.Entry("race3", "A", ["10.0.14.2"], exclusive=False)], zone=ZONE, retries=1)
    assert result.retries == 1
    assert result.updates_sent == 2
    # The re-read saw the other writer's value and kept it (exclusive=false).
    assert values(bind, "race3.example.test") == (300, ["10.0.14.1", "10.0.14.2", "10.0.14.3"])


def test_core_errors_are_dcos_errors_outside_ansible(bind):
    client = _dns.Client("127.0.0.1", port=bind.port, key=_dns.make_key(bind.key_name, "AAAA" + bind.key_secret[4:]))
    with pytest.raises(DcosError, match="BADSIG"):
        _dns.converge(client, [_dns.Entry("x", "A", ["10.0.0.1"])], zone=ZONE)


# -- hostile values (issue 10) ------------------------------------------------------------------


def dig_txt_strings(bind, name):
    """The character-strings of the one TXT record at ``name``, as dig shows them (bytes)."""
    out = subprocess.run(
        ["dig", "+norecurse", "+noall", "+answer", "-p", str(bind.port), "@127.0.0.1", name, "TXT"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (line,) = [line for line in out.splitlines() if line and not line.startswith(";")]
    rdata_text = line.split(None, 4)[4]
    return dns.rdata.from_text("IN", "TXT", rdata_text).strings


def test_a_600_byte_utf8_txt_round_trips_through_bind(bind, args):
    text = "é" * 150 + "中" * 100  # 300 + 300 bytes
    result = run_task("dns_record", dict(args, record="utf8", type="TXT", value=[text]))
    assert not result.failed, result["msg"]
    assert result.changed
    strings = dig_txt_strings(bind, f"utf8.{ZONE}")
    assert [len(s) for s in strings] == [254, 253, 93]  # 127 é | 23 é + 69 中 | 31 中
    assert "".join(s.decode("utf-8") for s in strings) == text  # no string ends inside a character
    again = run_task("dns_record", dict(args, record="utf8", type="TXT", value=[text]))
    assert again.changed is False
    assert again["updates_sent"] == 0


def test_text_after_a_semicolon_fails_the_task_and_publishes_nothing(bind, args):
    seen = bind.updates_received()
    result = run_task("dns_record", dict(args, records=[{"record": "semi", "value": ["10.0.0.1; x"]}]))
    assert result.failed
    assert result["msg"].startswith("records[0].value[0]: '10.0.0.1; x' is refused: the text after ';'")
    assert result["changed"] is False
    assert bind.updates_received() == seen
    assert values(bind, f"semi.{ZONE}") == (None, [])


def test_port_out_of_range_names_the_option(args):
    result = run_task("dns_record", dict(args, port=70000, record="p", value=["10.0.0.1"]))
    assert result.failed
    assert result["msg"] == "port: must be 65535 or less, got 70000"
    assert "Traceback" not in result["stdout"]


# -- reading with one zone transfer (issue 11) ---------------------------------------------------


def test_a_converged_batch_is_read_with_one_axfr(bind, args):
    records = [{"record": f"x{i}", "value": [f"10.4.0.{i + 1}"], "ttl": 60} for i in range(100)]
    first = run_task("dns_record", dict(args, records=records))
    assert not first.failed, first["msg"]
    assert first["reads"] == {f"{ZONE}.": "axfr"}
    assert first["transfers_sent"] == 2  # the read and the read-back
    again = run_task("dns_record", dict(args, records=records))
    assert again.changed is False
    assert again["transfers_sent"] == 1
    assert again["queries_sent"] == 1  # the zone's SOA: no query per name
    assert "warnings" not in again


def test_a_refused_transfer_is_read_per_name_with_a_warning(bind, args):
    # The read-only key may query but not transfer (allow-transfer names only the main key).
    records = [{"record": f"x{i}", "value": [f"10.4.0.{i + 1}"], "ttl": 60} for i in range(20)]
    readonly = dict(args, key_name=bind.other_key_name, key_secret=bind.other_key_secret, records=records)
    result = run_task("dns_record", readonly, check=True)
    assert not result.failed, result["msg"]
    assert result["reads"] == {f"{ZONE}.": "query"}
    assert result["queries_sent"] == 21
    (warning,) = result["warnings"]
    assert f"refused the zone transfer (AXFR) of {ZONE}. (REFUSED)" in warning
    forced = run_task("dns_record", dict(readonly, read="axfr"), check=True)
    assert forced.failed
    assert "allow-transfer does not let this key" in forced["msg"]
