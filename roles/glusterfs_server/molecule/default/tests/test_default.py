# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify of the GlusterFS scenario: a pool of two servers, a replica volume, a client mount."""

import os
import uuid
import xml.etree.ElementTree as ET

import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
GFS1 = testinfra.get_host(f"ansible://pptvrb-gfs-1?ansible_inventory={INVENTORY}")
GFS2 = testinfra.get_host(f"ansible://pptvrb-gfs-2?ansible_inventory={INVENTORY}")
CLIENT = testinfra.get_host(f"ansible://pptvrb-gfs-client?ansible_inventory={INVENTORY}")
BRICK = "/data/glusterfs/logs/brick"


def gluster_xml(host, *args):
    root = ET.fromstring(host.check_output("gluster --mode=script " + " ".join(args) + " --xml"))
    assert root.findtext("opRet") == "0", root.findtext("opErrstr")
    return root


def test_pool_has_both_servers_connected():
    for server, other in ((GFS1, "pptvrb-gfs-2"), (GFS2, None)):
        peers = gluster_xml(server, "pool", "list").findall("peerStatus/peer")
        assert len(peers) == 2
        assert all(p.findtext("connected") == "1" for p in peers)
        if other:
            assert other in [p.findtext("hostname") for p in peers]


def test_logs_volume_is_a_started_replica_of_one_brick_per_server():
    vol = gluster_xml(GFS2, "volume", "info", "logs").find("volInfo/volumes/volume")
    assert vol.findtext("statusStr") == "Started"
    assert vol.findtext("typeStr") == "Replicate"
    assert vol.findtext("replicaCount") == "2"
    bricks = [b.findtext("name") for b in vol.iter("brick")]
    assert bricks == [f"pptvrb-gfs-1:{BRICK}", f"pptvrb-gfs-2:{BRICK}"]
    options = {o.findtext("name"): o.findtext("value") for o in vol.iter("option")}
    assert options["performance.client-io-threads"] == "on"


def test_client_mount_options_and_fstab():
    mount = CLIENT.mount_point("/home/logs")
    assert mount.exists
    assert mount.filesystem == "fuse.glusterfs"
    assert mount.device == "pptvrb-gfs-1:/logs"
    fstab = [line.split() for line in CLIENT.file("/etc/fstab").content_string.splitlines() if "/home/logs" in line]
    assert len(fstab) == 1
    src, path, fstype, opts = fstab[0][:4]
    assert (src, path, fstype) == ("pptvrb-gfs-1:/logs", "/home/logs", "glusterfs")
    assert opts.split(",") == ["defaults", "_netdev", "backup-volfile-servers=pptvrb-gfs-2", "log-level=WARNING"]


def test_client_writes_and_reads_through_the_mount_and_both_bricks_hold_the_file():
    name = f"pptvrb-{uuid.uuid4().hex[:8]}.log"
    CLIENT.check_output(f"echo written-by-the-client > /home/logs/{name}")
    assert CLIENT.check_output(f"cat /home/logs/{name}") == "written-by-the-client"
    # Replica 2: the file is on the brick of each server.
    for server in (GFS1, GFS2):
        assert server.file(f"{BRICK}/{name}").content_string.strip() == "written-by-the-client"
    CLIENT.check_output(f"rm /home/logs/{name}")


def test_units_that_need_the_mount_are_ordered_after_it():
    for unit in ("pptvrb-docker.service", "pptvrb-agent.service"):
        after = CLIENT.check_output(f"systemctl show -P After {unit}").split()
        requires = CLIENT.check_output(f"systemctl show -P Requires {unit}").split()
        assert "home-logs.mount" in after and "home-logs.mount" in requires
    # The mount unit systemd generated from fstab carries _netdev: it waits for the network.
    assert "remote-fs.target" in CLIENT.check_output("systemctl show -P Before home-logs.mount").split()
    assert CLIENT.check_output("systemctl is-active home-logs.mount") == "active"
