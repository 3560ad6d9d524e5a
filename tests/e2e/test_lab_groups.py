# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``/v2/groups``: the group tree, 404s, a whole group deleted in one deployment, the 409 lock."""

from __future__ import annotations

import re
import uuid

import pytest
from labhelpers import Api, EventStream, sleeper
from support.lab import lab_instance
from support.procs import docker

PARENT = "/pptvlab"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
GROUP_KEYS = {"id", "apps", "pods", "groups", "dependencies", "version", "enforceRole"}
COUNTS = ("tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy")
LOCKED = (
    "App is locked by one or more deployments. Override with the option '?force=true'. "
    "View details at '/v2/deployments/<DEPLOYMENT_ID>'."
)


@pytest.fixture
def group(api):
    group_id = f"{PARENT}/g{uuid.uuid4().hex[:8]}"
    yield group_id
    api.delete(f"/v2/groups{group_id}?force=true")  # 200, or 404 when the test removed it
    api.wait_deployed(timeout=30)


@pytest.fixture
def stream(lab):
    streams = []

    def open_stream(*types):
        s = EventStream(lab.url, types)
        streams.append(s)
        return s

    yield open_stream
    for s in streams:
        s.close()


def _create(api, app_id, **extra):
    response = api.post("/v2/apps", json=sleeper(app_id, **extra))
    assert response.status_code == 201, response.text
    return response.json()


def _app_containers(lab, app_id):
    label = f"org.pptv.dcos.lab.app={app_id}"
    return docker(
        "ps", "-aq", "--filter", f"label=org.pptv.dcos.lab.instance={lab.instance}", "--filter", f"label={label}"
    ).stdout.split()


def _ids(items):
    return [item["id"] for item in items]


def test_tree_of_a_group_with_nested_groups_and_apps(api, group):
    created = [_create(api, f"{group}/{suffix}", instances=0) for suffix in ("a", "sub/b", "sub/deep/c", "sub/deep/d")]
    api.wait_deployed()
    body = api.get(f"/v2/groups{group}").json()
    assert set(body) == GROUP_KEYS
    assert (body["id"], body["dependencies"], body["pods"], body["enforceRole"]) == (group, [], [], False)
    assert _ids(body["apps"]) == [f"{group}/a"]
    (sub,) = body["groups"]
    assert set(sub) == GROUP_KEYS and sub["id"] == f"{group}/sub"
    assert _ids(sub["apps"]) == [f"{group}/sub/b"]
    (deep,) = sub["groups"]
    assert _ids(deep["apps"]) == [f"{group}/sub/deep/c", f"{group}/sub/deep/d"]
    assert deep["groups"] == []
    # A group's version is that of the last change under it.
    assert TS.match(body["version"])
    assert body["version"] == sub["version"] == deep["version"] == created[-1]["version"]
    # Apps as Marathon's GroupsResource writes them: the app definition, without the counts and
    # deployments that /v2/apps always embeds.
    app = api.get(f"/v2/apps{group}/a").json()["app"]
    hidden = (*COUNTS, "deployments", "tasks", "lastTaskFailure")
    assert body["apps"][0] == {k: v for k, v in app.items() if k not in hidden}
    # A subtree on its own, a trailing slash, and the whole tree from the root.
    assert api.get(f"/v2/groups{group}/sub").json() == sub
    assert api.get(f"/v2/groups{group}/sub/").json() == sub
    for path in ("/v2/groups", "/v2/groups/"):
        root = api.get(path).json()
        assert set(root) == GROUP_KEYS and root["id"] == "/"
        (parent,) = [g for g in root["groups"] if g["id"] == PARENT]
        (mine,) = [g for g in parent["groups"] if g["id"] == group]
        assert mine == body


