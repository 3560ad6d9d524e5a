# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Marathon client, with the transport (``open_url``) replaced, or a real one against a loopback server."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
from urllib.error import URLError

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils import _marathon_client
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import (
    MarathonClient,
    MarathonLocked,
    MarathonNotFound,
    MarathonUnreachable,
    split_urls,
)
from ansible_collections.pptv.dcos.tests.unit.plugins.marathon_fake import (
    REFUSED,
    FakeMarathon,
    FakeResponse,
    Script,
    http_error,
    ok,
)

# -- URLs, failover, leader ---------------------------------------------------------------------


def test_urls_come_from_lists_and_comma_separated_strings():
    assert split_urls("http://a:8080/, http://b:8080") == ["http://a:8080", "http://b:8080"]
    assert split_urls(["http://a:8080", "http://b:8080,http://c:8080"]) == [
        "http://a:8080",
        "http://b:8080",
        "http://c:8080",
    ]
    assert split_urls(None) == []


def test_no_url_and_a_bad_url_are_refused_naming_the_option():
    with pytest.raises(DcosError, match="url: no Marathon URL given .*MARATHON_URL"):
        MarathonClient([])
    with pytest.raises(DcosError, match="url: ftp://x is not an http:// or https:// URL"):
        MarathonClient("ftp://x")


def test_an_unreachable_url_is_skipped_and_the_answering_one_is_kept():
    script = Script(
        ("http://a:8080/v2/apps", REFUSED),
        ("http://b:8080/v2/apps", ok({"apps": []})),
        ("http://b:8080/v2/deployments", ok([])),
    )
    client = MarathonClient("http://a:8080,http://b:8080", opener=script)
    assert client.list_apps() == []
    assert client.list_deployments() == []
    assert [c["url"] for c in script.calls] == [
        "http://a:8080/v2/apps",
        "http://b:8080/v2/apps",
        "http://b:8080/v2/deployments",
    ]


@pytest.mark.parametrize("status", [502, 503])
def test_a_standby_without_leader_moves_to_the_next_url(status):
    script = Script(
        (
            "http://a:8080/",
            http_error("http://a:8080/v2/apps", status, {"message": "Could not determine the current leader"}),
        ),
        ("http://b:8080/", ok({"apps": [{"id": "/web"}]})),
    )
    assert MarathonClient(["http://a:8080", "http://b:8080"], opener=script).list_apps() == [{"id": "/web"}]


def test_unreachable_lists_every_url_tried_in_words():
    script = Script(
        ("http://a:8080/", REFUSED),
        ("http://b:8080/", http_error("http://b:8080/v2/apps", 503, {"message": "no leader"})),
    )
    client = MarathonClient(["http://a:8080", "http://b:8080"], opener=script)
    with pytest.raises(MarathonUnreachable) as error:
        client.list_apps()
    assert error.value.msg == (
        "Marathon is unreachable: GET /v2/apps failed on every URL tried: "
        "http://a:8080 (connection refused); http://b:8080 (HTTP 503)"
    )
    assert error.value.details["urls_tried"] == ["http://a:8080", "http://b:8080"]


def test_a_redirect_to_the_leader_is_followed_with_method_body_and_credentials():
    script = Script(
        (
            "http://standby:8080/",
            http_error(
                "http://standby:8080/v2/apps/int/web", 307, b"", {"Location": "http://leader:8080/v2/apps/int/web"}
            ),
        ),
        ("http://leader:8080/", ok({"deploymentId": "d1", "version": "v1"}, headers={"Marathon-Deployment-Id": "d1"})),
    )
    client = MarathonClient("http://standby:8080", username="ops", password="pw", opener=script)
    assert client.put_app("/int/web", {"cmd": "x"}) == ("d1", "v1")
    leader = script.calls[1]
    assert leader["url"] == "http://leader:8080/v2/apps/int/web"
    assert leader["method"] == "PUT"
    assert json.loads(leader["data"]) == {"cmd": "x"}
    assert (leader["url_username"], leader["url_password"], leader["force_basic_auth"]) == ("ops", "pw", True)
    assert all(c["follow_redirects"] == "none" for c in script.calls)


