# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``GET /v2/events``: framing, the Accept check, the filter and the event sequences."""

from __future__ import annotations

import re

import pytest
import requests
from labhelpers import EventStream, sleeper

DEPLOY_TYPES = (
    "api_post_event",
    "group_change_success",
    "deployment_info",
    "deployment_step_success",
    "deployment_success",
    "deployment_failed",
    "status_update_event",
    "instance_changed_event",
    "app_terminated_event",
)
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def stream(lab):
    streams = []

    def open_stream(*types, **kwargs):
        s = EventStream(lab.url, types, **kwargs)
        streams.append(s)
        return s

    yield open_stream
    for s in streams:
        s.close()


# Marathon 1.11 serves /v2/events with Jetty's EventSourceServlet, which streams only when one
# Accept header field equals "text/event-stream" (String.equals per field): every other form,
# however acceptable under RFC 9110, gets HttpServlet's 405 page (events.raml, 405 example).
REFUSED_ACCEPTS = (
    "application/json",
    "*/*",
    "text/event-stream; charset=utf-8",
    "text/event-stream;charset=UTF-8",
    "application/json, text/event-stream",
    "text/event-stream, */*",
    "text/event-stream;q=1.0",
    "text/event-stream;q=0.9, application/json;q=0.1",
    "Text/Event-Stream",
)


@pytest.mark.parametrize("accept", REFUSED_ACCEPTS)
def test_accept_other_than_exactly_event_stream_is_refused_as_marathon_does(lab, stream, accept):
    s = stream(accept=accept)
    assert s.status == 405, accept
    assert s.headers["content-type"].startswith("text/html")
    assert "x-marathon-leader" in s.headers


def test_405_page_is_jettys(lab):
    response = requests.get(f"{lab.url}/v2/events", headers={"Accept": "application/json"}, timeout=10)
    assert response.status_code == 405
    assert "HTTP method GET is not supported by this URL" in response.text
    assert "<h2>HTTP ERROR: 405</h2>" in response.text


def test_one_exact_accept_field_among_several_streams(lab, stream):
    # Jetty looks at each Accept field on its own: a second field that is exactly right wins.
    s = stream(accept="application/json", headers={"Accept": "text/event-stream"})
    assert s.status == 200
    assert s.next()[0] == "event_stream_attached"
    padded = stream(accept="  text/event-stream  ")  # field values are trimmed by the parser
    assert padded.status == 200


def test_framing_headers_and_attached_event_first(lab, stream, api):
    s = stream()
    assert s.status == 200
    assert s.headers["content-type"] == "text/event-stream;charset=UTF-8"
    assert s.headers["connection"] == "close"
    assert "x-marathon-leader" in s.headers
    kind, data = s.next()
    assert kind == "event_stream_attached"
    assert data["eventType"] == "event_stream_attached" and "remoteAddress" in data
    assert TS.match(data["timestamp"])
    # Each event is "event: <type>\r\ndata: <one-line JSON>\r\n\r\n".
    body = s.raw.split(b"\r\n\r\n", 1)[1]
    assert re.match(rb"^event: event_stream_attached\r\ndata: \{[^\r\n]*\}\r\n\r\n", body)


def test_other_streams_see_attach_and_detach(lab, stream):
    watcher = stream("event_stream_attached", "event_stream_detached")
    assert watcher.next()[0] == "event_stream_attached"  # its own
    # Streams of earlier tests may still detach now (the lab notices at its next heartbeat):
    # the other stream comes from its own loopback address, so its events are known for sure.
    other = EventStream(lab.url, source_ip="127.0.0.2")

    def of_other(_kind, data):
        return data.get("remoteAddress") == "127.0.0.2"

    assert watcher.collect_until(of_other)[-1][0] == "event_stream_attached"
    other.close()
    assert watcher.collect_until(of_other)[-1][0] == "event_stream_detached"


def test_heartbeat_is_a_bare_crlf(api, stream):
    # Test instances beat every second (tests/support/lab.py); the default is Jetty's 10 s.
    s = stream("no_such_event_type")
    api.wait_for(lambda: s.raw.endswith(b"\r\n\r\n\r\n"), 5, what="a heartbeat")
    body = s.raw.split(b"\r\n\r\n", 1)[1]
    assert body.startswith(b"\r\n")
    assert s.events.empty()


