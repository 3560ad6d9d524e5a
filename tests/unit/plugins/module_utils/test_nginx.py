# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Nginx core: validation, rendering, planning and write-validate-restore.

The only thing replaced is the command runner (the boundary to the nginx binary): a recorder that
answers ``nginx -t`` and ``nginx -s reload`` the way Nginx does.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils import _nginx as ngx
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

HEADER = "# Managed by pptv.dcos.nginx_upstream: local changes are overwritten.\n"
NGINX_OK = (
    "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
    "nginx: configuration file /etc/nginx/nginx.conf test is successful\n"
)
NGINX_BAD = (
    '2026/11/29 16:14:10 [emerg] 22509#22509: unknown "nosuchvar" variable\n'
    "nginx: configuration file /etc/nginx/nginx.conf test failed\n"
)


class Runner:
    """Records argv; answers from a list of (rc, stdout, stderr) or with success."""

    def __init__(self, *answers):
        self.calls = []
        self.answers = list(answers)
        self.seen_files = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            if callable(answer):
                return answer(argv)
            return answer
        return 0, "", NGINX_OK


@pytest.fixture
def env(tmp_path):
    confd = tmp_path / "conf.d"
    confd.mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp { include conf.d/*.conf; }\n")
    binary = tmp_path / "nginx"
    binary.write_text("#!/bin/sh\nexit 99\n")  # never run: the runner stands in for it
    binary.chmod(0o755)
    return {"dir": confd, "conf": str(conf), "binary": str(binary)}


def upstream(name="web", **params):
    params.setdefault("servers", [{"address": "10.0.0.1", "port": 8080}])
    return ngx.parse_upstream(dict(name=name, **params))


def converge(env, upstreams, runner, **kwargs):
    kwargs.setdefault("nginx_binary", env["binary"])
    kwargs.setdefault("nginx_conf", env["conf"])
    return ngx.converge(str(env["dir"]), upstreams, runner, **kwargs)


def tree(directory):
    """Name -> (bytes, inode, mtime_ns, mode) of every entry, hidden ones included."""
    result = {}
    for entry in sorted(directory.iterdir()):
        stat = entry.stat()
        result[entry.name] = (entry.read_bytes(), stat.st_ino, stat.st_mtime_ns, stat.st_mode & 0o7777)
    return result


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8:0::1]", "2001:db8::1"),
        ("Backend-1.Example.COM", "backend-1.example.com"),
        ("svc.", "svc"),
    ],
)
def test_addresses_are_normalised(value, expected):
    assert ngx.validate_address("servers[0].address", value) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("10.0.0.1;", "';' (ends a directive)"),
        ("10.0.0.1 backup", "whitespace"),
        ("a}b", "'}' (closes a block)"),
        ("a{b", "'{' (opens a block)"),
        ('a"b', "a double quote"),
        ("a'b", "a single quote"),
        ("a\nb", "a newline"),
        ("a\rb", "a carriage return"),
        ("a#b", "'#' (starts a comment)"),
        ("a\\b", "a backslash"),
        ("a\x00b", "a control character"),
        ("10.0.0.256", "is not an IP address or a host name"),
        ("unix:/run/app.sock", "is not an IP address or a host name"),
        ("-leading.example", "is not an IP address or a host name"),
        ("[10.0.0.1]", "puts an IPv4 address in brackets"),
        ("", "must not be empty"),
    ],
)
def test_bad_addresses_are_refused_naming_the_option(value, problem):
    with pytest.raises(DcosError) as caught:
        ngx.validate_address("upstreams[2].servers[1].address", value)
    assert caught.value.msg.startswith("upstreams[2].servers[1].address: ")
    assert problem in caught.value.msg
    assert caught.value.details["option"] == "upstreams[2].servers[1].address"


@pytest.mark.parametrize("value", ["web", "svc-1.prod_eu", "A" * 128, "9lives"])
def test_good_names(value):
    assert ngx.validate_name("name", value) == value


@pytest.mark.parametrize("value", ["-web", ".hidden", "a/b", "web;", "A" * 129, "", "with space", "../etc"])
def test_bad_names(value):
    with pytest.raises(DcosError, match=r"^name: "):
        ngx.validate_name("name", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("80", "80"),
        (8080, "8080"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("*:80", "*:80"),
        ("[::1]:80", "[::1]:80"),
        ("[2001:DB8::0:1]:443", "[2001:db8::1]:443"),
        ("LocalHost:81", "localhost:81"),
    ],
)
def test_listen_values_are_normalised(value, expected):
    assert ngx.validate_listen("vhosts[0].listen", value) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("80 ssl", "whitespace"),
        ("80;", "';'"),
        ("0", "must be 1 or more, got 0"),
        ("65536", "must be 65535 or less, got 65536"),
        ("::1:80", "is not a valid listen value"),
        ("[10.0.0.1]:80", "only an IPv6 address"),
        ("unix:/x", "is not a valid listen value"),
    ],
)
def test_bad_listen_values(value, problem):
    with pytest.raises(DcosError, match=r"^vhosts\[0\]\.listen: ") as caught:
        ngx.validate_listen("vhosts[0].listen", value)
    assert problem in caught.value.msg


@pytest.mark.parametrize("value", ["www.example.com", "*.example.com", ".example.com", "www.example.*", "_", "api_1.x"])
def test_good_server_names(value):
    assert ngx.validate_server_name("vhosts[0].name", value) == value


@pytest.mark.parametrize("value", ["~^www\\d+$", "a..b", "a b", "a;b", "*", "www.*.com", "", "x" * 254])
def test_bad_server_names(value):
    with pytest.raises(DcosError, match=r"^vhosts\[0\]\.name: "):
        ngx.validate_server_name("vhosts[0].name", value)


@pytest.mark.parametrize("value", ["/", "/api/", "/a.b/c-d_e~f", "/%20", "/v1:x,y=z+w@q"])
def test_good_locations(value):
    assert ngx.validate_location("vhosts[0].location", value) == value


@pytest.mark.parametrize("value", ["api", "= /x", "~ \\.php$", "/a b", "/a;", "/a{", "/$uri", "/a#b", "/(x)"])
def test_bad_locations(value):
    with pytest.raises(DcosError, match=r"^vhosts\[0\]\.location: "):
        ngx.validate_location("vhosts[0].location", value)


@pytest.mark.parametrize("value", ["$request_uri", "$remote_addr:$cookie_id", "static-$host", "$scheme/$uri"])
def test_good_hash_keys(value):
    assert ngx.validate_hash_key("hash_key", value) == value


@pytest.mark.parametrize("value", ["${host}", "$uri consistent", "$uri;", "'$uri'", "$uri\n", "", "a%b"])
def test_bad_hash_keys(value):
    with pytest.raises(DcosError, match=r"^hash_key: "):
        ngx.validate_hash_key("hash_key", value)


@pytest.mark.parametrize(("value", "expected"), [(10, "10"), ("30s", "30s"), ("1m30s", "1m30s"), ("500ms", "500ms")])
def test_good_times(value, expected):
    assert ngx.validate_time("servers[0].fail_timeout", value) == expected


@pytest.mark.parametrize("value", ["10x", "s", "1.5s", "-1", "10 s", True])
def test_bad_times(value):
    with pytest.raises(DcosError, match=r"^servers\[0\]\.fail_timeout: "):
        ngx.validate_time("servers[0].fail_timeout", value)


@pytest.mark.parametrize(
    ("params", "option", "problem"),
    [
        ({"servers": None}, "servers", "required when state is present"),
        ({"servers": []}, "servers", "at least one server"),
        ({"servers": [{"address": "10.0.0.1", "port": 0}]}, "servers[0].port", "must be 1 or more, got 0"),
        ({"servers": [{"address": "10.0.0.1", "port": True}]}, "servers[0].port", "must be an integer"),
        ({"servers": [{"address": "10.0.0.1", "weight": 0}]}, "servers[0].weight", "must be 1 or more, got 0"),
        ({"servers": [{"address": "10.0.0.1", "max_fails": -1}]}, "servers[0].max_fails", "must be 0 or more, got -1"),
        ({"servers": [{"address": "10.0.0.1", "backup": "yes"}]}, "servers[0].backup", "must be a boolean"),
        ({"servers": [{"address": "10.0.0.1", "bogus": 1}]}, "servers[0]", "unknown keys bogus"),
        ({"balance": "random"}, "balance", "must be one of"),
        ({"balance": "hash"}, "hash_key", "required when balance is hash"),
        ({"hash_key": "$uri"}, "hash_key", "only used with balance=hash"),
        ({"hash_consistent": True}, "hash_consistent", "only used with balance=hash"),
        (
            {"balance": "ip_hash", "servers": [{"address": "10.0.0.1"}, {"address": "10.0.0.2", "backup": True}]},
            "servers[1].backup",
            "does not allow backup servers with balance=ip_hash",
        ),
        ({"keepalive": 0}, "keepalive", "must be 1 or more, got 0"),
        # Issue 10: numbers nginx cannot hold failed `nginx -t` (naming no option); refused up front now.
        ({"keepalive": 10**30}, "keepalive", "must be 2147483647 or less"),
        ({"servers": [{"address": "10.0.0.1", "weight": 2**31}]}, "servers[0].weight", "must be 2147483647 or less"),
        ({"servers": [{"address": "10.0.0.1", "max_fails": 2**40}]}, "servers[0].max_fails", "2147483647 or less"),
        ({"servers": [{"address": "10.0.0.1", "port": 80.5}]}, "servers[0].port", "must be an integer, got 80.5"),
        ({"vhosts": "www.example.com"}, "vhosts", "must be a list"),
        ({"state": "gone"}, "state", "must be one of present, absent"),
    ],
)
def test_upstream_errors_name_the_option(params, option, problem):
    params = dict(params)
    params.setdefault("servers", [{"address": "10.0.0.1"}])
    with pytest.raises(DcosError) as caught:
        ngx.parse_upstream(dict(name="web", **params), prefix="upstreams[4].")
    assert caught.value.msg.startswith(f"upstreams[4].{option}: "), caught.value.msg
    assert problem in caught.value.msg


def test_absent_needs_only_a_name():
    parsed = ngx.parse_upstream({"name": "web", "state": "absent", "servers": None})
    assert parsed.state == "absent"
    assert parsed.servers == []


def test_batch_refuses_a_name_given_twice_and_inherits_the_state():
    with pytest.raises(DcosError, match=r"^upstreams\[2\]\.name: 'b' is already given by upstreams\[1\]"):
        ngx.parse_batch(
            [{"name": "a", "state": "absent"}, {"name": "b", "state": "absent"}, {"name": "b", "state": "absent"}]
        )
    parsed = ngx.parse_batch(
        [{"name": "a"}, {"name": "b", "state": "present", "servers": [{"address": "::1"}]}], "upstreams", "absent"
    )
    assert [u.state for u in parsed] == ["absent", "present"]


# ---------------------------------------------------------------- rendering


def test_render_every_server_parameter_and_round_robin():
    text = ngx.render_upstream(
        upstream(
            servers=[
                {"address": "10.0.0.1", "port": 8080, "weight": 3, "max_fails": 2, "fail_timeout": "1m30s"},
                {"address": "2001:db8::1", "port": 81, "backup": True},
                {"address": "backend.example.com", "down": True},
                {"address": "10.0.0.2", "port": 9, "max_fails": 0, "fail_timeout": 10, "backup": True, "down": True},
            ]
        )
    )
    assert text == HEADER + (
        "upstream web {\n"
        "    server 10.0.0.1:8080 weight=3 max_fails=2 fail_timeout=1m30s;\n"
        "    server [2001:db8::1]:81 backup;\n"
        "    server backend.example.com:80 down;\n"
        "    server 10.0.0.2:9 max_fails=0 fail_timeout=10 backup down;\n"
        "}\n"
    )


@pytest.mark.parametrize(
    ("params", "directive"),
    [
        ({"balance": "least_conn"}, "    least_conn;\n"),
        ({"balance": "ip_hash"}, "    ip_hash;\n"),
        ({"balance": "hash", "hash_key": "$request_uri"}, "    hash $request_uri;\n"),
        (
            {"balance": "hash", "hash_key": "$remote_addr", "hash_consistent": True},
            "    hash $remote_addr consistent;\n",
        ),
    ],
)
def test_render_each_balancing_method_before_servers_and_keepalive(params, directive):
    text = ngx.render_upstream(upstream(keepalive=16, **params))
    assert text == HEADER + "upstream web {\n" + directive + "    server 10.0.0.1:8080;\n    keepalive 16;\n}\n"


def test_round_robin_renders_no_method_line():
    assert ngx.render_upstream(upstream()) == HEADER + "upstream web {\n    server 10.0.0.1:8080;\n}\n"


def test_render_vhosts_one_block_per_host_and_listen():
    text = ngx.render_upstream(
        upstream(
            vhosts=[
                {"name": "www.example.com"},
                {"name": "www.example.com", "location": "/api/"},
                {"name": "www.example.com", "location": "/api/"},
                {"name": "*.example.org", "listen": "127.0.0.1:8080", "location": "/"},
            ]
        )
    )
    proxy = (
        "        proxy_pass http://web;\n"
        "        proxy_set_header Host $host;\n"
        "        proxy_set_header X-Real-IP $remote_addr;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "        proxy_set_header X-Forwarded-Proto $scheme;\n"
    )
    assert text == HEADER + (
        "upstream web {\n    server 10.0.0.1:8080;\n}\n"
        "\nserver {\n    listen 80;\n    server_name www.example.com;\n"
        "\n    location / {\n" + proxy + "    }\n"
        "\n    location /api/ {\n" + proxy + "    }\n}\n"
        "\nserver {\n    listen 127.0.0.1:8080;\n    server_name *.example.org;\n"
        "\n    location / {\n" + proxy + "    }\n}\n"
    )


def test_keepalive_makes_vhost_locations_speak_http11():
    text = ngx.render_upstream(upstream(keepalive=8, vhosts=[{"name": "a.example.com"}]))
    assert '        proxy_http_version 1.1;\n        proxy_set_header Connection "";\n    }\n' in text


def test_rendering_is_deterministic_and_keeps_server_order():
    servers = [{"address": f"10.0.0.{i}", "port": 80} for i in (3, 1, 2)]
    first = ngx.render_upstream(upstream(servers=servers, vhosts=[{"name": "b.x"}, {"name": "a.x"}]))
    assert first == ngx.render_upstream(upstream(servers=servers, vhosts=[{"name": "b.x"}, {"name": "a.x"}]))
    assert first.index("10.0.0.3") < first.index("10.0.0.1") < first.index("10.0.0.2")
    assert first.index("server_name b.x") < first.index("server_name a.x")


# ---------------------------------------------------------------- plan / apply


def test_create_validates_once_without_reload_by_default(env):
    runner = Runner()
    result = converge(env, [upstream()], runner)
    path = env["dir"] / "upstream-web.conf"
    assert result.changed
    assert [c.action for c in result.changes] == ["create"]
    assert path.read_text() == ngx.render_upstream(upstream())
    assert path.stat().st_mode & 0o777 == 0o644
    assert runner.calls == [[env["binary"], "-t", "-c", env["conf"]]]
    assert result.validated and not result.reloaded
    assert sorted(p.name for p in env["dir"].iterdir()) == [".pptv-nginx-upstream.lock", "upstream-web.conf"]


def test_unchanged_touches_nothing_and_runs_nothing(env):
    converge(env, [upstream()], Runner())
    before = tree(env["dir"])
    runner = Runner()
    result = converge(env, [upstream()], runner, reload=True)
    assert not result.changed
    assert [c.action for c in result.changes] == ["none"]
    assert runner.calls == []
    assert not result.reloaded
    assert tree(env["dir"]) == before


def test_update_keeps_mode_and_reloads_once_after_validation(env):
    converge(env, [upstream(), upstream("api")], Runner())
    path = env["dir"] / "upstream-web.conf"
    path.chmod(0o640)
    runner = Runner()
    changed = [upstream(servers=[{"address": "10.0.0.9"}]), upstream("api", balance="least_conn"), upstream("new")]
    result = converge(env, changed, runner, reload=True)
    assert [c.action for c in result.changes] == ["update", "update", "create"]
    assert runner.calls == [
        [env["binary"], "-t", "-c", env["conf"]],
        [env["binary"], "-c", env["conf"], "-s", "reload"],
    ]
    assert result.reloaded
    assert "server 10.0.0.9:80;" in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o640
    assert not [p for p in os.listdir(env["dir"]) if "pptv-backup" in p or "pptv-tmp" in p]


def test_refused_configuration_puts_every_file_back_exactly(env):
    converge(env, [upstream("keep"), upstream("gone")], Runner())
    (env["dir"] / "upstream-keep.conf").chmod(0o600)
    before = tree(env["dir"])
    seen = {}

    def refuse(argv):
        seen["files"] = sorted(os.listdir(env["dir"]))
        seen["keep"] = (env["dir"] / "upstream-keep.conf").read_text()
        return 1, "", NGINX_BAD

    runner = Runner(refuse, (0, "", NGINX_OK))
    wanted = [
        upstream("keep", servers=[{"address": "10.9.9.9"}]),
        ngx.parse_upstream({"name": "gone", "state": "absent"}),
        upstream("new"),
    ]
    with pytest.raises(DcosError) as caught:
        converge(env, wanted, runner, reload=True)
    # Nginx saw the new files in place...
    assert "upstream-new.conf" in seen["files"]
    assert "upstream-gone.conf" not in seen["files"]
    assert "10.9.9.9" in seen["keep"]
    # ...and everything is back: bytes, inodes, mtimes, modes; no new file, no backup, no temp file.
    assert tree(env["dir"]) == before
    assert caught.value.msg == (
        "nginx -t refused the configuration with the new upstream files; every file was put back as it was; "
        'nothing was reloaded: [emerg] unknown "nosuchvar" variable'
    )
    assert caught.value.details["nginx_errors"] == ['[emerg] unknown "nosuchvar" variable']
    # Validated, re-checked once restored, never reloaded.
    assert runner.calls == [[env["binary"], "-t", "-c", env["conf"]]] * 2


def test_an_already_broken_configuration_is_reported_as_such(env):
    runner = Runner((1, "", NGINX_BAD), (1, "", NGINX_BAD))
    with pytest.raises(DcosError, match=r"^nginx -t fails even without the new upstream files") as caught:
        converge(env, [upstream()], runner, reload=True)
    assert "every file was put back" in caught.value.msg
    assert not (env["dir"] / "upstream-web.conf").exists()


def test_a_runner_that_raises_counts_as_a_refusal(env):
    runner = Runner(OSError(2, "No such file or directory"), (0, "", NGINX_OK))
    with pytest.raises(DcosError) as caught:
        converge(env, [upstream()], runner)
    assert "cannot run" in caught.value.msg
    assert not (env["dir"] / "upstream-web.conf").exists()


def test_reload_failure_keeps_the_valid_files_and_says_so(env):
    runner = Runner(
        (0, "", NGINX_OK),
        (1, "", '2026/11/29 16:14:10 [error] 1#1: open() "/run/nginx.pid" failed (2: No such file)\n'),
    )
    with pytest.raises(DcosError) as caught:
        converge(env, [upstream()], runner, reload=True)
    assert caught.value.msg.startswith("nginx reload failed (the configuration is valid and written): [error] open()")
    assert caught.value.details["changed"] is True
    assert (env["dir"] / "upstream-web.conf").exists()


def test_warnings_of_nginx_are_returned(env):
    warn = '2026/11/29 16:14:10 [warn] 9#9: conflicting server name "a" on 0.0.0.0:80, ignored\n' + NGINX_OK
    result = converge(env, [upstream()], Runner((0, "", warn)))
    assert result.warnings == ['[warn] conflicting server name "a" on 0.0.0.0:80, ignored']


def test_reload_without_validation_is_refused_before_writing(env):
    with pytest.raises(DcosError, match=r"^reload: "):
        converge(env, [upstream()], Runner(), validate=False, reload=True)
    assert not (env["dir"] / "upstream-web.conf").exists()


def test_validate_false_writes_without_running_nginx(env):
    runner = Runner()
    result = converge(env, [upstream()], runner, validate=False, nginx_binary="/nonexistent/nginx")
    assert result.changed and not result.validated
    assert runner.calls == []


def test_missing_binary_or_config_fails_before_writing(env):
    with pytest.raises(DcosError, match=r"^nginx_binary: /nonexistent/nginx is not an executable"):
        converge(env, [upstream()], Runner(), nginx_binary="/nonexistent/nginx")
    with pytest.raises(DcosError, match=r"^nginx_binary: pptvngx-no-such-nginx is not an executable"):
        converge(env, [upstream()], Runner(), nginx_binary="pptvngx-no-such-nginx")
    with pytest.raises(DcosError, match=r"^nginx_conf: "):
        converge(env, [upstream()], Runner(), nginx_conf=str(env["dir"] / "missing.conf"))
    assert list(env["dir"].iterdir()) in ([], [env["dir"] / ".pptv-nginx-upstream.lock"])


def test_missing_directory(env, tmp_path):
    for check_mode in (False, True):
        with pytest.raises(DcosError, match=r"^path: .* is not a directory"):
            ngx.converge(str(tmp_path / "nope"), [upstream()], Runner(), check_mode=check_mode)


def test_files_without_the_header_are_never_overwritten_or_removed(env):
    foreign = env["dir"] / "upstream-web.conf"
    foreign.write_text("upstream web { server 10.1.1.1; }\n")
    for wanted in (upstream(), ngx.parse_upstream({"name": "web", "state": "absent"})):
        with pytest.raises(DcosError, match="is not managed by pptv.dcos.nginx_upstream"):
            converge(env, [wanted], Runner())
    assert foreign.read_text() == "upstream web { server 10.1.1.1; }\n"


def test_absent_removes_then_is_a_no_op(env):
    converge(env, [upstream()], Runner())
    gone = ngx.parse_upstream({"name": "web", "state": "absent"})
    result = converge(env, [gone], Runner())
    assert [c.action for c in result.changes] == ["remove"]
    assert not (env["dir"] / "upstream-web.conf").exists()
    runner = Runner()
    assert not converge(env, [gone], runner).changed
    assert runner.calls == []


def test_purge_removes_only_managed_files_not_listed(env):
    converge(env, [upstream("a"), upstream("b"), upstream("c")], Runner())
    (env["dir"] / "upstream-hand.conf").write_text("upstream hand { server 10.0.0.1; }\n")
    (env["dir"] / "default.conf").write_text("server { listen 80; }\n")
    assert ngx.managed_names(str(env["dir"])) == ["a", "b", "c"]
    result = converge(env, [upstream("b")], Runner(), purge=True)
    assert sorted((c.name, c.action) for c in result.changes) == [("a", "remove"), ("b", "none"), ("c", "remove")]
    assert sorted(p.name for p in env["dir"].iterdir() if not p.name.startswith(".")) == [
        "default.conf",
        "upstream-b.conf",
        "upstream-hand.conf",
    ]


def test_check_mode_plans_without_writing_or_running(env):
    runner = Runner()
    result = converge(env, [upstream()], runner, check_mode=True, reload=True)
    assert result.changed
    assert runner.calls == []
    assert list(env["dir"].iterdir()) == []
    (diff,) = [c.diff() for c in result.changes]
    assert diff == {
        "before_header": str(env["dir"] / "upstream-web.conf"),
        "after_header": str(env["dir"] / "upstream-web.conf"),
        "before": "",
        "after": ngx.render_upstream(upstream()),
    }


def test_write_error_puts_back_what_was_written(env):
    converge(env, [upstream("a"), upstream("b")], Runner())
    # A real failure on the second file: a directory sits where its backup has to go.
    (env["dir"] / f".upstream-b.conf.pptv-backup-{os.getpid()}").mkdir()
    before = tree_with_dirs(env["dir"])
    runner = Runner()
    with pytest.raises(DcosError, match="every file was put back") as caught:
        converge(env, [upstream("a", balance="least_conn"), upstream("b", balance="least_conn")], runner)
    assert caught.value.msg.startswith("cannot write ")
    assert tree_with_dirs(env["dir"]) == before
    assert runner.calls == []


def tree_with_dirs(directory):
    return {p.name: (p.is_dir() or p.read_bytes(), p.stat().st_ino) for p in directory.iterdir()}


def test_nginx_messages_strip_time_and_pid():
    text = "2026/11/29 16:14:10 [emerg] 1#1: a\nnginx: x\n2026/11/29 16:14:10 [warn] 2#2: b\n"
    assert ngx.nginx_messages(text) == ["[emerg] a"]
    assert ngx.nginx_messages(text, levels=("warn",)) == ["[warn] b"]


def test_subprocess_runner_runs_a_command():
    rc, out, err = ngx.subprocess_runner(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (rc, out, err) == (3, "out\n", "err\n")