def test_a_redirect_from_https_to_http_is_refused_so_credentials_never_leave_tls():
    script = Script(
        (
            "https://m1:8443/",
            http_error("https://m1:8443/v2/apps/int/web", 307, b"", {"Location": "http://m1:8080/v2/apps/int/web"}),
        ),
    )
    client = MarathonClient("https://m1:8443", token="s3cr3t", opener=script)
    with pytest.raises(MarathonUnreachable, match="redirected from https to http: refused") as caught:
        client.put_app("/int/web", {"cmd": "x"})
    assert [c["url"] for c in script.calls] == ["https://m1:8443/v2/apps/int/web"]
    assert "s3cr3t" not in caught.value.msg


# -- credentials and TLS ------------------------------------------------------------------------


def test_token_is_sent_as_marathon_expects_and_tls_options_reach_the_transport(tmp_path):
    pem = {name: tmp_path / f"{name}.pem" for name in ("ca", "c", "k")}
    for path in pem.values():
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    script = Script(("https://m:8443/", ok({"apps": []})))
    client = MarathonClient(
        "https://m:8443",
        token="tok123",
        validate_certs=False,
        ca_path=str(pem["ca"]),
        client_cert=str(pem["c"]),
        client_key=str(pem["k"]),
        timeout=3,
        opener=script,
    )
    client.list_apps()
    call = script.calls[0]
    assert call["headers"]["Authorization"] == "token=tok123"
    assert call["url_username"] is None
    assert (call["validate_certs"], call["ca_path"], call["client_cert"], call["client_key"], call["timeout"]) == (
        False,
        str(pem["ca"]),
        str(pem["c"]),
        str(pem["k"]),
        3,
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"token": "s3cr3t\n"}, "token: must not contain spaces, newlines or control characters"),
        ({"token": "s3cr3t 123"}, "token: must not contain spaces"),
        ({"username": "ops:admin", "password": "pw"}, "username: must not contain ':' or control characters"),
        ({"username": "ops\r\nX-Evil: 1", "password": "pw"}, "username: must not contain ':' or control"),
        ({"ca_path": "/nonexistent/ca.pem"}, "ca_path: /nonexistent/ca.pem is not a file"),
        ({"client_cert": "/nonexistent/c.pem"}, "client_cert: /nonexistent/c.pem is not a file"),
    ],
)
def test_credentials_the_transport_cannot_send_are_refused_without_showing_them(options, message):
    with pytest.raises(DcosError) as error:
        MarathonClient("https://m:8443", **options)
    assert message in error.value.msg
    assert "s3cr3t" not in error.value.msg and "Evil" not in error.value.msg


def test_token_and_basic_auth_together_are_refused():
    with pytest.raises(DcosError, match="token: give either token or username/password"):
        MarathonClient("http://m", username="a", password="b", token="t")
    with pytest.raises(DcosError, match="username and password must be given together"):
        MarathonClient("http://m", username="a")


@pytest.mark.parametrize(("status", "words"), [(401, "rejected the credentials"), (403, "denied access")])
def test_auth_errors_never_echo_the_secret(status, words):
    body = {"message": "Invalid username or password."}
    script = Script(("http://m/", http_error("http://m/v2/apps", status, body)))
    client = MarathonClient("http://m", username="ops", password="hunter2", opener=script)
    with pytest.raises(DcosError) as error:
        client.list_apps()
    assert words in error.value.msg
    assert f"(HTTP {status})" in error.value.msg
    assert "hunter2" not in error.value.msg
    assert "hunter2" not in json.dumps(error.value.details)


# -- error bodies -------------------------------------------------------------------------------


def test_a_422_names_marathons_message_and_the_field_paths():
    body = {
        "message": "Object is not valid",
        "details": [{"path": "/instances", "errors": ["error.min"]}, {"path": "/cpus", "errors": ["a", "b"]}],
    }
    script = Script(("http://m/", http_error("http://m/v2/apps/x", 422, body)))
    with pytest.raises(DcosError) as error:
        MarathonClient("http://m", opener=script).put_app("/x", {"instances": -1})
    assert error.value.msg == (
        "Marathon answered HTTP 422 to PUT http://m/v2/apps/x: Object is not valid (/instances: error.min, /cpus: a; b)"
    )
    assert error.value.details["marathon_details"] == body["details"]
    assert error.value.details["status"] == 422


