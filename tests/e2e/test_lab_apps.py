# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``/v2/apps``: success and error answers, versions, rollback, the reference's examples."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from labhelpers import IMAGE, sleeper

# Marathon's own example requests (Apache-2.0), copied into the repository with their licence.
REF = (
    Path(__file__).resolve().parents[1]
    / "unit/plugins/module_utils/fixtures/marathon_reference/v1.11/rest-api/public/api/v2/examples"
)
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _example(name):
    return json.loads((REF / name).read_text())


def test_post_creates_with_201_body_location_and_header(api, app_id):
    response = api.post("/v2/apps", json=sleeper(app_id, instances=0))
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == app_id
    assert (body["tasksStaged"], body["tasksRunning"], body["tasksHealthy"], body["tasksUnhealthy"]) == (0, 0, 0, 0)
    assert body["deployments"] == [{"id": response.headers["Marathon-Deployment-Id"]}]
    assert UUID.match(response.headers["Marathon-Deployment-Id"])
    assert response.headers["Location"].endswith(app_id)
    assert TS.match(body["version"])
    assert body["versionInfo"] == {"lastScalingAt": body["version"], "lastConfigChangeAt": body["version"]}
    assert response.headers["X-Marathon-Leader"].startswith("http://")
    # RAML omitEmpty fields are left out when empty; defaults are filled in.
    assert "env" not in body and "healthChecks" not in body and "constraints" not in body
    assert body["labels"] == {} and body["backoffFactor"] == 1.15 and body["maxLaunchDelaySeconds"] == 300
    assert body["networks"] == [{"mode": "host"}] and body["portDefinitions"][0]["port"] >= 10000


def test_post_duplicate_is_409(api, app_id):
    assert api.post("/v2/apps", json=sleeper(app_id, instances=0)).status_code == 201
    again = api.post("/v2/apps", json=sleeper(app_id, instances=0))
    assert again.status_code == 409
    assert again.json() == {"message": f"An app with id [{app_id}] already exists."}


@pytest.mark.parametrize(
    ("change", "path", "error"),
    [
        ({"instances": -1}, "/instances", "got -1, expected 0 or more"),
        (
            {"upgradeStrategy": {"minimumHealthCapacity": 1.5}},
            "/upgradeStrategy/minimumHealthCapacity",
            "is greater than 1",
        ),
        ({"id": "/Upper/Case"}, "/id", None),
        ({"id": "/grp/versions"}, "/id", None),
        (
            {"cmd": None, "container": None},
            "/",
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
        ),
        ({"container": {"type": "DOCKER", "docker": {"image": ""}}}, "/container/docker/image", "must not be empty"),
        ({"healthChecks": [{"protocol": "HTTP", "portIndex": 3}]}, "/healthChecks(0)", None),
    ],
)
def test_invalid_app_is_422_with_details_path(api, app_id, change, path, error):
    body = sleeper(app_id, instances=0)
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = api.post("/v2/apps", json=body)
    assert response.status_code == 422, response.text
    data = response.json()
    assert data["message"] == "Object is not valid"
    assert path in [d["path"] for d in data["details"]]
    if error:
        assert error in next(d for d in data["details"] if d["path"] == path)["errors"]
    assert api.get(f"/v2/apps{app_id}").status_code == 404


def test_wrong_json_type_is_422_invalid_json(api, app_id):
    response = api.post("/v2/apps", json=sleeper(app_id, instances="two"))
    assert response.status_code == 422
    assert response.json() == {
        "message": "Invalid JSON",
        "details": [{"path": "/instances", "errors": ["error.expected.jsnumber"]}],
    }


