# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection reaches a Docker engine: shared options and one client factory.

:data:`DOCKER_CONNECTION_ARGS` is merged into the argument spec of every module that talks to the
engine; the ``pptv.dcos._docker`` doc fragment documents it. :func:`docker_client` turns those
parameters into a Docker SDK low-level ``APIClient`` (the daemon and tests call it with a plain
dict). The Docker SDK is imported with a guard: callers check :data:`HAS_DOCKER` first.
"""

from __future__ import annotations

import os
import re
import traceback

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

try:
    import docker
    from docker import errors as docker_errors
    from docker import tls as docker_tls

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    docker = None
    docker_errors = None
    docker_tls = None
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

try:
    from requests import exceptions as requests_exceptions
except ImportError:
    requests_exceptions = None

# What a call through the Docker SDK raises when it fails: the SDK's own errors, and the transport's
# (a read timeout or a refused connection comes from requests, unwrapped).
ENGINE_ERRORS = tuple(
    error
    for error in (
        docker_errors.DockerException if docker_errors else None,
        requests_exceptions.RequestException if requests_exceptions else None,
    )
    if error is not None
)

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# What the Docker SDK can talk to: a socket path, or host:port over TCP/HTTP(S), or SSH.
_DOCKER_HOST_RE = re.compile(r"unix:///\S+|(tcp|http|https)://[^\s/]+(:[0-9]+)?/?|ssh://[^\s/]+(:[0-9]+)?")
_DOCKER_HOST_RULE = "unix:///path/to/socket, tcp://host:port, http(s)://host:port or ssh://[user@]host"
_API_VERSION_RE = re.compile(r"auto|[1-9][0-9]*\.[0-9]+")

# Defaults are applied in docker_client() so that the environment (DOCKER_HOST, ...) can fill the
# gaps the way the docker CLI does; the documented defaults are what is used when both are unset.
DOCKER_CONNECTION_ARGS = {
    "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST, "aliases": ["docker_url"]},
    "tls": {"type": "bool", "default": False},
    "validate_certs": {"type": "bool", "default": False, "aliases": ["tls_verify"]},
    "ca_path": {"type": "path", "aliases": ["ca_cert", "tls_ca_cert", "cacert_path"]},
    "client_cert": {"type": "path", "aliases": ["tls_client_cert", "cert_path"]},
    "client_key": {"type": "path", "aliases": ["tls_client_key", "key_path"], "no_log": False},
    "timeout": {"type": "int", "default": 60},
    "api_version": {"type": "str", "default": "auto", "aliases": ["docker_api_version"]},
}


def _env_bool(environ, name):
    value = environ.get(name, "")
    return value.lower() not in ("", "0", "false", "no")


def connection_settings(params, environ=None):
    """Resolve host and TLS settings from ``params`` and the environment (like the docker CLI).

    Every value is checked here, before the SDK sees it (it raises bare ``ValueError`` for some),
    and a bad one fails naming its option (and the environment variable it came from).
    """
    environ = os.environ if environ is None else environ
    host = params.get("docker_host") or DEFAULT_DOCKER_HOST
    host_option = "docker_host"
    if host == DEFAULT_DOCKER_HOST and environ.get("DOCKER_HOST"):
        host, host_option = environ["DOCKER_HOST"], "docker_host (from DOCKER_HOST)"
    _validate.name(host, host_option, _DOCKER_HOST_RE, _DOCKER_HOST_RULE)
    port = re.search(r"^[a-z]+://[^/]*:([0-9]+)/?$", host)
    if port and not host.startswith("unix://"):
        _validate.port(port.group(1), host_option)
    timeout = _validate.timeout(60 if params.get("timeout") is None else params["timeout"], "timeout")
    version = _validate.name(
        params.get("api_version") or "auto", "api_version", _API_VERSION_RE, "auto or a version like 1.43"
    )
    verify = bool(params.get("validate_certs")) or _env_bool(environ, "DOCKER_TLS_VERIFY")
    use_tls = verify or bool(params.get("tls")) or _env_bool(environ, "DOCKER_TLS")
    cert_dir = environ.get("DOCKER_CERT_PATH", "")

    def _path(option, filename):
        value = params.get(option)
        if value:
            return value
        if cert_dir and os.path.exists(os.path.join(cert_dir, filename)):
            return os.path.join(cert_dir, filename)
        return None

    settings = {
        "base_url": host,
        "tls": use_tls,
        "verify": verify,
        "ca_path": _path("ca_path", "ca.pem"),
        "client_cert": _path("client_cert", "cert.pem"),
        "client_key": _path("client_key", "key.pem"),
        "timeout": timeout,
        "version": version,
        "host_option": host_option,
    }
    if bool(settings["client_cert"]) != bool(settings["client_key"]):
        raise DcosError("client_cert and client_key must be given together")
    if verify and not settings["ca_path"]:
        raise DcosError("validate_certs needs ca_path (or DOCKER_CERT_PATH holding ca.pem)")
    return settings


def _bad_tls_option(settings):
    """The option naming a TLS file that is missing (the SDK's error does not say which)."""
    options = [("client_cert", settings["client_cert"]), ("client_key", settings["client_key"])]
    if settings["verify"]:
        options.insert(0, ("ca_path", settings["ca_path"]))
    missing = [f"{option} ({path})" for option, path in options if path and not os.path.isfile(path)]
    if missing:
        return ", ".join(missing) + " not found"
    return "/".join(option for option, _path in options)


def docker_client(params, environ=None):
    """A connected ``docker.APIClient`` for ``params`` (the keys of DOCKER_CONNECTION_ARGS)."""
    if not HAS_DOCKER:
        raise DcosError("the Docker SDK for Python (docker) is not installed", exception=DOCKER_IMPORT_ERROR)
    settings = connection_settings(params, environ)
    tls_config = False
    if settings["tls"]:
        client_cert = None
        if settings["client_cert"]:
            client_cert = (settings["client_cert"], settings["client_key"])
        try:
            tls_config = docker_tls.TLSConfig(
                client_cert=client_cert,
                ca_cert=settings["ca_path"] if settings["verify"] else None,
                verify=settings["verify"],
            )
        except docker_errors.TLSParameterError as exc:
            raise DcosError(f"{_bad_tls_option(settings)}: {exc}") from exc
    try:
        return docker.APIClient(
            base_url=settings["base_url"],
            version=settings["version"],
            timeout=settings["timeout"],
            tls=tls_config,
        )
    except (docker_errors.DockerException, ValueError) as exc:
        raise DcosError(
            f"{settings['host_option']}: cannot connect to the Docker engine at {settings['base_url']}: {exc}"
        ) from exc


def api_error_text(exc):
    """The engine's own message for a Docker SDK error (``explanation`` when it has one)."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)