def test_a_400_with_text_details():
    body = {"message": "Invalid JSON", "details": "Unexpected character ('x')"}
    script = Script(("http://m/", http_error("http://m/v2/apps/x", 400, body)))
    with pytest.raises(DcosError, match=r"HTTP 400 .*Invalid JSON \(Unexpected character \('x'\)\)"):
        MarathonClient("http://m", opener=script).put_app("/x", {})


def test_a_409_lock_carries_the_blocking_deployments():
    body = {"message": "App is locked by one or more deployments.", "deployments": [{"id": "d9"}]}
    script = Script(("http://m/", http_error("http://m/v2/apps/x", 409, body)))
    with pytest.raises(MarathonLocked) as error:
        MarathonClient("http://m", opener=script).restart_app("/x")
    assert error.value.deployment_ids == ["d9"]


def test_not_found_is_none_for_reads_and_an_error_otherwise():
    body = {"message": "App '/x' does not exist"}
    script = Script(
        ("http://m/v2/apps/x", http_error("http://m/v2/apps/x", 404, body)),
        ("http://m/v2/apps/x", http_error("http://m/v2/apps/x", 404, body)),
        ("http://m/v2/apps/x/restart", http_error("http://m/v2/apps/x/restart", 404, body)),
    )
    client = MarathonClient("http://m", opener=script)
    assert client.get_app("/x") is None
    assert client.delete_app("/x") is None
    with pytest.raises(MarathonNotFound, match="App '/x' does not exist"):
        client.restart_app("/x")


def test_delete_sends_force_false_unless_asked():
    fake = FakeMarathon()
    fake.add_app({"id": "/g/a", "cmd": "x"})
    client = MarathonClient(fake.base, opener=fake)
    assert client.delete_app("/g/a")
    assert fake.requests[-1].query == {"force": "false"}


def test_request_counts_by_method():
    fake = FakeMarathon()
    client = MarathonClient(fake.base, opener=fake)
    client.list_apps()
    client.put_app("/a", {"cmd": "x"})
    assert client.stats == {"GET": 1, "PUT": 1}


# -- waiting ------------------------------------------------------------------------------------


def test_opener_defaults_to_ansible_open_url():
    assert MarathonClient("http://m").opener is _marathon_client.open_url


# -- the event stream ---------------------------------------------------------------------------


class Stream:
    """An SSE body as Marathon frames it: ``event:``/``data:`` lines, CRLF, bare CRLF heartbeats."""

    def __init__(self, chunks):
        self.lines = [line.encode() for line in chunks]
        self.closed = False

    def __iter__(self):
        return iter(self.lines)

    def close(self):
        self.closed = True


def test_events_follow_the_standby_redirect_and_parse_marathons_framing():
    body = Stream(
        [
            "event: event_stream_attached\r\n",
            'data: {"remoteAddress":"127.0.0.1","eventType":"event_stream_attached"}\r\n',
            "\r\n",
            "\r\n",  # heartbeat
            "event: status_update_event\r\n",
            'data: {"appId":"/int/web","taskStatus":"TASK_RUNNING","eventType":"status_update_event"}\r\n',
            "\r\n",
        ]
    )
    script = Script(
        (
            "http://standby:8080/v2/events",
            http_error(
                "http://standby:8080/v2/events",
                302,
                b"",
                {"Location": "http://leader:8080/v2/events?event_type=status_update_event"},
            ),
        ),
        ("http://leader:8080/v2/events", body),
    )
    client = MarathonClient("http://standby:8080", opener=script)
    events = list(client.events(event_types=["status_update_event"]))
    assert [e[0] for e in events] == ["event_stream_attached", "status_update_event"]
    assert events[1][1]["taskStatus"] == "TASK_RUNNING"
    assert script.calls[0]["url"] == "http://standby:8080/v2/events?event_type=status_update_event"
    assert script.calls[0]["headers"]["Accept"] == "text/event-stream"
    assert body.closed


def test_events_on_no_reachable_url_is_unreachable():
    client = MarathonClient("http://a:8080", opener=Script(("http://a:8080/", REFUSED)))
    with pytest.raises(MarathonUnreachable, match="GET /v2/events failed on every URL tried: http://a:8080"):
        next(client.events())


