# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's core: an app goes from POST to running containers on the engine and away again."""

from __future__ import annotations

import subprocess

from labhelpers import sleeper


def test_create_runs_containers_and_delete_removes_them(api, lab, app_id):
    created = api.post("/v2/apps", json=sleeper(app_id, instances=2))
    assert created.status_code == 201, created.text
    assert created.headers["Marathon-Deployment-Id"] == created.json()["deployments"][0]["id"]
    tasks = api.wait_running(app_id, 2)
    containers = lab.containers()
    assert len(containers) == 2
    labels = subprocess.run(
        ["docker", "inspect", "-f", '{{ index .Config.Labels "org.pptv.dcos.lab.task" }}', *containers],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert sorted(labels) == sorted(t["id"] for t in tasks)
    deleted = api.delete(f"/v2/apps{app_id}")
    assert deleted.status_code == 200
    api.wait_deployed(deleted.json()["deploymentId"])
    assert api.get(f"/v2/apps{app_id}").status_code == 404
    api.wait_for(lambda: not lab.containers(), 20, what="containers removed")
