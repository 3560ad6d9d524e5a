"""The three members form one ensemble: fixed ids, one leader, two followers, shared data."""

import json
import time

import pytest
import testinfra

MEMBERS = {"pptvra-zk-1": 11, "pptvra-zk-2": 12, "pptvra-zk-3": 13}

FOUR_LETTER_WORD = """
import socket, sys
with socket.create_connection(("127.0.0.1", 2181), timeout=5) as s:
    s.sendall(sys.argv[1].encode())
    data = b""
    while chunk := s.recv(4096):
        data += chunk
print(data.decode())
"""


def four_letter_word(host, word):
    return host.check_output("python3 -c %s %s", FOUR_LETTER_WORD, word)


def mntr(host):
    values = {}
    for line in four_letter_word(host, "mntr").splitlines():
        key, sep, value = line.partition("\t")
        if sep:
            values[key] = value
    return values


@pytest.fixture(scope="module")
def members():
    return {name: testinfra.get_host(f"docker://{name}") for name in MEMBERS}


def test_myid_is_the_inventory_id(host):
    name = host.check_output("hostname")
    assert host.file("/var/lib/zookeeper/myid").content_string.strip() == str(MEMBERS[name])
    assert not host.file("/var/lib/zookeeper/myid").is_symlink


def test_zoo_cfg_lists_the_ensemble_and_locks_down_the_admin_server(host):
    cfg = host.file("/etc/zookeeper/conf/zoo.cfg").content_string
    for address, myid in (("10.211.10.11", 11), ("10.211.10.12", 12), ("10.211.10.13", 13)):
        assert f"server.{myid}={address}:2888:3888\n" in cfg
    assert "admin.enableServer=false\n" in cfg
    assert "4lw.commands.whitelist=srvr,mntr,ruok,stat,conf\n" in cfg


def test_service_enabled_and_running_with_the_small_heap(host):
    service = host.service("zookeeper")
    assert service.is_enabled
    assert service.is_running
    assert "-Xmx128m" in host.check_output("ps -ww -o args= -u zookeeper")
    # The AdminServer is off: nothing listens on Marathon's port.
    assert not host.socket("tcp://0.0.0.0:8080").is_listening


def test_one_leader_two_followers(members):
    # Right after converge a re-election may still be settling: read until all three agree.
    for _attempt in range(30):
        states = {name: mntr(h).get("zk_server_state") for name, h in members.items()}
        if sorted(states.values()) == ["follower", "follower", "leader"]:
            break
        time.sleep(1)
    assert sorted(states.values()) == ["follower", "follower", "leader"], states
    leader = next(h for name, h in members.items() if states[name] == "leader")
    assert mntr(leader)["zk_synced_followers"] == "2"
    for h in members.values():
        assert "Mode: " in four_letter_word(h, "srvr")


def test_a_znode_written_on_one_member_is_read_on_the_others(members):
    write = """
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:2181"); zk.start(timeout=15)
zk.ensure_path("/pptvra-molecule")
zk.set("/pptvra-molecule", sys.argv[1].encode())
zk.stop()
"""
    read = """
import json
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:2181"); zk.start(timeout=15)
zk.sync("/pptvra-molecule")
print(json.dumps(zk.get("/pptvra-molecule")[0].decode()))
zk.stop()
"""
    stamp = f"written-{time.time()}"
    members["pptvra-zk-2"].check_output("python3 -c %s %s", write, stamp)
    for name in ("pptvra-zk-1", "pptvra-zk-3"):
        assert json.loads(members[name].check_output("python3 -c %s", read)) == stamp