@pytest.mark.parametrize(
    ("call", "body"),
    [
        (lambda c: c.get_app("/g/web"), b"<html>login</html>"),
        (lambda c: c.list_apps(), b"<html>login</html>"),
        (lambda c: c.list_apps(), json.dumps({"apps": {"not": "a list"}}).encode()),
        (lambda c: c.list_deployments(), json.dumps({"not": "a list"}).encode()),
        (lambda c: c.list_versions("/g/web"), b""),
    ],
)
def test_a_200_answer_that_is_not_marathons_json_is_an_error_in_words(call, body):
    url = "http://m1:8080"
    client = MarathonClient(url, opener=Script((url, FakeResponse(200, body, {"Content-Type": "text/html"}))))
    with pytest.raises(DcosError, match=r"answered HTTP 200 with .* not Marathon's JSON .* does url point at Marathon"):
        call(client)


def test_apps_null_reads_as_no_apps():
    url = "http://m1:8080"
    client = MarathonClient(url, opener=Script((url, ok({"apps": None}))))
    assert client.list_apps() == []


# -- hostile answers and options (issue 10) -----------------------------------------------------


@pytest.mark.parametrize(
    ("call", "body", "what"),
    [
        (lambda c: c.get_app("/g/web"), {"app": "a string"}, "'app' must be an object"),
        (lambda c: c.get_app("/g/web"), {"apps": []}, "an object with 'app'"),
        (lambda c: c.get_app("/g/web"), {"app": {"cmd": "x"}}, "app: an app must have a string 'id'"),
        (lambda c: c.get_app("/g/web"), {"app": {"id": "/g/web", "tasks": "none"}}, "app: 'tasks' must be a list"),
        (lambda c: c.get_app("/g/web"), {"app": {"id": "/g/web", "instances": "2"}}, "'instances' must be an integer"),
        (lambda c: c.get_app("/g/web"), {"app": {"id": "/g/web", "tasks": ["t1"]}}, "tasks[0]: a task must be an"),
        (
            lambda c: c.get_app("/g/web"),
            {"app": {"id": "/g/web", "tasks": [{"ports": ["31000"]}]}},
            "tasks[0]: 'ports' must be a list of integers",
        ),
        (
            lambda c: c.get_app("/g/web"),
            {"app": {"id": "/g/web", "tasks": [{"healthCheckResults": [True]}]}},
            "'healthCheckResults' must be a list of objects",
        ),
        (lambda c: c.list_apps(), {"apps": ["a", "b"]}, "apps[0]: an app must be an object"),
        (lambda c: c.list_apps(), ["a", "list"], "an object with 'apps'"),
        (lambda c: c.list_versions("/g/web"), {"versions": [1, 2]}, "'versions' must be a list of timestamps"),
        (lambda c: c.list_deployments(), ["d1"], "a list of deployments, each with an 'id'"),
        (lambda c: c.list_deployments(), {"deployments": []}, "a list of deployments"),
        (lambda c: c.get_app_version("/g/web", "v1"), ["not", "an app"], "an app definition"),
    ],
)
def test_a_json_answer_of_the_wrong_shape_is_a_sentence(call, body, what):
    url = "http://m1:8080"
    client = MarathonClient(url, opener=Script((url, ok(body))))
    with pytest.raises(DcosError) as error:
        call(client)
    assert "answered HTTP 200 with " in error.value.msg
    assert "which is not Marathon's JSON (" in error.value.msg
    assert what in error.value.msg
    assert "does url point at Marathon itself?" in error.value.msg


def test_a_409_with_deployments_of_the_wrong_shape_is_still_an_error_in_words():
    url = "http://m1:8080"
    client = MarathonClient(url, opener=Script((url, http_error(url, 409, {"message": "locked", "deployments": 5}))))
    with pytest.raises(DcosError, match="Marathon answered HTTP 409 to POST http://m1:8080/v2/apps/g/web/restart"):
        client.restart_app("/g/web")


