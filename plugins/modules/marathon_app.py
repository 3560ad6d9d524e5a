#!/usr/bin/python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 (imports follow the documentation, as ansible-test requires)

from __future__ import annotations

DOCUMENTATION = r"""
module: marathon_app
short_description: Converge Marathon apps (create, update, scale, restart, stop, roll back, delete)
version_added: 0.1.0
description:
  - Puts an app on Marathon (a real cluster or the pptv.dcos lab) and keeps it as described, or many
    apps at once with O(apps).
  - "Only the top-level fields given in O(definition) are compared with C(GET /v2/apps/{id}), after
    both sides are normalised: Marathon's defaults are filled in, the Marathon 1.4 forms (C(ipAddress),
    C(container.docker.network), C(container.docker.portMappings), C(ports), C(uris)) equal their 1.5+
    forms (C(networks), C(container.portMappings), C(portDefinitions), C(fetch)), labels and environment
    compare as maps, and a service port of V(0) matches the port Marathon assigned."
  - When nothing differs the module sends no write request and reports no change.
  - "Marathon replaces each top-level field given in an update whole: a field given here is the
    complete desired value of that field (for example the whole C(container))."
  - Changing any label (or any field other than C(instances)) makes Marathon restart every task of the
    app (a rolling upgrade); changing only C(instances) is a pure scale.
author: pptv.dcos maintainers (@pptv-dcos)
extends_documentation_fragment:
  - pptv.dcos._attributes
  - pptv.dcos._marathon
attributes:
  check_mode:
    support: full
    details: Reads Marathon and reports what would change; sends no write request and creates no deployment.
  diff_mode:
    support: full
    details: Shows before and after of the top-level fields the definition manages (normalised).
  idempotent:
    support: full
options:
  app_id:
    description:
      - The id of the app, a path such as V(/int/redis) (a missing leading V(/) is added).
      - Mutually exclusive with O(apps); one of them is required.
    type: str
  definition:
    description:
      - A Marathon app definition (a dict, or YAML/JSON), in the 1.4 or the 1.5+ form.
      - Its C(id) is optional; when given it must equal O(app_id).
      - Read-only fields (C(version), C(versionInfo), C(tasks), C(tasksRunning), C(deployments)...) are ignored,
        so the C(app) of a previous run or of M(pptv.dcos.marathon_app_info) can be passed back.
      - Label and environment values that are numbers or booleans are sent as strings.
      - Its fields must be fields of Marathon's app schema, and its numbers finite and within Marathon's
        bounds (ports 0 to 65535); anything else fails naming the field, before anything is sent.
      - Required to create an app; may be omitted to scale, stop or restart an existing app.
    type: dict
  state:
    description:
      - V(present) creates or updates the app.
      - V(absent) deletes it (no error when it does not exist).
      - V(restarted) converges the definition if given, then asks for a rolling restart unless the
        update already replaced every task. Always reports a change.
      - V(stopped) scales the app to 0 instances and keeps its definition.
    type: str
    choices: [present, absent, restarted, stopped]
    default: present
  instances:
    description:
      - The number of instances, overriding C(instances) of O(definition).
    type: int
  version:
    description:
      - Roll the app back (or forward) to this version, one listed by C(GET /v2/apps/{id}/versions)
        (for example V(2026-11-29T16:01:02.345Z)).
      - V(previous) means the configuration before the current one, the newest version older than the
        app's C(versionInfo.lastConfigChangeAt) (scale-only versions since then are skipped). The task
        fails when there is none. Run twice, it returns to the newer configuration, as a second
        C(kubectl rollout undo) would; RV(target_version) tells which version was chosen.
      - Nothing is sent when the app already equals that version.
      - Mutually exclusive with O(definition) and O(instances).
    type: str
  apps:
    description:
      - Converge many apps in one call, the fast path for environments.
      - One C(GET /v2/apps) reads them all, one C(PUT /v2/apps) writes every created or updated app
        (one deployment), deletions follow, and one wait covers every deployment.
      - Mutually exclusive with O(app_id).
    type: list
    elements: dict
    suboptions:
      app_id:
        description: The id of the app.
        type: str
        required: true
      definition:
        description: The app definition, as O(definition).
        type: dict
      state:
        description: As O(state).
        type: str
        choices: [present, absent, restarted, stopped]
        default: present
      instances:
        description: As O(instances).
        type: int
  force:
    description:
      - When false, a change refused because a running deployment locks the app (HTTP 409) is retried
        once that deployment has finished, waiting up to O(wait_timeout); after that the task fails
        naming the blocking deployment.
      - When true, the change is sent with C(force=true) and cancels the deployment holding the lock.
    type: bool
    default: false
  wait:
    description:
      - Wait until the deployment has left C(/v2/deployments) and the app runs O(instances) tasks of
        its new version, all healthy when the app has health checks (or is gone, for V(absent)).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for a deployment (and for a lock to be released), more than 0. On timeout the
        task fails, naming the deployment and the step it is on.
    type: float
    default: 300
notes:
  - Secrets in C(env) are visible to anyone who can read the app in Marathon; use C(secrets) where
    the cluster supports them.
seealso:
  - module: pptv.dcos.marathon_app_info
  - plugin: pptv.dcos.marathon_endpoints
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Set the Marathon connection once for the play
  module_defaults:
    group/pptv.dcos.marathon:
      url: http://127.0.0.1:8080
  block:
    - name: Run a web server from a Docker image
      pptv.dcos.marathon_app:
        app_id: /int/web
        definition:
          cmd: python3 -m http.server 8080
          cpus: 0.1
          mem: 64
          instances: 2
          container:
            type: DOCKER
            docker:
              image: pptv-dcos/base:bookworm
              parameters:
                - {key: net, value: oak-net}
                - {key: ip, value: 10.199.45.10}
          labels:
            pptv.service.port: "8080"
          healthChecks:
            - protocol: COMMAND
              command: {value: "true"}

    - name: Scale it
      pptv.dcos.marathon_app:
        app_id: /int/web
        instances: 3

    - name: Rolling restart
      pptv.dcos.marathon_app:
        app_id: /int/web
        state: restarted

    - name: Stop it, keeping its definition
      pptv.dcos.marathon_app:
        app_id: /int/web
        state: stopped

    - name: Roll back to an earlier version
      pptv.dcos.marathon_app:
        app_id: /int/web
        version: "2026-11-29T16:01:02.345Z"

    - name: Roll back to the configuration before the current one, cancelling a deployment in flight
      pptv.dcos.marathon_app:
        app_id: /prod/web
        version: previous
        force: true

    - name: Converge a whole environment in one call
      pptv.dcos.marathon_app:
        apps:
          - app_id: /int/redis
            definition: "{{ redis_definition }}"
          - app_id: /int/web
            definition: "{{ web_definition }}"
          - app_id: /int/old
            state: absent

    - name: Delete the app
      pptv.dcos.marathon_app:
        app_id: /int/web
        state: absent
"""

