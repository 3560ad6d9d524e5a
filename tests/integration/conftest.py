# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures the integration suites share: one real ZooKeeper (Debian's zookeeperd) per session.

The ip_pool and release_record suites keep their data under znode roots of their own, so they
share the server and save a JVM start each.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from kazoo.client import KazooClient
from support.zk_server import start_zookeeper

ZK_TAG = "pptvint-zk-"


@pytest.fixture(scope="session")
def zookeeper():
    workdir = tempfile.mkdtemp(prefix=ZK_TAG)
    server = start_zookeeper(workdir, ZK_TAG)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def zk_client(zookeeper):
    """A kazoo client of the session's ZooKeeper, for reading and tampering behind the modules' backs."""
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()
