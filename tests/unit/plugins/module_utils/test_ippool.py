# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import (
    FileStore,
    IpPoolManager,
    PoolSpec,
    decide_allocations,
    normalize_app_id,
    shrink_conflicts,
)


def small():
    # .0 network, .7 broadcast, .1 gateway, .2 reserved: .3 to .6 can be handed out.
    return PoolSpec("oak", ["10.0.0.0/29"], gateway="10.0.0.1", reserved=["10.0.0.2"])


@pytest.mark.parametrize(
    ("given", "expected"), [("web", "/web"), ("/shop/web/", "/shop/web"), ("shop/a-1", "/shop/a-1")]
)
def test_app_ids_are_normalised(given, expected):
    assert normalize_app_id(given) == expected


@pytest.mark.parametrize("bad", ["", "/", "Web", "/shop/-x", "/a/../b", "/a b", "/a_b"])
def test_bad_app_ids_are_refused(bad):
    with pytest.raises(DcosError, match="app_id"):
        normalize_app_id(bad)


def test_lowest_free_address_skips_edges_gateway_and_reserved():
    spec = small()
    assert spec.size() == 4
    assert spec.pick([]) == "10.0.0.3"
    assert spec.pick(["10.0.0.3", "10.0.0.4"]) == "10.0.0.5"
    assert spec.pick(["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]) is None


def test_spread_picks_among_the_first_free_addresses():
    spec = PoolSpec("oak", ["10.0.0.0/24"])
    picks = {spec.pick(["10.0.0.1"], spread=4) for _attempt in range(200)}
    assert picks <= {"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}
    assert len(picks) > 1


def test_subnets_in_order_and_allocation_ranges():
    spec = PoolSpec("oak", ["10.0.1.0/30", "10.0.0.0/24"], allocation_ranges=["10.0.0.50-10.0.0.51", "10.0.1.0/30"])
    assert spec.pick([]) == "10.0.1.1"
    assert spec.pick(["10.0.1.1", "10.0.1.2"]) == "10.0.0.50"
    assert spec.size() == 4
    assert spec.describe("10.0.0.50") == {
        "ip": "10.0.0.50",
        "prefix": 24,
        "subnet": "10.0.0.0/24",
        "gateway": None,
        "pool": "oak",
    }


def test_small_subnets_and_ipv6():
    assert PoolSpec("p", ["10.0.0.0/31"]).size() == 2
    v6 = PoolSpec("p6", ["fd00::/126"], gateway="fd00::1")
    assert v6.pick([]) == "fd00::2"
    assert v6.size() == 2


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"subnets": []}, "subnets: pool oak needs at least one subnet"),
        ({"subnets": ["10.0.0.0/33"]}, "subnets"),
        ({"subnets": ["10.0.0.1/24"]}, "host bits"),
        ({"subnets": ["10.0.0.0/24", "10.0.0.128/25"]}, "overlaps"),
        ({"subnets": ["10.0.0.0/24"], "gateway": "10.0.1.1"}, "gateway: 10.0.1.1 is outside"),
        ({"subnets": ["10.0.0.0/24"], "reserved": ["10.0.0.9-10.0.0.2"]}, "reserved"),
        ({"subnets": ["10.0.0.0/24"], "allocation_ranges": ["10.0.1.0/28"]}, "allocation_ranges"),
    ],
)
def test_bad_pool_definitions_name_the_option(kwargs, words):
    with pytest.raises(DcosError) as caught:
        PoolSpec("oak", **kwargs)
    assert words in caught.value.msg


def test_bad_pool_name():
    with pytest.raises(DcosError, match="pool"):
        PoolSpec("../x", ["10.0.0.0/24"])


