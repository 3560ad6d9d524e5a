#!/usr/bin/python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 (imports follow the documentation, as ansible-test requires)

from __future__ import annotations

DOCUMENTATION = r"""
module: marathon_app_info
short_description: Read Marathon apps with their tasks, health and versions
version_added: 0.1.0
description:
  - Reads one app by id, the apps of a group, or the apps matching a label selector, as Marathon
    returns them, with their tasks (and each task's health check results) embedded.
  - Changes nothing.
author: pptv.dcos maintainers (@pptv-dcos)
extends_documentation_fragment:
  - pptv.dcos._attributes.INFO_MODULE
  - pptv.dcos._marathon
options:
  app_id:
    description:
      - The id of one app (V(/int/redis)). Mutually exclusive with O(group).
      - An app that does not exist gives an empty O(ignore:apps) list, not an error.
    type: str
  group:
    description:
      - "A group (V(/int)): every app whose id is under it, at any depth."
    type: str
  label:
    description:
      - A Marathon label selector, for example V(pptv.env==int) or V(tier in (web,api)),
        several terms joined by commas (all must match).
    type: str
  tasks:
    description:
      - Embed each app's tasks (C(tasks)) with their health check results.
    type: bool
    default: true
  versions:
    description:
      - Add each app's version list (C(versions), newest first). One extra request per app.
    type: bool
    default: false
seealso:
  - module: pptv.dcos.marathon_app
"""

EXAMPLES = r"""
- name: One app
  pptv.dcos.marathon_app_info:
    url: http://127.0.0.1:8080
    app_id: /int/web
  register: web

- name: Every app of the integration environment, with their versions
  pptv.dcos.marathon_app_info:
    url: http://127.0.0.1:8080
    group: /int
    versions: true
  register: int_apps

- name: The apps that carry a label
  pptv.dcos.marathon_app_info:
    url: http://127.0.0.1:8080
    label: pptv.service.domain
  register: discoverable
"""

RETURN = r"""
apps:
  description:
    - The apps as Marathon returns them (counts C(tasksRunning), C(tasksHealthy), C(tasksStaged),
      C(tasksUnhealthy) always present), sorted by id.
  returned: always
  type: list
  elements: dict
  sample:
    - {"id": "/int/web", "instances": 2, "version": "2026-11-29T16:01:02.345Z", "tasksRunning": 2,
       "tasks": [{"id": "int_web.instance-1", "state": "TASK_RUNNING", "host": "127.0.0.1", "ports": [31001],
                  "healthCheckResults": [{"alive": true}]}],
       "versions": ["2026-11-29T16:01:02.345Z"]}
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import (
    MARATHON_CONNECTION_MUTUALLY_EXCLUSIVE,
    MARATHON_CONNECTION_REQUIRED_TOGETHER,
    MARATHON_CONNECTION_SPEC,
    MarathonClient,
)
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_manager import read_apps


def argument_spec():
    spec = copy.deepcopy(MARATHON_CONNECTION_SPEC)
    spec.update(
        app_id=dict(type="str"),
        group=dict(type="str"),
        label=dict(type="str"),
        tasks=dict(type="bool", default=True),
        versions=dict(type="bool", default=False),
    )
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=MARATHON_CONNECTION_MUTUALLY_EXCLUSIVE + [("app_id", "group")],
        required_together=MARATHON_CONNECTION_REQUIRED_TOGETHER,
    )
    params = module.params
    try:
        client = MarathonClient.from_module(module)
        apps = read_apps(
            client,
            app_id=params["app_id"],
            group=params["group"],
            label=params["label"],
            tasks=params["tasks"],
            versions=params["versions"],
        )
    except DcosError as e:
        fail_from(module, e)
    module.exit_json(changed=False, apps=apps)


if __name__ == "__main__":
    main()
