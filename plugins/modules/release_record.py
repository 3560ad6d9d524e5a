#!/usr/bin/python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_record
short_description: Record, verify and list signed promotion records (which image digest passed its tests where)
version_added: 0.1.0
description:
  - A test job records that image digest O(digest) of app O(app) passed (or failed) in env O(env);
    C(promote) later refuses any digest without a passing record (the C(pptv.dcos) policy).
  - Records are audit data and B(append-only). A record is never rewritten or removed; a later record
    for the same app, digest and env supersedes the earlier one for the policy check (a C(failed) after
    a C(passed) withdraws it), and the whole history stays.
  - Each record holds C(app), C(image), C(digest), C(env), C(result), C(time) (UTC, ISO 8601), C(user),
    C(job), C(notes) and C(signature), an HMAC-SHA256 over the canonical JSON of the other fields (sorted
    keys, compact, UTF-8) with O(signing_key). A record edited by hand, or signed with another key, fails
    verification; it is reported (RV(invalid), C(valid=false)) and never trusted.
  - Two backends. V(file) appends JSON lines to O(path) on the host that runs the module (run it with
    C(delegate_to=localhost) and C(run_once)), under an exclusive lock across processes, with fsync.
    V(zookeeper) keeps one sequential znode per record under O(zk_root), appended in a transaction, so
    several controllers (AWX nodes) share one history.
author:
  - pptv.dcos maintainers (@pptv)
extends_documentation_fragment:
  - pptv.dcos._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
    details: With O(state=recorded), the identical record (same app, image, digest, env, result and job) already
      present, and verified, is not appended again.