@pytest.mark.parametrize(
    "url",
    ["https://ops:s3cret@marathon:8443", "http://ops@marathon:8080", "http://a:8080,https://ops:s3cret@b:8080"],
)
def test_credentials_inside_the_url_are_refused_pointing_to_username_and_password(url):
    with pytest.raises(DcosError) as error:
        MarathonClient(url)
    assert "holds credentials (user:password@); give them as the username and password options" in error.value.msg
    assert error.value.msg.startswith("url: http")
    assert "s3cret" not in error.value.msg and "ops@" not in error.value.msg


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http:///v2", "url: http:///v2 has no host name"),
        ("http://marathon:99999", "url: http://marathon:99999 is not a valid URL (Port out of range 0-65535)"),
        ("http://marathon:0", "url: http://marathon:0 has port 0"),
    ],
)
def test_urls_without_a_usable_host_or_port_are_refused(url, message):
    with pytest.raises(DcosError) as error:
        MarathonClient(url)
    assert error.value.msg == message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"timeout": -1}, "timeout: must be more than 0, got -1"),
        ({"timeout": 0}, "timeout: must be more than 0, got 0"),
        ({"timeout": float("inf")}, "timeout: must be a finite number, got inf"),
        ({"validate_certs": "banana"}, "validate_certs: must be a boolean (true or false), got 'banana'"),
    ],
)
def test_connection_options_are_checked(params, message):
    with pytest.raises(DcosError) as error:
        MarathonClient.from_params(dict(params, url="http://m1:8080"))
    assert error.value.msg == message


def test_a_body_with_inf_is_never_sent():
    script = Script()
    client = MarathonClient("http://m1:8080", opener=script)
    with pytest.raises(DcosError, match=r"PUT /v2/apps/g/web: the request holds a number that is not finite"):
        client.put_app("/g/web", {"cpus": float("inf")})
    assert script.calls == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (URLError(socket.gaierror(-2, "Name or service not known")), "the host name cannot be resolved"),
        (URLError(TimeoutError("timed out")), "no answer within 10s (the timeout option)"),
        (socket.timeout("timed out"), "no answer within 10s (the timeout option)"),
        (URLError("unknown url type: htp"), "unknown url type: htp"),
        (URLError(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")), "TLS: "),
        (http.client.BadStatusLine("\x00\x01garbage"), "the server answered something that is not HTTP ('\\x00\\x01"),
        (http.client.RemoteDisconnected("Remote end closed"), "the server closed the connection without answering"),
        (http.client.IncompleteRead(b"abc", 7), "the answer was cut short after 3 bytes"),
        (ConnectionResetError(104, "Connection reset by peer"), "the connection was reset by the server"),
        (OSError(113, "No route to host"), "no route to host"),
    ],
)
def test_transport_failures_are_sentences_naming_the_url(error, reason):
    client = MarathonClient("http://m1:8080", opener=Script(("http://m1:8080", error)))
    with pytest.raises(MarathonUnreachable) as caught:
        client.list_apps()
    message = caught.value.msg
    assert message.startswith(
        f"Marathon is unreachable: GET /v2/apps failed on every URL tried: http://m1:8080 ({reason}"
    )
    assert "Errno" not in message and "<urlopen" not in message and "(" + type(error).__name__ not in message


UNREACHABLE = "Marathon is unreachable: GET /v2/apps failed on every URL tried: "


class Garbage:
    """A TCP server on loopback that answers every connection with ``reply`` and hangs up."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                if self.reply:
                    conn.sendall(self.reply)

    def close(self):
        self.sock.close()


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"\x16\x03\x01garbage bytes\r\n\r\n", "the server answered something that is not HTTP ("),
        (b"", "the server closed the connection without answering"),
        (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"apps"', "cut short"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "the server answered something that is not HTTP ('SSH-2.0-OpenSSH_9.2')"),
    ],
)
def test_a_server_sending_garbage_through_the_real_transport_is_a_sentence(reply, reason):
    server = Garbage(reply)
    try:
        with pytest.raises(MarathonUnreachable) as caught:
            MarathonClient(server.url, timeout=5).list_apps()
    finally:
        server.close()
    assert caught.value.msg.startswith(
        f"Marathon is unreachable: GET /v2/apps failed on every URL tried: {server.url} ("
    )
    assert reason in caught.value.msg