def test_malformed_json_is_400(api, app_id):
    for method in ("post", "put", "patch"):
        path = "/v2/apps" if method == "post" else f"/v2/apps{app_id}"
        response = getattr(api, method)(path, data='{"id": ', headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["message"] == "Invalid JSON"


def test_unknown_app_is_404_everywhere(api):
    missing = "/pptvlab/missing"
    message = {"message": f"App '{missing}' does not exist"}
    for method, path in [
        ("GET", missing),
        ("PATCH", missing),
        ("DELETE", missing),
        ("POST", f"{missing}/restart"),
        ("GET", f"{missing}/tasks"),
        ("GET", f"{missing}/versions"),
    ]:
        kwargs = {"json": {"instances": 1}} if method == "PATCH" else {}
        response = api.request(method, f"/v2/apps{path}", **kwargs)
        assert response.status_code == 404, (method, path)
        assert response.json() == message


def test_put_creates_then_updates_and_identical_put_keeps_version(api, app_id):
    created = api.put(f"/v2/apps{app_id}", json=sleeper(app_id, instances=0))
    assert created.status_code == 201
    assert set(created.json()) == {"deploymentId", "version"}
    assert created.headers["Marathon-Deployment-Id"] == created.json()["deploymentId"]
    app = api.get(f"/v2/apps{app_id}").json()["app"]
    api.wait_deployed()
    same = api.put(f"/v2/apps{app_id}", json=sleeper(app_id, instances=0))
    assert same.status_code == 200
    api.wait_deployed()
    again = api.get(f"/v2/apps{app_id}").json()["app"]
    assert again["version"] == app["version"]
    assert len(api.get(f"/v2/apps{app_id}/versions").json()["versions"]) == 1


def test_partial_update_replaces_top_level_keys_wholesale(api, app_id):
    body = sleeper(app_id, instances=0, labels={"a": "1", "b": "2"}, env={"X": "1"})
    api.post("/v2/apps", json=body)
    api.wait_deployed()
    assert api.put(f"/v2/apps{app_id}", json={"labels": {"c": "3"}}).status_code == 200
    app = api.get(f"/v2/apps{app_id}").json()["app"]
    assert app["labels"] == {"c": "3"}
    assert app["env"] == {"X": "1"}
    api.wait_deployed()
    # partialUpdate=false: unspecified fields fall back to their defaults.
    full = api.put(f"/v2/apps{app_id}?partialUpdate=false", json={"cmd": "sleep 10", "instances": 0})
    assert full.status_code == 200
    app = api.get(f"/v2/apps{app_id}").json()["app"]
    assert app["labels"] == {} and "env" not in app and "container" not in app
    assert app["cpus"] == 1.0 and app["mem"] == 128.0


def test_patch_updates_and_never_creates(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=0))
    api.wait_deployed()
    patched = api.patch(f"/v2/apps{app_id}", json={"id": "/ignored", "labels": {"x": "y"}})
    assert patched.status_code == 200
    assert set(patched.json()) == {"deploymentId", "version"}
    assert api.get(f"/v2/apps{app_id}").json()["app"]["labels"] == {"x": "y"}
    assert api.get("/v2/apps/ignored").status_code == 404
    assert api.patch(f"{'/v2/apps'}{app_id}-new", json={"instances": 1}).status_code == 404


def test_lock_409_then_force(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=1, cmd="exit 1", backoffSeconds=30))
    running = api.deployments()
    assert [d["affectedApps"] for d in running] == [[app_id]]
    locked = api.put(f"/v2/apps{app_id}", json={"instances": 2})
    assert locked.status_code == 409
    assert locked.json() == {
        "message": "App is locked by one or more deployments. Override with the option '?force=true'. "
        "View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
        "deployments": [{"id": running[0]["id"]}],
    }
    assert api.post(f"/v2/apps{app_id}/restart").status_code == 409
    forced = api.put(f"/v2/apps{app_id}?force=true", json={"instances": 0})
    assert forced.status_code == 200
    assert running[0]["id"] not in [d["id"] for d in api.deployments()]
    api.wait_deployed(forced.json()["deploymentId"])
    # DELETE defaults to force=true; force=false answers 409 while locked.
    api.put(f"/v2/apps{app_id}", json={"instances": 1})
    assert api.delete(f"/v2/apps{app_id}?force=false").status_code == 409
    assert api.delete(f"/v2/apps{app_id}").status_code == 200


