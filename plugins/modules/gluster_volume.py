#!/usr/bin/python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gluster_volume
short_description: Manage a GlusterFS volume (bricks, state, options, quota) through the gluster CLI
version_added: 0.1.0
description:
  - Creates, starts, stops, expands, shrinks, tunes and deletes one GlusterFS volume of the trusted
    storage pool the target host belongs to. The C(gluster) CLI runs on the host the task targets
    (any server of the pool), always as C(gluster --mode=script ... --xml), so it never waits at a
    y/n prompt and its state is read from XML, never from its human output.
  - Bricks are an explicit ordered list. Consecutive bricks form the replica (or disperse) sets, as on
    the C(gluster volume create) command line; with O(arbiter=1) the last brick of every replica set
    is its arbiter.
  - Every brick host must already be a connected peer of the pool (C(gluster peer probe)); otherwise the
    task fails naming the missing peers, before anything is changed. Hosts are matched by the names
    the pool knows them by, or as the target host itself (its host name or one of its addresses).
  - Option values are compared with what C(gluster volume get <name> all) reports after normalising
    both sides, so V(on), V(true), V(yes), V(enable) and V(1) (and YAML booleans) are one value, and
    sizes compare in bytes (V(64MB) equals V(67108864)). Only the options the task names are managed.
  - Errors carry the CLI's own message (C(opErrstr)) in RV(op_errstr) and in the message.
  - O(name) must match the volume name rule in full (letters, digits, C(-) and C(_)); a trailing newline
    is refused, not dropped.
author:
  - pptv.dcos maintainers (@pptv)
extends_documentation_fragment:
  - pptv.dcos._attributes
attributes:
  check_mode:
    support: full
    details: The commands are decided from what glusterd reports and returned in RV(actions); nothing is run
      that changes the volume. Option names of a volume that does not exist yet are checked only when it
      is created.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description:
      - Name of the volume. V(all) is refused (it names the cluster-wide options in the CLI).
    type: str
    required: true
    aliases: [volume]
  state:
    description:
      - V(present) creates the volume when it is missing and leaves an existing volume started or
        stopped as it is (a new volume stays in the C(Created) state).
      - V(started) creates the volume when it is missing and starts it.
      - V(stopped) creates the volume when it is missing and stops it when it runs.
      - V(absent) stops the volume when it runs and deletes it. The brick directories and their data
        are left on the servers.
    type: str
    choices: [present, started, stopped, absent]
    default: present
  bricks:
    description:
      - The bricks of the volume, in order. Each is a string V(host:/path), optionally followed by the word
        C(arbiter) in parentheses to mark an arbiter brick, or a dictionary with C(brick) (V(host:/path)) or
        C(host) and C(path), and an optional boolean C(arbiter).
      - Consecutive bricks form the sets of O(replica) (or O(disperse)) bricks; the number of bricks must be
        a multiple of that size. The parent directory of each brick path must exist on its host.
      - Required to create the volume. On an existing volume, bricks of new whole sets are added
        (C(add-brick)); whole sets that are no longer listed are removed (C(remove-brick start),
        migration, C(commit)) only with O(allow_brick_removal=true). Omit it to leave the bricks alone.
    type: list
    elements: raw
  replica:
    description:
      - Bricks in each replica set, the arbiter included (V(3) for two data bricks and an arbiter).
      - On an existing volume it must match the volume (a change of replica count is refused); omitted,
        the volume's own count is used.
    type: int
  arbiter:
    description:
      - V(1) makes the last brick of every replica set an arbiter (metadata only). Needs O(replica=3).
      - Marking bricks with C(arbiter) in O(bricks) implies V(1).
    type: int
    choices: [0, 1]
  disperse:
    description: Bricks in each disperse (erasure-coded) set; cannot be combined with O(replica).
    type: int
  redundancy:
    description: Bricks of each disperse set that may fail; less than half of O(disperse).
    type: int
  transport:
    description: Transport of a new volume; on an existing one it must match.
    type: str
    choices: [tcp, rdma, "tcp,rdma"]
  options:
    description:
      - Volume options to set, as C(gluster volume set) takes them (full names like
        V(performance.cache-size), or the short names the CLI accepts).
      - Quote values that YAML would turn into something else; booleans and numbers are accepted and sent
        as V(on)/V(off) and digits. Options not listed are left as they are.
      - An option name glusterd does not know fails the task before anything is changed.
      - All changed options are sent in one C(volume set) call, which glusterd validates as a whole.
    type: dict
    default: {}
  quota:
    description:
      - Hard limits of directories inside the volume, a mapping of directory to size (V(/logs) to V(10GB)).
      - Sizes are numbers with an optional unit B, KB, MB, GB, TB or PB (powers of 1024; V(1.5GB) works) and
        are compared in bytes.
      - Enables quota on the volume when needed. The volume must be started, and each directory must
        already exist in the volume. Limits of directories not listed are left as they are.
    type: dict
    default: {}
  force:
    description:
      - Adds C(force) to C(volume create) and C(volume add-brick), as the CLI needs for bricks on the root
        partition or several bricks of one replica set on one server.
    type: bool
    default: false
  allow_brick_removal:
    description:
      - Allows removing the bricks of sets that O(bricks) no longer lists. Removal migrates their data to the
        other bricks first and waits for it (up to O(timeout) seconds) before the commit.
    type: bool
    default: false
  rebalance:
    description: Starts C(gluster volume rebalance <name> start) after bricks were added (volume started).
    type: bool
    default: false
  rebalance_wait:
    description: With O(rebalance=true), waits (up to O(timeout) seconds) until the rebalance completes.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each C(gluster) command; a command still running then is killed and the task
        fails naming it (a hung CLI is never waited on forever).
      - Also the seconds to wait for a rebalance (O(rebalance_wait=true)) or the data migration of a brick
        removal. A removal that times out leaves its commit pending; running the task again waits and commits.
    type: int
    default: 300
  gluster_binary:
    description: The C(gluster) CLI on the target host, as a path or a name looked up in C(PATH).
    type: str
    default: gluster