def test_embed_selects_apps_groups_and_app_details(api, group):
    app_id = f"{group}/sub/a"
    _create(api, app_id, instances=1)
    api.wait_running(app_id, 1)
    api.wait_deployed()

    def get(*embeds):
        query = "&".join(f"embed={e}" for e in embeds)
        return api.get(f"/v2/groups{group}?{query}").json()

    counted = get("group.groups", "group.apps", "group.apps.counts")["groups"][0]["apps"][0]
    assert counted["tasksRunning"] == 1 and counted["tasksStaged"] == 0
    assert "tasks" not in counted and "deployments" not in counted
    with_tasks = get("group.groups", "group.apps", "group.apps.tasks")["groups"][0]["apps"][0]
    assert [t["state"] for t in with_tasks["tasks"]] == ["TASK_RUNNING"]
    assert with_tasks["deployments"] == [] and "tasksRunning" not in with_tasks
    # Without group.groups the subgroups are not listed; without group.apps, no apps.
    only_apps = get("group.apps")
    assert (only_apps["groups"], only_apps["apps"]) == ([], [])
    only_groups = get("group.groups")
    assert _ids(only_groups["groups"]) == [f"{group}/sub"] and only_groups["groups"][0]["apps"] == []
    # Unknown embeds are ignored; an app embed alone embeds neither apps nor groups.
    assert get("group.apps.counts", "nonsense")["groups"] == []
    # GET /v2/groups/{id}/apps: every app under the group, a bare array.
    listed = api.get(f"/v2/groups{group}/apps").json()
    assert _ids(listed) == [app_id] and "tasksRunning" not in listed[0]
    assert api.get(f"/v2/groups{group}/nothing/apps").json() == []


def test_unknown_group_is_404_with_marathons_message(api, group, stream):
    _create(api, f"{group}/a", instances=0)
    events = stream("group_change_failed", "group_change_success")
    # An app is not a group.
    for missing in (f"{group}/nope", f"{group}/a", f"{group}/nope/deeper"):
        message = {"message": f"Group '{missing}' does not exist"}
        response = api.get(f"/v2/groups{missing}")
        assert (response.status_code, response.json()) == (404, message)
        deleted = api.delete(f"/v2/groups{missing}")
        assert (deleted.status_code, deleted.json()) == (404, message)
        # Marathon's GroupManager reports the refused change on the group the change was made on.
        kind, data = events.next()
        assert kind == "group_change_failed"
        assert data["groupId"] == missing.rsplit("/", 1)[0] and data["reason"] == message["message"]
    assert api.get(f"/v2/apps{group}/a").status_code == 200