RETURN = r"""
app:
  description:
    - The app as Marathon returns it after the change (tasks embedded when the module waited), empty when absent.
  returned: when O(app_id) is given
  type: dict
  sample: {"id": "/int/web", "instances": 2, "version": "2026-11-29T16:01:02.345Z", "tasksRunning": 2}
deployment_id:
  description: The id of the deployment the change started, null when nothing was sent.
  returned: when O(app_id) is given
  type: str
  sample: 5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43
version:
  description: The app's version after the change.
  returned: when O(app_id) is given
  type: str
  sample: "2026-11-29T16:01:02.345Z"
target_version:
  description:
    - The stored version the app was rolled to (O(version), or the one V(previous) chose); null without O(version).
  returned: when O(app_id) is given
  type: str
  sample: "2026-11-29T16:01:02.345Z"
changed_fields:
  description:
    - The fields that differ (paths such as C(labels.env) or C(container.docker.image)); C(app) when the
      app is created or deleted.
  returned: when O(app_id) is given
  type: list
  elements: str
  sample: ["labels.env", "instances"]
tasks:
  description: Counts of the app's tasks.
  returned: when O(app_id) is given
  type: dict
  contains:
    running:
      description: Tasks running.
      type: int
    healthy:
      description: Tasks passing their health checks.
      type: int
    unhealthy:
      description: Tasks failing a health check.
      type: int
    staged:
      description: Tasks staged, not yet running.
      type: int
  sample: {"running": 2, "healthy": 2, "unhealthy": 0, "staged": 0}
apps:
  description: One entry per app of O(apps), in order.
  returned: when O(apps) is given
  type: list
  elements: dict
  sample:
    - {"app_id": "/int/web", "state": "present", "changed": true, "action": "update",
       "changed_fields": ["instances"], "version": "2026-11-29T16:01:02.345Z",
       "tasks": {"running": 2, "healthy": 2, "unhealthy": 0, "staged": 0}}
deployment_ids:
  description: The deployments started (bulk form).
  returned: when O(apps) is given
  type: list
  elements: str
actions:
  description:
    - What was done (or would be, in check mode), in order.
    - On a failure, only the writes made before it.
  returned: always
  type: list
  elements: str
  sample: ["update app /int/web (instances)"]
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_app import STATES
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import (
    MARATHON_CONNECTION_MUTUALLY_EXCLUSIVE,
    MARATHON_CONNECTION_REQUIRED_TOGETHER,
    MARATHON_CONNECTION_SPEC,
    MarathonClient,
)
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_manager import MarathonAppManager


def argument_spec():
    spec = copy.deepcopy(MARATHON_CONNECTION_SPEC)
    spec.update(
        app_id=dict(type="str"),
        definition=dict(type="dict"),
        state=dict(type="str", choices=list(STATES), default="present"),
        instances=dict(type="int"),
        version=dict(type="str"),
        apps=dict(
            type="list",
            elements="dict",
            options=dict(
                app_id=dict(type="str", required=True),
                definition=dict(type="dict"),
                state=dict(type="str", choices=list(STATES), default="present"),
                instances=dict(type="int"),
            ),
        ),
        force=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="float", default=300),
    )
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=MARATHON_CONNECTION_MUTUALLY_EXCLUSIVE
        + [
            ("app_id", "apps"),
            ("apps", "definition"),
            ("apps", "instances"),
            ("apps", "version"),
            ("version", "definition"),
            ("version", "instances"),
        ],
        required_one_of=[("app_id", "apps")],
        required_together=MARATHON_CONNECTION_REQUIRED_TOGETHER,
    )
    record = ChangeRecord(check_mode=module.check_mode, diff_mode=module._diff)
    try:
        client = MarathonClient.from_module(module)
        result = MarathonAppManager(client, module.params, record).run()
    except DcosError as e:
        fail_from(module, e, record)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