def test_app_ids_in_groups_and_group_listing(api):
    for app in ("/pptvlab/int/redis", "/pptvlab/int/mysql", "/pptvlab/other/x"):
        assert api.post("/v2/apps", json=sleeper(app, instances=0)).status_code == 201
    relative = api.post("/v2/apps", json=sleeper("pptvlab/rel/app", instances=0))
    assert relative.json()["id"] == "/pptvlab/rel/app"
    group = api.get("/v2/apps/pptvlab/int/*")
    assert group.status_code == 200
    assert sorted(a["id"] for a in group.json()["*"]) == ["/pptvlab/int/mysql", "/pptvlab/int/redis"]
    assert api.get("/v2/apps/pptvlab/int/redis").json()["app"]["id"] == "/pptvlab/int/redis"


def test_versions_list_get_and_rollback(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=0, cmd="sleep 1"))
    api.wait_deployed()
    first = api.get(f"/v2/apps{app_id}").json()["app"]["version"]
    api.put(f"/v2/apps{app_id}", json={"cmd": "sleep 2"})
    api.wait_deployed()
    versions = api.get(f"/v2/apps{app_id}/versions").json()["versions"]
    assert len(versions) == 2 and first in versions
    assert all(TS.match(v) for v in versions)
    old = api.get(f"/v2/apps{app_id}/versions/{first}")
    assert old.status_code == 200 and old.json()["cmd"] == "sleep 1" and old.json()["id"] == app_id
    missing = api.get(f"/v2/apps{app_id}/versions/2001-01-01T00:00:00.000Z")
    assert missing.status_code == 404
    assert missing.json() == {"message": f"App '{app_id}' does not exist in version 2001-01-01T00:00:00.000Z"}
    # version + another field is 422
    bad = api.put(f"/v2/apps{app_id}", json={"version": first, "cmd": "x"})
    assert bad.status_code == 422
    assert bad.json()["details"][0]["errors"] == ["The 'version' field may only be combined with the 'id' field."]
    rollback = api.put(f"/v2/apps{app_id}", json={"version": first})
    assert rollback.status_code == 200
    app = api.get(f"/v2/apps{app_id}").json()["app"]
    assert app["cmd"] == "sleep 1"
    assert app["version"] not in (first,) and app["version"] == rollback.json()["version"]
    assert len(api.get(f"/v2/apps{app_id}/versions").json()["versions"]) == 3
    unknown = api.put(f"/v2/apps{app_id}", json={"version": "2001-01-01T00:00:00.000Z"})
    assert unknown.status_code == 404


def test_scale_only_change_bumps_last_scaling_at_only(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=0))
    api.wait_deployed()
    before = api.get(f"/v2/apps{app_id}").json()["app"]
    api.put(f"/v2/apps{app_id}", json={"instances": 1})
    after = api.get(f"/v2/apps{app_id}").json()["app"]
    assert after["version"] != before["version"]
    assert after["versionInfo"]["lastScalingAt"] == after["version"]
    assert after["versionInfo"]["lastConfigChangeAt"] == before["versionInfo"]["lastConfigChangeAt"]


def test_delete_removes_app_and_versions(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=0))
    deleted = api.delete(f"/v2/apps{app_id}")
    assert deleted.status_code == 200
    assert set(deleted.json()) == {"deploymentId", "version"}
    assert deleted.headers["Marathon-Deployment-Id"] == deleted.json()["deploymentId"]
    api.wait_deployed()
    assert api.get(f"/v2/apps{app_id}").status_code == 404
    api.post("/v2/apps", json=sleeper(app_id, instances=0))
    assert len(api.get(f"/v2/apps{app_id}/versions").json()["versions"]) == 1