notes:
  - Peers are not probed by this module; build the pool first (C(gluster peer probe)) from one server.
  - Changing the type of a volume (replica, arbiter, disperse, redundancy or transport) is refused.
seealso:
  - name: GlusterFS volume setup
    description: Volume types, arbiter bricks and the CLI.
    link: https://docs.gluster.org/en/latest/Administrator-Guide/Setting-Up-Volumes/
"""

EXAMPLES = r"""
- name: A replicated logs volume (two data bricks and an arbiter), started, with options and a quota
  pptv.dcos.gluster_volume:
    name: logs
    state: started
    replica: 3
    bricks:
      - gfs1:/data/bricks/logs
      - gfs2:/data/bricks/logs
      - brick: gfs3:/data/arbiter/logs
        arbiter: true
    options:
      performance.cache-size: 256MB
      performance.client-io-threads: "on"
      auth.allow: 10.199.45.*
    quota:
      /app1: 20GB

- name: Grow it by one replica set and rebalance
  pptv.dcos.gluster_volume:
    name: logs
    state: started
    replica: 3
    bricks:
      - gfs1:/data/bricks/logs
      - gfs2:/data/bricks/logs
      - gfs3:/data/arbiter/logs (arbiter)
      - gfs4:/data/bricks/logs
      - gfs5:/data/bricks/logs
      - gfs6:/data/arbiter/logs (arbiter)
    rebalance: true

- name: A test volume of one server, bricks on the root partition
  pptv.dcos.gluster_volume:
    name: scratch
    state: started
    replica: 2
    bricks:
      - "{{ inventory_hostname }}:/srv/gluster/scratch-1"
      - "{{ inventory_hostname }}:/srv/gluster/scratch-2"
    force: true