def test_event_type_filter(api, stream, app_id):
    s = stream("deployment_success")
    created = api.post("/v2/apps", json=sleeper(app_id, instances=0)).json()
    kind, data = s.next()
    assert kind == "deployment_success"
    assert data["id"] == created["deployments"][0]["id"]
    assert s.events.empty()


def _types(events):
    return [e[0] for e in events]


def test_event_sequences_for_create_scale_upgrade_delete(api, stream, app_id):
    s = stream(*DEPLOY_TYPES)
    # create
    created = api.post("/v2/apps", json=sleeper(app_id, instances=1))
    dep = created.headers["Marathon-Deployment-Id"]
    seen = s.collect_until(lambda t, d: t == "deployment_success" and d["id"] == dep)
    types = _types(seen)
    # Marathon publishes group_change_success while storing the plan, then api_post_event.
    assert types[:2] == ["group_change_success", "api_post_event"]
    assert seen[1][1]["appDefinition"]["id"] == app_id
    assert types.index("deployment_info") < types.index("deployment_step_success")
    statuses = [d["taskStatus"] for t, d in seen if t == "status_update_event"]
    assert statuses == ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"]
    running = next(d for t, d in seen if t == "status_update_event" and d["taskStatus"] == "TASK_RUNNING")
    assert running["appId"] == app_id and running["slaveId"] and running["host"]
    conditions = [d["condition"] for t, d in seen if t == "instance_changed_event"]
    assert conditions == ["Staging", "Starting", "Running"]
    info = next(d for t, d in seen if t == "deployment_info")
    assert info["plan"]["id"] == dep and info["currentStep"]["actions"][0]["app"] == app_id
    assert types[-1] == "deployment_success"
    assert types.index("deployment_success") > types.index("status_update_event")

    # scale 1 -> 2
    dep = api.put(f"/v2/apps{app_id}", json={"instances": 2}).headers["Marathon-Deployment-Id"]
    seen = s.collect_until(lambda t, d: t == "deployment_success" and d["id"] == dep)
    info = next(d for t, d in seen if t == "deployment_info")
    assert info["currentStep"]["actions"] == [{"action": "ScaleApplication", "app": app_id}]
    assert [d["taskStatus"] for t, d in seen if t == "status_update_event"] == [
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
    ]

    # upgrade (config change): two new tasks run, two old ones are killed
    dep = api.put(f"/v2/apps{app_id}", json={"cmd": "sleep 3601"}).headers["Marathon-Deployment-Id"]
    seen = s.collect_until(lambda t, d: t == "deployment_success" and d["id"] == dep)
    info = next(d for t, d in seen if t == "deployment_info")
    assert info["currentStep"]["actions"] == [{"action": "RestartApplication", "app": app_id}]
    statuses = [d["taskStatus"] for t, d in seen if t == "status_update_event"]
    assert statuses.count("TASK_RUNNING") == 2 and statuses.count("TASK_KILLED") == 2
    assert statuses.count("TASK_KILLING") == 2

    # delete
    dep = api.delete(f"/v2/apps{app_id}").headers["Marathon-Deployment-Id"]
    seen = s.collect_until(lambda t, d: t == "deployment_success" and d["id"] == dep)
    types = _types(seen)
    assert "api_post_event" not in types
    assert [d["taskStatus"] for t, d in seen if t == "status_update_event"] == ["TASK_KILLING"] * 2 + [
        "TASK_KILLED"
    ] * 2
    assert types.index("app_terminated_event") < types.index("deployment_success")
    assert next(d for t, d in seen if t == "app_terminated_event")["appId"] == app_id


def test_deployment_failed_when_forced_over(api, stream, app_id):
    s = stream("deployment_failed", "deployment_success")
    api.post("/v2/apps", json=sleeper(app_id, instances=1, cmd="exit 1", backoffSeconds=60))
    first = api.deployments()[0]["id"]
    forced = api.put(f"/v2/apps{app_id}?force=true", json={"instances": 0})
    assert forced.status_code == 200
    kind, data = s.next()
    assert (kind, data["id"]) == ("deployment_failed", first)
    kind, data = s.next()
    assert (kind, data["id"]) == ("deployment_success", forced.json()["deploymentId"])


def test_abdication_closes_streams_and_they_reconnect(lab, api, stream):
    s = stream()
    s.next()
    assert api.delete("/v2/leader").status_code == 200
    assert s.closed.wait(10)
    again = stream()
    assert again.status == 200
    assert again.next()[0] == "event_stream_attached"