def test_list_filters_and_embeds(api):
    api.post("/v2/apps", json=sleeper("/pptvlab/f/web", instances=1, labels={"tier": "web", "env": "int"}))
    api.post("/v2/apps", json=sleeper("/pptvlab/f/db", instances=0, cmd="sleep 7", labels={"tier": "db"}))
    api.wait_running("/pptvlab/f/web", 1)

    def ids(query):
        return sorted(a["id"] for a in api.get(f"/v2/apps?{query}").json()["apps"])

    assert ids("id=F/WE") == ["/pptvlab/f/web"]
    assert ids("cmd=SLEEP 7") == ["/pptvlab/f/db"]
    assert ids("label=tier==db") == ["/pptvlab/f/db"]
    assert ids("label=tier!=db") == ["/pptvlab/f/web"]
    assert ids("label=env") == ["/pptvlab/f/web"]
    assert ids("label=tier in (web, db),env") == ["/pptvlab/f/web"]
    plain = api.get("/v2/apps?id=/pptvlab/f/web").json()["apps"][0]
    assert "tasks" not in plain and plain["tasksRunning"] == 1 and "deployments" in plain
    embedded = api.get("/v2/apps?id=/pptvlab/f/web&embed=apps.tasks&embed=apps.lastTaskFailure").json()["apps"][0]
    assert [t["state"] for t in embedded["tasks"]] == ["TASK_RUNNING"]
    single = api.get("/v2/apps/pptvlab/f/web").json()["app"]
    assert len(single["tasks"]) == 1 and single["tasks"][0]["appId"] == "/pptvlab/f/web"


def test_batch_put_and_patch_make_one_deployment(api):
    apps = [sleeper("/pptvlab/b/one", instances=0), sleeper("/pptvlab/b/two", instances=0)]
    created = api.put("/v2/apps", json=apps)
    assert created.status_code == 200
    dep = created.json()["deploymentId"]
    assert created.headers["Marathon-Deployment-Id"] == dep
    # (Apps of 0 instances deploy at once: the plan may be gone already.)
    for plan in api.get("/v2/deployments").json():
        if plan["id"] == dep:
            assert sorted(plan["affectedApps"]) == ["/pptvlab/b/one", "/pptvlab/b/two"]
    api.wait_deployed(dep)
    patched = api.patch("/v2/apps", json=[{"id": "/pptvlab/b/one", "labels": {"k": "v"}}])
    assert patched.status_code == 200
    assert api.get("/v2/apps/pptvlab/b/one").json()["app"]["labels"] == {"k": "v"}
    assert api.patch("/v2/apps", json=[{"id": "/pptvlab/b/nope", "instances": 1}]).status_code == 404
    assert api.put("/v2/apps", json=[{"cmd": "sleep 1"}]).status_code == 422


def test_legacy_1_4_fields_are_normalised(api, app_id):
    legacy = {
        "id": app_id,
        "cmd": "sleep 100",
        "instances": 0,
        "container": {
            "type": "DOCKER",
            "docker": {
                "image": IMAGE,
                "network": "BRIDGE",
                "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
            },
        },
        "uris": ["http://example.invalid/a.tgz"],
    }
    assert api.post("/v2/apps", json=legacy).status_code == 201
    app = api.get(f"/v2/apps{app_id}").json()["app"]
    assert app["networks"] == [{"mode": "container/bridge"}]
    assert "network" not in app["container"]["docker"] and "portMappings" not in app["container"]["docker"]
    assert app["container"]["portMappings"][0]["containerPort"] == 80
    assert app["container"]["portMappings"][0]["servicePort"] >= 10000
    assert app["portDefinitions"] == []
    assert "uris" not in app and app["fetch"][0]["uri"] == "http://example.invalid/a.tgz"

    host_ports = dict(legacy, id=app_id + "-b", ports=[0, 0])
    host_ports["container"] = {"type": "DOCKER", "docker": {"image": IMAGE, "network": "HOST"}}
    assert api.post("/v2/apps", json=host_ports).status_code == 201
    app = api.get(f"/v2/apps{app_id}-b").json()["app"]
    assert app["networks"] == [{"mode": "host"}]
    assert "ports" not in app and len(app["portDefinitions"]) == 2
    assert len({d["port"] for d in app["portDefinitions"]}) == 2

    ip_per_task = dict(legacy, id=app_id + "-c", ipAddress={"networkName": "pptvlab-none", "labels": {"a": "b"}})
    ip_per_task["container"] = {"type": "DOCKER", "docker": {"image": IMAGE}}
    assert api.post("/v2/apps", json=ip_per_task).status_code == 201
    app = api.get(f"/v2/apps{app_id}-c").json()["app"]
    assert app["networks"] == [{"mode": "container", "name": "pptvlab-none", "labels": {"a": "b"}}]
    assert "ipAddress" not in app


