# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import re

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils import _validate as v
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

POOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _fails(call, *words):
    with pytest.raises(DcosError) as caught:
        call()
    for word in words:
        assert word in caught.value.msg
    return caught.value.msg


def test_name_is_matched_in_full_so_a_trailing_newline_fails():
    assert v.name("oak", "pool", POOL, "letters") == "oak"
    _fails(lambda: v.name("oak\n", "pool", POOL, "letters"), "pool", "'oak\\n'")
    _fails(lambda: v.name("", "pool", POOL, "letters"), "pool", "non-empty")
    _fails(lambda: v.name(5, "pool", POOL, "letters"), "pool")
    _fails(lambda: v.name("a" * 9, "pool", POOL, "letters", max_length=8), "at most 8")


def test_printable_refuses_whitespace_and_control_characters_anywhere():
    assert v.printable("a.b", "x") == "a.b"
    for bad in ("a b", "a\tb", "a\n", "\x00a", "a\x7f"):
        _fails(lambda bad=bad: v.printable(bad, "labels.env"), "labels.env")


@pytest.mark.parametrize("value, expected", [(1, 1), (65535, 65535), ("80", 80), (8080.0, 8080)])
def test_port_accepts_the_valid_range_in_canonical_type(value, expected):
    assert v.port(value, "port") == expected


@pytest.mark.parametrize("value", [0, 65536, 70000, -1, True, 1.5, "80a", "", None, float("inf")])
def test_port_refuses_out_of_range_and_non_integers(value):
    _fails(lambda: v.port(value, "apps[0].port"), "apps[0].port")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "nan", "inf", True, "x", None])
def test_number_refuses_what_json_cannot_carry_and_non_numbers(value):
    _fails(lambda: v.number(value, "cpus"), "cpus")


def test_number_bounds():
    assert v.number("0.5", "cpus", minimum=0) == 0.5
    _fails(lambda: v.number(-1, "cpus", minimum=0), "0 or more")
    _fails(lambda: v.number(3, "cpus", maximum=2), "2 or less")


def test_timeout_must_be_more_than_zero():
    assert v.timeout(2, "timeout") == 2.0
    for bad in (0, -1, float("nan"), "soon"):
        _fails(lambda bad=bad: v.timeout(bad, "timeout"), "timeout")


def test_boolean_is_strict():
    assert v.boolean(True, "details") is True
    assert v.boolean("yes", "details") is True
    assert v.boolean("False", "details") is False
    assert v.boolean(0, "details") is False
    for bad in ("banana", "", None, 2, [], "tru"):
        _fails(lambda bad=bad: v.boolean(bad, "healthy_only"), "healthy_only", "boolean")


def test_ip_address_is_canonical_and_exact():
    assert v.ip_address("10.0.0.1", "ip") == "10.0.0.1"
    assert v.ip_address("fd00::0001", "ip") == "fd00::1"
    for bad in ("10.0.0.1\n", "10.0.0.256", "10.0.0.01", "", None, "10.0.0.1; x", "fe80::1%eth0"):
        _fails(lambda bad=bad: v.ip_address(bad, "allocations[0].ip"), "allocations[0].ip")
    _fails(lambda: v.ip_address("fd00::1", "ip", version=4), "IPv4")


def test_host_port_list_parses_a_connect_string():
    assert v.host_port_list("zk1:2181,10.0.0.2:2182", "zk_hosts") == [("zk1", 2181), ("10.0.0.2", 2182)]
    assert v.host_port_list("zk1", "zk_hosts", default_port=2181) == [("zk1", 2181)]
    assert v.host_port_list("[fd00::1]:2181", "zk_hosts") == [("[fd00::1]", 2181)]


@pytest.mark.parametrize("value", ["::::,,", "", "zk1:2181,", "zk1:70000", "zk 1:2181", None, "zk1"])
def test_host_port_list_refuses_malformed_strings_naming_the_option(value):
    _fails(lambda: v.host_port_list(value, "zk_hosts"), "zk_hosts")