def test_delete_removes_every_app_and_container_in_one_deployment(lab, api, group, stream):
    ids = [f"{group}/a", f"{group}/sub/b"]
    _create(api, ids[0], instances=1)
    _create(api, ids[1], instances=2)
    api.wait_running(ids[0], 1)
    api.wait_running(ids[1], 2)
    api.wait_deployed()
    assert [len(_app_containers(lab, i)) for i in ids] == [1, 2]
    events = stream(
        "group_change_success",
        "api_post_event",
        "deployment_info",
        "deployment_step_success",
        "deployment_success",
        "deployment_failed",
        "status_update_event",
        "app_terminated_event",
    )

    response = api.delete(f"/v2/groups{group}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"deploymentId", "version"} and TS.match(body["version"])
    assert response.headers["Marathon-Deployment-Id"] == body["deploymentId"]
    # The group and its apps leave the tree at once; the deployment kills the tasks.
    assert api.get(f"/v2/groups{group}").status_code == 404
    assert api.get(f"/v2/groups{group}/sub").status_code == 404
    assert not [a for a in _ids(api.get("/v2/apps").json()["apps"]) if a.startswith(group + "/")]
    assert group not in _ids(api.get(f"/v2/groups{PARENT}").json()["groups"])

    dep = body["deploymentId"]
    seen = events.collect_until(lambda t, d: t == "deployment_success" and d["id"] == dep)
    types = [t for t, _d in seen]
    assert seen[0] == ("group_change_success", {**seen[0][1], "groupId": PARENT, "version": body["version"]})
    assert "api_post_event" not in types and "deployment_failed" not in types
    # One deployment, one step stopping both apps.
    infos = [d for t, d in seen if t == "deployment_info"]
    assert len(infos) == 1 and infos[0]["plan"]["id"] == dep
    stops = [{"action": "StopApplication", "app": i} for i in ids]
    assert infos[0]["plan"]["steps"] == [{"actions": stops}]
    assert infos[0]["currentStep"]["actions"] == stops
    statuses = [d["taskStatus"] for t, d in seen if t == "status_update_event"]
    assert sorted(statuses) == ["TASK_KILLED"] * 3 + ["TASK_KILLING"] * 3
    assert sorted(d["appId"] for t, d in seen if t == "app_terminated_event") == ids
    assert types.index("deployment_step_success") > max(i for i, t in enumerate(types) if t == "app_terminated_event")
    assert dep not in _ids(api.deployments())
    api.wait_for(lambda: not any(_app_containers(lab, i) for i in ids), 30, what="the group's containers removed")


def test_locked_app_refuses_the_delete_with_409_until_forced(api, group, stream):
    crashing = f"{group}/sub/crash"
    # A task that exits at once, with a long backoff: its deployment never finishes.
    first = api.post("/v2/apps", json=sleeper(crashing, cmd="exit 1", backoffSeconds=60)).headers[
        "Marathon-Deployment-Id"
    ]
    idle = f"{group}/idle"
    api.wait_deployed(_create(api, idle, instances=0)["deployments"][0]["id"])
    events = stream("group_change_failed", "group_change_success", "deployment_failed")

    refused = api.delete(f"/v2/groups{group}")
    assert refused.status_code == 409
    assert refused.json() == {"message": LOCKED, "deployments": [{"id": first}]}
    kind, data = events.next()
    assert (kind, data["groupId"], data["reason"]) == ("group_change_failed", PARENT, LOCKED)
    # The same answer as the app endpoints give; nothing changed.
    locked = api.put(f"/v2/apps{crashing}", json={"instances": 0})
    assert (locked.status_code, locked.json()) == (409, refused.json()), locked.text
    assert _ids(api.get(f"/v2/groups{group}/apps").json()) == [idle, crashing]
    assert first in _ids(api.deployments())

    forced = api.delete(f"/v2/groups{group}?force=true")
    assert forced.status_code == 200, forced.text
    kind, data = events.next()
    assert (kind, data["id"]) == ("deployment_failed", first)
    kind, data = events.next()
    assert (kind, data["groupId"], data["version"]) == ("group_change_success", PARENT, forced.json()["version"])
    assert first not in _ids(api.deployments())
    api.wait_deployed(forced.json()["deploymentId"])
    assert api.get(f"/v2/groups{group}").status_code == 404
    assert api.get(f"/v2/apps{crashing}").status_code == 404 and api.get(f"/v2/apps{idle}").status_code == 404


def test_group_stays_empty_after_its_last_app_is_deleted_and_survives_a_restart():
    with lab_instance("pptvlab-") as lab:
        api = Api(lab.url)
        group, sub = "/env", "/env/sub"
        _create(api, f"{sub}/a", instances=0)
        api.wait_deployed()
        removed = api.delete(f"/v2/apps{sub}/a").json()
        api.wait_deployed(removed["deploymentId"])
        kept = api.get(f"/v2/groups{sub}")
        assert kept.status_code == 200
        assert (kept.json()["apps"], kept.json()["groups"]) == ([], [])
        # Deleting the app was a change under the group: it bumped the group's version.
        assert kept.json()["version"] == removed["version"]
        assert _ids(api.get(f"/v2/groups{group}").json()["groups"]) == [sub]

        lab.restart()
        api = Api(lab.url)
        assert api.get(f"/v2/groups{sub}").json() == kept.json()

        # An empty group is deleted like any other: one (empty) deployment, 200.
        response = api.delete(f"/v2/groups{sub}")
        assert response.status_code == 200, response.text
        api.wait_deployed(response.json()["deploymentId"])
        assert api.get(f"/v2/groups{sub}").status_code == 404
        parent = api.get(f"/v2/groups{group}").json()
        assert parent["groups"] == [] and parent["version"] == response.json()["version"]
        lab.restart()
        assert Api(lab.url).get(f"/v2/groups{sub}").status_code == 404


def test_delete_of_the_root_empties_it_as_marathon_does():
    # Marathon's DELETE /v2/groups replaces the root by an empty one (GroupsResource.delete).
    with lab_instance("pptvlab-") as lab:
        api = Api(lab.url)
        for app_id in ("/one/a", "/two/b", "/c"):
            _create(api, app_id, instances=1)
        api.wait_running("/one/a", 1)
        api.wait_deployed()
        response = api.delete("/v2/groups")
        assert response.status_code == 200, response.text
        api.wait_deployed(response.json()["deploymentId"])
        assert api.get("/v2/apps").json() == {"apps": []}
        root = api.get("/v2/groups").json()
        assert (root["id"], root["apps"], root["groups"]) == ("/", [], [])
        assert root["version"] == response.json()["version"]
        api.wait_for(lambda: not lab.containers(), 30, what="every container removed")