@pytest.mark.parametrize("name", ["app.json", "app-check-http-example.json"])
def test_reference_example_apps_are_accepted(api, name):
    body = _example(name)
    body["id"] = "/pptvlab/example/" + name.split(".")[0]
    body["instances"] = 0  # their images cannot be pulled here
    response = api.post("/v2/apps", json=body)
    assert response.status_code == 201, response.text
    app = api.get(f"/v2/apps{body['id']}").json()["app"]
    for key in ("cpus", "mem", "labels", "healthChecks", "upgradeStrategy"):
        if key in body:
            assert app[key] == body[key] or key == "healthChecks", key


def test_reference_batch_examples_are_accepted(api):
    created = _example("apps_create.json")
    for app in created:
        app["id"] = "/pptvlab" + app["id"]
        app["instances"] = 0
    response = api.put("/v2/apps", json=created)
    assert response.status_code == 200, response.text
    api.wait_deployed(response.json()["deploymentId"])
    patch = copy.deepcopy(_example("apps_patch.json"))
    for app in patch:
        app["id"] = "/pptvlab" + app["id"]
    patch[1]["instances"] = 0
    response = api.patch("/v2/apps", json=patch)
    assert response.status_code == 200, response.text
    assert api.get("/v2/apps/pptvlab/test/sleep60").json()["app"]["cpus"] == 0.3
    single = _example("app_patch.json")
    api.post("/v2/apps", json=sleeper("/pptvlab" + single["id"], instances=0))
    api.wait_deployed()
    response = api.patch(f"/v2/apps/pptvlab{single['id']}", json=dict(single, instances=0))
    assert response.status_code == 200


def test_fields_marathon_does_not_know_are_dropped_never_echoed(api, lab, app_id):
    """Marathon reads bodies into its RAML types: undeclared fields vanish (no 422, no echo)."""
    body = sleeper(app_id, instances=0)
    body.update(fooBar=1, upgradeStrategy={"minimumHealthCapacity": 0.5, "typo": 1})
    body["container"]["docker"]["imagePullPolicy"] = "always"
    body["portDefinitions"] = [{"port": 0, "name": "http", "hostPort": 8080}]
    created = api.post("/v2/apps", json=body)
    assert created.status_code == 201
    for app in (created.json(), api.get(f"/v2/apps{app_id}").json()["app"]):
        assert "fooBar" not in app
        assert app["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 1.0}
        assert "imagePullPolicy" not in app["container"]["docker"]
        assert "hostPort" not in app["portDefinitions"][0] and app["portDefinitions"][0]["name"] == "http"
    # The lab names what it dropped in its log, so that a client sending such fields can be found.
    assert f"dropped fields Marathon does not know (app {app_id}): /fooBar" in lab.log()
    version = api.get(f"/v2/apps{app_id}").json()["app"]["version"]
    api.wait_deployed()
    # The same body again changes nothing: what was dropped is not part of the app.
    again = api.put(f"/v2/apps{app_id}", json={k: v for k, v in body.items() if k != "id"})
    assert again.status_code == 200
    api.wait_deployed(again.json()["deploymentId"])
    assert api.get(f"/v2/apps{app_id}").json()["app"]["version"] == version
    # ...and an unknown field next to "version" does not make a rollback invalid.
    rollback = api.put(f"/v2/apps{app_id}", json={"version": version, "fooBar": 2})
    assert rollback.status_code == 200
