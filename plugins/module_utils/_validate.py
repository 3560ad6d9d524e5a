# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One validator per kind of value, shared by every module, lookup and the discovery daemon.

Each function takes the value and the ``option`` it came from (the name the user wrote, e.g.
``apps[2].port``), returns the value in its canonical type, and raises :class:`DcosError` with a
sentence naming the option when the value is not exactly valid. Patterns are matched with
``re.fullmatch`` on purpose: ``re.match(r"...$")`` accepts a trailing newline, which once let
``"oak\\n"`` become a second pool over the same subnet.

Add a validator here when a second place needs the same rule; keep domain rules (what a Marathon
app ID or a Gluster volume name may contain) next to their domain, expressed through
:func:`name`.
"""

from __future__ import annotations

import ipaddress
import math
import re

from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

# Characters that must never reach a config file, a DNS name or a command line.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")

_TRUE = ("yes", "on", "1", "true", "y", "t")
_FALSE = ("no", "off", "0", "false", "n", "f")


def _show(value):
    """The value as the user would recognise it in a message (repr shows a trailing newline)."""
    return repr(value) if isinstance(value, str) else str(value)


def name(value, option, pattern, what, max_length=None):
    """A name that matches ``pattern`` (a compiled regex or a string) in full.

    ``what`` says in words what the pattern allows, for the message (``letters, digits, '.',
    '_' and '-', starting with a letter or digit``).
    """
    if not isinstance(value, str) or value == "":
        raise DcosError(f"{option}: must be a non-empty string ({what}), got {_show(value)}")
    if max_length is not None and len(value) > max_length:
        raise DcosError(f"{option}: must be at most {max_length} characters, got {len(value)}")
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    if regex.fullmatch(value) is None:
        raise DcosError(f"{option}: {_show(value)} is not valid: {what}")
    return value


def printable(value, option):
    """A string with no whitespace or control characters anywhere (newline, tab, NUL ...)."""
    if not isinstance(value, str) or value == "":
        raise DcosError(f"{option}: must be a non-empty string, got {_show(value)}")
    if _CONTROL_OR_SPACE.search(value):
        raise DcosError(f"{option}: {_show(value)} must not contain whitespace or control characters")
    return value


def integer(value, option, minimum=None, maximum=None):
    """An integer (not a bool, not a float with a fraction) within ``minimum``..``maximum``."""
    number = value
    if isinstance(value, bool):
        raise DcosError(f"{option}: must be an integer, got {_show(value)}")
    whole_float = isinstance(value, float) and value.is_integer()
    digits = isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()) is not None
    if whole_float or digits:
        number = int(value)
    if not isinstance(number, int):
        raise DcosError(f"{option}: must be an integer, got {_show(value)}")
    _check_range(number, option, minimum, maximum)
    return number


def port(value, option):
    """A TCP/UDP port, 1..65535."""
    return integer(value, option, 1, 65535)


def number(value, option, minimum=None, maximum=None, exclusive_minimum=False):
    """A finite real number (no ``inf``/``nan``: JSON cannot carry them) within the bounds."""
    if isinstance(value, bool):
        raise DcosError(f"{option}: must be a number, got {_show(value)}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise DcosError(f"{option}: must be a number, got {_show(value)}") from None
    if not math.isfinite(result):
        raise DcosError(f"{option}: must be a finite number, got {_show(value)}")
    if exclusive_minimum and minimum is not None and result <= minimum:
        raise DcosError(f"{option}: must be more than {minimum}, got {_show(value)}")
    _check_range(result, option, None if exclusive_minimum else minimum, maximum)
    return result


def timeout(value, option):
    """A timeout in seconds: a finite number more than 0."""
    return number(value, option, minimum=0, exclusive_minimum=True)


def boolean(value, option):
    """A boolean, strictly: ``True``/``False`` or one of Ansible's boolean words; anything else fails."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DcosError(f"{option}: must be a boolean (true or false), got {_show(value)}")


def ip_address(value, option, version=None):
    """An IP address in its canonical text form (``10.0.0.01`` and ``"10.0.0.1\\n"`` are refused)."""
    try:
        address = ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        raise DcosError(f"{option}: {_show(value)} is not an IP address") from None
    if getattr(address, "scope_id", None):
        raise DcosError(f"{option}: {_show(value)} carries a scope (%...): give the address alone")
    if version is not None and address.version != version:
        raise DcosError(f"{option}: {_show(value)} is not an IPv{version} address")
    return str(address)


def host_port_list(value, option, default_port=None):
    """``host[:port][,host[:port]...]`` (ZooKeeper's connect string) as a list of ``(host, port)``.

    Hosts are names or IPv4 addresses, or ``[v6]``; empty items and ports out of range fail.
    """
    if not isinstance(value, str) or not value.strip():
        raise DcosError(f"{option}: must be a non-empty 'host:port,host:port' string, got {_show(value)}")
    result = []
    for item in value.split(","):
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]+))?", item.strip())
        if match is None:
            raise DcosError(f"{option}: {_show(item)} is not 'host' or 'host:port' (in {_show(value)})")
        host, text_port = match.group(1), match.group(2)
        if text_port is None and default_port is None:
            raise DcosError(f"{option}: {_show(item)} needs a port (in {_show(value)})")
        result.append((host, port(text_port, option) if text_port is not None else default_port))
    return result


def _check_range(value, option, minimum, maximum):
    if minimum is not None and value < minimum:
        raise DcosError(f"{option}: must be {minimum} or more, got {value}")
    if maximum is not None and value > maximum:
        raise DcosError(f"{option}: must be {maximum} or less, got {value}")