- name: Delete it (brick directories stay)
  pptv.dcos.gluster_volume:
    name: scratch
    state: absent
"""

RETURN = r"""
actions:
  description: The gluster commands run, or in check mode the ones that would run, in order.
  returned: always
  type: list
  elements: str
  sample:
    - gluster --mode=script volume create logs replica 2 gfs1:/b/logs gfs2:/b/logs
    - gluster --mode=script volume start logs
done:
  description: On failure, the commands that completed before the failing one (RV(actions) holds the same then).
  returned: failure
  type: list
  elements: str
op_errstr:
  description: The error text (C(opErrstr)) of the gluster command that failed.
  returned: failure of a gluster command
  type: str
  sample: Volume pptv already started
missing_peers:
  description: Brick hosts that are not in the trusted storage pool.
  returned: failure because of them
  type: list
  elements: str
volume:
  description: The volume as glusterd reports it after the task (before it in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Volume name.
      type: str
    id:
      description: Volume UUID.
      type: str
    status:
      description: C(Created), C(Started) or C(Stopped).
      type: str
    type:
      description: Gluster's type string, like C(Replicate) or C(Distributed-Replicate).
      type: str
    brick_count:
      description: Number of bricks.
      type: int
    dist_count:
      description: Number of distribute subvolumes (sets).
      type: int
    replica:
      description: Bricks per replica set (arbiter included); 1 when not replicated.
      type: int
    arbiter:
      description: Arbiter bricks per replica set.
      type: int
    disperse:
      description: Bricks per disperse set; 0 when not dispersed.
      type: int
    redundancy:
      description: Redundancy of each disperse set.
      type: int
    transport:
      description: V(tcp), V(rdma) or V(tcp,rdma).
      type: str
    bricks:
      description: Bricks in order, with C(name), C(host), C(path), C(host_uuid) and C(arbiter).
      type: list
      elements: dict
    options:
      description: The options set on the volume (C(volume info)), as glusterd stores them.
      type: dict
  sample:
    name: logs
    status: Started
    type: Replicate
    replica: 2
    bricks:
      - name: "gfs1:/b/logs"
        host: gfs1
        path: /b/logs
        arbiter: false
        host_uuid: 479d617a-320a-4029-8fa5-843ce634d2e9
    options: {performance.cache-size: 64MB}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._gluster import ensure_volume  # noqa: E402


def argument_spec():
    return dict(
        name=dict(type="str", required=True, aliases=["volume"]),
        state=dict(type="str", default="present", choices=["present", "started", "stopped", "absent"]),
        bricks=dict(type="list", elements="raw"),
        replica=dict(type="int"),
        arbiter=dict(type="int", choices=[0, 1]),
        disperse=dict(type="int"),
        redundancy=dict(type="int"),
        transport=dict(type="str", choices=["tcp", "rdma", "tcp,rdma"]),
        options=dict(type="dict", default={}),
        quota=dict(type="dict", default={}),
        force=dict(type="bool", default=False),
        allow_brick_removal=dict(type="bool", default=False),
        rebalance=dict(type="bool", default=False),
        rebalance_wait=dict(type="bool", default=False),
        timeout=dict(type="int", default=300),
        gluster_binary=dict(type="str", default="gluster"),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("replica", "disperse")],
        required_by={"redundancy": "disperse"},
        supports_check_mode=True,
    )
    record = ChangeRecord(check_mode=module.check_mode, diff_mode=module._diff)
    try:
        binary = module.params["gluster_binary"]
        if "/" not in binary:
            found = module.get_bin_path(binary)
            if found is None:
                raise DcosError(f"gluster_binary: {binary!r} is not found in PATH (install glusterfs-server)")
            binary = found
        result = ensure_volume(module.params, record, binary)
    except DcosError as e:
        fail_from(module, e, record, done=list(record.applied))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