def test_plan_allocations_rules():
    spec = small()
    held = {"/a": {"ip": "10.0.0.3"}}
    assert decide_allocations(spec, held, [("/a", None), ("/b", None)]) == [
        ("/a", "10.0.0.3", False),
        ("/b", "10.0.0.4", True),
    ]
    assert decide_allocations(spec, held, [("/b", "10.0.0.6"), ("/c", None)]) == [
        ("/b", "10.0.0.6", True),
        ("/c", "10.0.0.4", True),
    ]
    with pytest.raises(DcosError, match="held by /a"):
        decide_allocations(spec, held, [("/b", "10.0.0.3")])
    with pytest.raises(DcosError, match="already holds 10.0.0.3"):
        decide_allocations(spec, held, [("/a", "10.0.0.4")])
    with pytest.raises(DcosError, match="reserved"):
        decide_allocations(spec, held, [("/b", "10.0.0.2")])
    with pytest.raises(DcosError, match="gateway"):
        decide_allocations(spec, held, [("/b", "10.0.0.1")])
    with pytest.raises(DcosError, match="pool oak is exhausted") as caught:
        decide_allocations(spec, held, [("/b", None), ("/c", None), ("/d", None), ("/e", None)])
    assert caught.value.details == {"pool": "oak"}


def test_shrink_conflicts_list_what_would_fall_out():
    allocations = {"/a": {"ip": "10.0.0.3"}, "/b": {"ip": "10.0.0.200"}}
    shrunk = PoolSpec("oak", ["10.0.0.0/25"], reserved=["10.0.0.3"])
    assert shrink_conflicts(shrunk, allocations) == [
        {"app_id": "/a", "ip": "10.0.0.3", "reason": "reserved in pool oak"},
        {"app_id": "/b", "ip": "10.0.0.200", "reason": "outside every subnet of pool oak"},
    ]
    assert shrink_conflicts(PoolSpec("oak", ["10.0.0.0/24"]), allocations) == []


def test_file_store_manager_flow_and_check_mode(tmp_path):
    path = tmp_path / "pool.json"
    store = FileStore(str(path))
    pool = {"pool": "oak", "subnets": ["10.0.0.0/29"], "gateway": "10.0.0.1", "reserved": ["10.0.0.2"]}
    assert IpPoolManager(store, pool, record=ChangeRecord(check_mode=True)).present()["changed"]
    assert not path.exists()
    assert IpPoolManager(store, pool).present()["changed"]
    assert not IpPoolManager(store, pool).present()["changed"]

    planned = IpPoolManager(store, {"pool": "oak", "app_id": "web"}, record=ChangeRecord(check_mode=True)).allocated()
    assert planned["ip"] == "10.0.0.3" and planned["changed"]
    assert json.loads(path.read_text())["pools"]["oak"]["allocations"] == {}

    done = IpPoolManager(store, {"pool": "oak", "app_id": "web"}, record=ChangeRecord(diff_mode=True)).allocated()
    assert done["diff"] == {"before": {"/web": None}, "after": {"/web": "10.0.0.3"}}
    assert set(done) >= {"ip", "prefix", "subnet", "gateway", "pool", "app_id", "allocations"}
    state = json.loads(path.read_text())
    assert state["pools"]["oak"]["allocations"]["/web"]["ip"] == "10.0.0.3"

    with pytest.raises(DcosError, match="app_ids: /web is given twice"):
        IpPoolManager(store, {"pool": "oak", "app_ids": ["web", "/web"]}).allocated()
    assert IpPoolManager(store, {"pool": "oak"}).lookup(["web"])[0]["ip"] == "10.0.0.3"
    with pytest.raises(DcosError, match="holds no address for /api"):
        IpPoolManager(store, {"pool": "oak"}).lookup(["api"])
    assert IpPoolManager(store, {"pool": "oak", "app_id": "web"}).released()["released"] == ["/web"]


def test_file_store_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "pool.json"
    path.write_text("{not json")
    with pytest.raises(DcosError, match="not a valid ip_pool state file"):
        FileStore(str(path)).get_pool("oak")
    path.write_text('{"version": 99}')
    with pytest.raises(DcosError, match="version 1"):
        FileStore(str(path)).get_pool("oak")
