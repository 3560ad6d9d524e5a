# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile and malformed input to the DNS core: each is refused in a sentence naming the option,
before anything is sent, or (TXT text) stored exactly as given. Issue 10."""

from __future__ import annotations

import dns.rdatatype
import pytest

from ansible_collections.pptv.dcos.plugins.module_utils import _dns
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="  # the fake server's key (conftest.py)

E = _dns.Entry


@pytest.fixture
def server(fake_dns):
    fake_dns.add_zone("example.com", [("web.example.com", "A", 300, ["10.0.0.1"])])
    fake_dns.add_key()
    return fake_dns


def client(**kwargs):
    kwargs.setdefault("key", _dns.make_key("ddns-key", SECRET))
    return _dns.Client(["127.0.0.1"], **kwargs)


def converge(entries, zone="example.com", **kwargs):
    return _dns.converge(client(), entries, zone=zone, **kwargs)


def refused(server, entries, zone="example.com"):
    """The message of the DcosError converge raises; nothing was written."""
    with pytest.raises(DcosError) as caught:
        converge(entries, zone=zone)
    assert server.count("update") == 0
    return caught.value.msg


# -- values that dnspython's reader would cut short ---------------------------------------------


VALID = {"A": "10.0.0.1", "AAAA": "::1", "CNAME": "web", "MX": "10 web", "SRV": "0 5 80 web", "TXT": "ok"}


@pytest.mark.parametrize(
    ("rdtype", "value", "words"),
    [
        ("A", "10.0.0.1; x", "the text after ';' would be read as a comment and dropped"),
        ("A", "10.0.0.1;", "the text after ';' would be read as a comment and dropped"),
        ("MX", "10 mail ; backup", "the text after ';' would be read as a comment and dropped"),
        ("SRV", "0 5 80 web;x", "the text after ';' would be read as a comment and dropped"),
        ("TXT", '"a" ; "b"', "in a quoted TXT value put it inside the quotes"),
        ("A", "10.0.0.1\n10.0.0.2", "it contains a newline"),
        ("A", "10.0.0.1\n", "it contains a newline"),
        ("CNAME", "web\nother", "it contains a newline"),
        ("CNAME", "a\x00b", "it contains a NUL byte"),
        ("AAAA", "::1\r", "it contains a carriage return"),
        ("MX", "10\tmail", "it contains a tab"),
        ("TXT", "line one\nline two", "it contains a newline"),
        ("TXT", '"quoted\x07bell"', "it contains the control character '\\x07'"),
    ],
)
def test_a_value_is_never_cut_short(server, rdtype, value, words):
    msg = refused(server, [E("ok", rdtype, [VALID[rdtype]], index=0), E("x", rdtype, [value], index=1)])
    assert msg.startswith(f"records[1].value[0]: {value!r} is refused: "), msg
    assert words in msg


def test_a_semicolon_inside_a_quoted_txt_and_in_plain_txt_is_text(server):
    converge([E("q", "TXT", ['"a;b" "c"']), E("p", "TXT", ["v=spf1 a; -all"])])
    assert server.get("q.example.com", "TXT")[1] == ['"a;b" "c"']
    assert server.get("p.example.com", "TXT")[1] == ['"v=spf1 a; -all"']
    assert not converge([E("q", "TXT", ['"a;b" "c"']), E("p", "TXT", ["v=spf1 a; -all"])]).changed


def test_a_value_that_is_not_a_string_names_the_option(server):
    msg = refused(server, [E("x", "A", [10], index=2)])
    assert msg == "records[2].value[0]: must be a string in the zone-file syntax of A, got 10"
    msg = refused(server, [E("x", "A", 10)])
    assert msg == "value: must be a list of strings, got 10"


# -- TXT character-strings ----------------------------------------------------------------------


def _strings(server, name):
    rdatas = server.zones[dns.name.from_text("example.com")][(dns.name.from_text(name), dns.rdatatype.TXT)][1]
    (rdata,) = rdatas
    return rdata.strings


@pytest.mark.parametrize(
    "text",
    [
        "é" * 300,  # 600 bytes of 2-byte characters: 255 is odd, so a byte cut would split one
        "中" * 200,  # 600 bytes of 3-byte characters
        "a" + "€" * 199 + "b",  # 599 bytes, the 3-byte characters off by one from the 255 cut
        "x" * 254 + "😀" * 90,  # a 4-byte character right at the first boundary
    ],
)
def test_long_utf8_txt_is_split_between_characters_and_round_trips(server, text):
    result = converge([E("t", "TXT", [text])])
    assert result.changed
    strings = _strings(server, "t.example.com.")
    assert all(len(s) <= 255 for s in strings)
    assert [len(s) for s in strings[:-1]] == [max(len(s), 252) for s in strings[:-1]]  # full strings
    assert "".join(s.decode("utf-8") for s in strings) == text  # each string decodes on its own
    assert not converge([E("t", "TXT", [text])]).changed


def test_a_600_byte_utf8_txt_shows_as_text_in_the_result(server):
    text = "é" * 300
    result = converge([E("t", "TXT", [text])])
    (shown,) = result.rrsets[0]["after"]["values"]
    assert shown.startswith('"' + "é" * 127 + '" "')  # 254 bytes: one more é would be 256
    assert shown.replace('" "', "").strip('"') == text


def test_txt_utf8_split_is_pure():
    assert _dns.txt_strings("") == [b""]
    assert _dns.txt_strings("é" * 128) == ["é".encode() * 127, "é".encode()]
    assert _dns.txt_strings("a" * 255) == [b"a" * 255]
    assert _dns.txt_strings("a" * 256) == [b"a" * 255, b"a"]


# -- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ("web\n", "must not contain whitespace or control characters"),
        ("a b", "must not contain whitespace or control characters"),
        ("a\x00b", "must not contain whitespace or control characters"),
        (" web", "must not contain whitespace or control characters"),
        ("", "a record name is required"),
        ("a..b", "is not a valid DNS name"),
    ],
)
def test_hostile_record_names(server, record, words):
    msg = refused(server, [E(record, "A", ["10.0.0.1"], index=0)])
    assert msg.startswith("records[0].record: ") and words in msg


@pytest.mark.parametrize(
    ("zone", "words"),
    [
        ("example.com\n", "zone: 'example.com\\n' must not contain whitespace or control characters"),
        ("", "zone: must be a non-empty string"),
        (123, "zone: must be a non-empty string"),
        ("exa mple.com", "zone: 'exa mple.com' must not contain whitespace"),
    ],
)
def test_hostile_zones(server, zone, words):
    assert words in refused(server, [E("web", "A", ["10.0.0.1"])], zone=zone)


# -- other fields -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "msg"),
    [
        (-1, "records[0].ttl: must be 0 or more, got -1"),
        (2**31, "records[0].ttl: must be 2147483647 or less, got 2147483648"),
        ("soon", "records[0].ttl: must be an integer, got 'soon'"),
        (True, "records[0].ttl: must be an integer, got True"),
        (1.5, "records[0].ttl: must be an integer, got 1.5"),
    ],
)
def test_bad_ttl_names_the_entry(server, ttl, msg):
    assert refused(server, [E("web", "A", ["10.0.0.1"], ttl=ttl, index=0)]) == msg


def test_ttl_given_as_digits_is_taken_as_the_number(server):
    converge([E("web", "A", ["10.0.0.1"], ttl="60")])
    assert server.get("web.example.com", "A") == (60, ["10.0.0.1"])


@pytest.mark.parametrize(
    ("entry", "msg"),
    [
        (E("web", "SOA", ["x"], index=0), "records[0].type: 'SOA' is not one of A, AAAA"),
        (E("web", None, ["x"], index=0), "records[0].type: None is not one of A, AAAA"),
        (E("web", "A", ["10.0.0.1"], state="gone", index=0), "records[0].state: 'gone' is not present or absent"),
        (E("web", "A", ["10.0.0.1"], exclusive="maybe", index=0), "records[0].exclusive: must be a boolean"),
    ],
)
def test_bad_fields_name_the_entry(server, entry, msg):
    assert refused(server, [entry]).startswith(msg)


# -- the client and the key ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "msg"),
    [
        ({"port": 70000}, "port: must be 65535 or less, got 70000"),
        ({"port": 0}, "port: must be 1 or more, got 0"),
        ({"port": "dns"}, "port: must be an integer, got 'dns'"),
        ({"timeout": -1}, "timeout: must be more than 0, got -1"),
        ({"timeout": 0}, "timeout: must be more than 0, got 0"),
        ({"timeout": float("nan")}, "timeout: must be a finite number, got nan"),
        ({"protocol": "sctp"}, "protocol: 'sctp' is not tcp or udp"),
        ({"servers": ["127.0.0.1\n"]}, "server[0]: '127.0.0.1\\n' must not contain whitespace"),
        ({"servers": []}, "server: at least one server is required"),
    ],
)
def test_bad_client_options_name_the_option(kwargs, msg):
    servers = kwargs.pop("servers", ["127.0.0.1"])
    with pytest.raises(DcosError) as caught:
        _dns.Client(servers, **kwargs)
    assert caught.value.msg.startswith(msg)


@pytest.mark.parametrize(
    ("name", "secret", "algorithm", "msg"),
    [
        ("ddns-key\n", SECRET, "hmac-sha256", "key_name: 'ddns-key\\n' must not contain whitespace or control"),
        ("ddns key", SECRET, "hmac-sha256", "key_name: 'ddns key' must not contain whitespace or control"),
        ("a..b", SECRET, "hmac-sha256", "key_name: 'a..b' is not a valid key name"),
        ("ddns-key", "", "hmac-sha256", "key_secret: must be a non-empty base64 string"),
        ("ddns-key", None, "hmac-sha256", "key_secret: must be a non-empty base64 string"),
        ("ddns-key", 12, "hmac-sha256", "key_secret: must be a non-empty base64 string"),
        ("ddns-key", SECRET + "\n", "hmac-sha256", "key_secret: not valid base64"),
        ("ddns-key", "bm90 IGJhc2U2NA==", "hmac-sha256", "key_secret: not valid base64"),
        ("ddns-key", SECRET, "hmac-sha3", "key_algorithm: 'hmac-sha3' is not one of"),
        ("ddns-key", SECRET, None, "key_algorithm: None is not one of"),
    ],
)
def test_bad_keys_name_the_option_and_never_echo_the_secret(name, secret, algorithm, msg):
    with pytest.raises(DcosError) as caught:
        _dns.make_key(name, secret, algorithm)
    assert caught.value.msg.startswith(msg), caught.value.msg
    if isinstance(secret, str) and secret:
        assert secret.strip() not in caught.value.msg


def test_checking_an_entry_leaves_the_callers_entry_as_it_was(server):
    entry = E("web", "A", ["10.0.0.1"], ttl="60", exclusive="yes")
    converge([entry])
    assert (entry.ttl, entry.exclusive) == ("60", "yes")


def test_key_algorithm_names_are_case_insensitive_as_in_bind(server, tmp_path):
    key_file = tmp_path / "ddns.key"
    key_file.write_text(f'key "ddns-key" {{\n\talgorithm HMAC-SHA256;\n\tsecret "{SECRET}";\n}};\n')
    name, algorithm, secret = _dns.read_key_file(str(key_file))
    key = _dns.make_key(name, secret, algorithm)
    assert key.algorithm.to_text() == "hmac-sha256."
    assert not _dns.converge(
        _dns.Client(["127.0.0.1"], key=key), [E("web", "A", ["10.0.0.1"])], zone="example.com"
    ).changed
