# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway after converge: addresses on the host, Nginx up, listening only where it owns."""

import base64
import json

INCLUDE_DIR = "/etc/nginx/pptv-dcos.d"


def _addresses(host):
    out = json.loads(host.check_output("ip -j -4 addr show dev eth0"))
    return {f"{a['local']}/{a['prefixlen']}" for iface in out for a in iface["addr_info"]}


def _listeners(host):
    """Addresses Nginx listens on (other services of the image are not the role's)."""
    return set(host.check_output("ss -Htlnp | awk '/\"nginx\"/ {print $4}'").split())


def test_nginx_is_enabled_running_and_valid(host):
    nginx = host.service("nginx")
    assert nginx.is_enabled
    assert nginx.is_running
    assert host.run("nginx -t").rc == 0
    assert not host.file("/etc/nginx/sites-enabled/default").exists


def test_gateway_addresses_are_on_the_host_and_come_back(host):
    assert {"10.210.10.20/32", "10.210.10.21/24"} <= _addresses(host)
    unit = host.service("pptv-dcos-gateway-addresses")
    assert unit.is_enabled
    with host.sudo():
        host.check_output("systemctl stop pptv-dcos-gateway-addresses")
        assert not {"10.210.10.20/32", "10.210.10.21/24"} & _addresses(host)
        assert "10.210.10.2/24" in _addresses(host)  # never the host's own address
        host.check_output("systemctl start pptv-dcos-gateway-addresses")
    assert {"10.210.10.20/32", "10.210.10.21/24"} <= _addresses(host)


def test_nginx_listens_only_on_its_status_address(host):
    assert _listeners(host) == {"127.0.0.1:8090"}
    assert host.check_output("curl -fsS http://127.0.0.1:8090/healthz") == "ok"


def test_a_file_in_the_include_dir_serves_on_a_gateway_address(host):
    conf = f"{INCLUDE_DIR}/pptvsdr-test.conf"
    body = (
        "server {\n    listen 10.210.10.20:8080;\n    server_name web.pptv.lab;\n"
        "    location / { return 200 'through the gateway'; }\n}\n"
    )
    encoded = base64.b64encode(body.encode()).decode()
    try:
        host.check_output(f"echo {encoded} | base64 -d > {conf} && nginx -t -q && nginx -s reload")
        answer = host.run(
            "for i in 1 2 3 4 5 6 7 8 9 10; do curl -fsS -H 'Host: web.pptv.lab' http://10.210.10.20:8080/ && exit 0;"
            " sleep 0.5; done; exit 1"
        )
        assert answer.rc == 0, answer.stderr
        assert answer.stdout == "through the gateway"
        assert "10.210.10.20:8080" in _listeners(host)
    finally:
        host.run(f"rm -f {conf} && nginx -s reload")