options:
  state:
    description:
      - V(recorded) appends a signed record (O(image), O(digest), O(env), O(result), O(user) and O(job) required).
      - V(verified) reads only. It succeeds with the newest passing record of O(app)@O(digest) in one of
        O(required_envs), counting in each env only that env's newest verified record; otherwise it fails with a
        message naming the policy and the records it found.
      - V(query) reads only and returns the records of O(app), newest first, each with C(valid); O(digest),
        O(env), O(result) and O(image) narrow the list.
    type: str
    required: true
    choices: [recorded, verified, query]
  app:
    description:
      - The app of the catalogue, lowercase names separated by C(/) (V(shop/web)), without a leading C(/).
    type: str
    required: true
  image:
    description:
      - The image repository without tag or digest (V(registry.example:5000/shop/web)).
      - Required with O(state=recorded); with V(verified) and V(query), only records of this repository count.
    type: str
  digest:
    description:
      - The image digest, exactly C(sha256:) and 64 lowercase hex digits (as C(docker inspect) shows in
        C(RepoDigests)).
      - Required with O(state=recorded) and O(state=verified); a filter with V(query).
    type: str
  env:
    description:
      - The env the image was tested in (a Marathon group name, V(int), V(func-shop)).
      - Required with O(state=recorded); a filter with V(query).
    type: str
  result:
    description:
      - The outcome of the test job. Required with O(state=recorded); a filter with V(query).
    type: str
    choices: [passed, failed]
  required_envs:
    description:
      - With O(state=verified), the envs of the policy; a passing record in any one of them is enough
        (V([int]), or V([func-shop, int])).
    type: list
    elements: str
  user:
    description:
      - Who recorded it (in AWX, C(awx_user_name)). Required with O(state=recorded).
    type: str
  job:
    description:
      - The job that tested the image (in AWX, C(awx_job_id) or the job's URL). Required with O(state=recorded).
    type: str
  notes:
    description: Free text kept with the record (O(state=recorded) only).
    type: str
  signing_key:
    description:
      - The HMAC key records are signed and verified with, at least 16 characters. Give it from Ansible Vault,
        never as a plain extra var; in AWX use O(signing_key_file) (the credential type injects a file).
      - Taken from E(PPTV_DCOS_RELEASE_SIGNING_KEY) when not given. An environment variable is copied by
        ansible-runner into its C(artifacts/<job>/command) file, so prefer O(signing_key_file) under runner/AWX.
      - One of O(signing_key) and O(signing_key_file) is required.
    type: str
  signing_key_file:
    description:
      - A file holding the signing key (a trailing newline is ignored), an absolute path. The AWX credential
        type C(pptv.dcos release signing key) writes the key to such a file for the job and sets
        E(PPTV_DCOS_RELEASE_SIGNING_KEY_FILE) to its path, so the key is in no environment and no artifact.
      - Taken from E(PPTV_DCOS_RELEASE_SIGNING_KEY_FILE) when not given.
    type: path
  backend:
    description:
      - Where the records are kept.
      - Taken from E(PPTV_DCOS_RELEASE_BACKEND) when not given.
    type: str
    choices: [file, zookeeper]
    default: file
  path:
    description:
      - The records file of the V(file) backend (JSON lines; a C(.lock) file is kept beside it), an absolute
        path (V(~) is expanded).
      - Taken from E(PPTV_DCOS_RELEASE_PATH) when not given.
    type: str
    default: /var/lib/pptv-dcos/releases.jsonl
  lock_timeout:
    description: Seconds to wait for the lock of the V(file) backend (V(0) or more).
    type: int
    default: 60
  zk_hosts:
    description:
      - ZooKeeper connection string of the V(zookeeper) backend, V(host:port,host:port).
      - Taken from E(PPTV_DCOS_ZK_HOSTS) when not given.
    type: str
    default: 127.0.0.1:2181
  zk_root:
    description:
      - ZooKeeper path under which the V(zookeeper) backend keeps the records (C(<zk_root>/records/record-N)).
      - Taken from E(PPTV_DCOS_RELEASE_ZK_ROOT) when not given.
    type: str
    default: /pptv-dcos/releases
  zk_timeout:
    description: Seconds to wait for ZooKeeper (more than 0).
    type: float
    default: 10
requirements:
  - kazoo (for O(backend=zookeeper))
notes:
  - Rotating O(signing_key) makes the records signed with the old key untrusted; keep the key in one vault
    or AWX credential for the lifetime of the records.
seealso:
  - module: pptv.dcos.marathon_app
"""

EXAMPLES = r"""
- name: The test job records that the digest passed in int
  pptv.dcos.release_record:
    state: recorded
    app: shop/web
    image: registry.example:5000/shop/web
    digest: "sha256:{{ '0' * 64 }}"
    env: int
    result: passed
    user: "{{ awx_user_name | default(lookup('env', 'USER')) }}"
    job: "{{ awx_job_id | default('cli') }}"
    signing_key: "{{ vault_release_signing_key }}"
  delegate_to: localhost
  run_once: true

- name: Promote refuses a digest without a passing record in int
  pptv.dcos.release_record:
    state: verified
    app: shop/web
    digest: "{{ digest }}"
    required_envs: [int]
  delegate_to: localhost
  run_once: true
  register: release  # release.image_ref is repository@sha256:...

- name: The digests that passed, newest first (rollback's previous one is the second)
  pptv.dcos.release_record:
    state: query
    app: shop/web
    result: passed
  delegate_to: localhost
  run_once: true
  register: history
"""

RETURN = r"""
record:
  description:
    - With V(recorded), the record appended (or the identical one already present).
    - With V(verified), the passing record that satisfied the policy.
    - The record's fields plus C(valid), C(reason) (why it is not trusted, null when valid) and C(where)
      (the file and line, or the znode; null in check mode).
  returned: state is recorded or verified
  type: dict
  sample: {"version": 1, "app": "shop/web", "image": "registry.example:5000/shop/web",
           "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "env": "int",
           "result": "passed", "time": "2025-01-01T12:00:00Z", "user": "alice", "job": "42", "notes": null,
           "signature": "hmac-sha256:...", "valid": true, "reason": null,
           "where": "/var/lib/pptv-dcos/releases.jsonl:7"}
appended:
  description: Whether the task appended (or in check mode would append) a record.
  returned: state is recorded
  type: bool
image_ref:
  description: C(image@digest) of the passing record, what promote deploys.
  returned: state is verified and the policy is met
  type: str
  sample: registry.example:5000/shop/web@sha256:0000000000000000000000000000000000000000000000000000000000000000
policy:
  description: The name of the policy checked.
  returned: state is verified
  type: str
  sample: pptv.dcos
records:
  description:
    - With V(verified), the verified records of O(app)@O(digest), newest first (also when failed).
    - With V(query), the records of O(app) that match the filters, newest first, each with C(valid) and C(reason).
  returned: state is verified or query
  type: list
  elements: dict
passed_digests:
  description: The digests with a verified C(passed) record among RV(records), newest first, each once.
  returned: state is query
  type: list
  elements: str
count:
  description: With V(recorded), how many records the store holds after the task; with V(query), len(RV(records)).
  returned: state is recorded or query
  type: int
invalid:
  description: Stored records that are not trusted (not JSON, a field missing or wrong, a signature that does not
    verify), with C(where) and C(reason).
  returned: always
  type: list
  elements: dict
actions:
  description: Steps taken (or that would be taken in check mode).
  returned: always
  type: list
  elements: str
  sample:
    - append passed record of web@sha256:0000000000000000000000000000000000000000000000000000000000000000 in env int
diff:
  description: Before and after record count, and the record appended.
  returned: when the task runs in diff mode (C(--diff)) with state recorded
  type: dict
  sample: {"before": {"count": 6, "record": null}, "after": {"count": 7, "record": {"app": "shop/web"}}}
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib  # noqa: E402

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils._release import (  # noqa: E402
    HAS_KAZOO,
    KAZOO_IMPORT_ERROR,
    SIGNING_KEY_ENV,
    SIGNING_KEY_FILE_ENV,
    STORE_OPTIONS_SPEC,
    ReleaseRecordManager,
    open_store,
)


def argument_spec():
    spec = {
        "state": {"type": "str", "required": True, "choices": ["recorded", "verified", "query"]},
        "app": {"type": "str", "required": True},
        "image": {"type": "str"},
        "digest": {"type": "str"},
        "env": {"type": "str"},
        "result": {"type": "str", "choices": ["passed", "failed"]},
        "required_envs": {"type": "list", "elements": "str"},
        "user": {"type": "str"},
        "job": {"type": "str"},
        "notes": {"type": "str"},
        "signing_key": {"type": "str", "no_log": True, "fallback": (env_fallback, [SIGNING_KEY_ENV])},
        "signing_key_file": {"type": "path", "fallback": (env_fallback, [SIGNING_KEY_FILE_ENV])},
    }
    spec.update(STORE_OPTIONS_SPEC)
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[
            ("state", "recorded", ("image", "digest", "env", "result", "user", "job")),
            ("state", "verified", ("digest", "required_envs")),
        ],
        mutually_exclusive=[("signing_key", "signing_key_file")],
        required_one_of=[("signing_key", "signing_key_file")],
        supports_check_mode=True,
    )
    if module.params["backend"] == "zookeeper" and not HAS_KAZOO:
        module.fail_json(msg=missing_required_lib("kazoo"), exception=KAZOO_IMPORT_ERROR)
    record = ChangeRecord(check_mode=module.check_mode, diff_mode=module._diff)
    store = None
    try:
        manager = ReleaseRecordManager(module.params, record)  # checks every option: raises DcosError
        store = open_store(module.params)
        result = manager.run(store)
    except DcosError as e:
        fail_from(module, e, record)
    finally:
        if store is not None:
            store.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
