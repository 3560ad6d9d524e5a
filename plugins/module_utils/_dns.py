# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS record sets: read, normalise, diff, and write them with batched, signed RFC 2136 UPDATEs.

The one place where the collection computes DNS record sets. ``pptv.dcos.dns_record`` calls it
for one record set or a batch; the service-discovery daemon calls it with hundreds of records per
batch. Nothing here imports Ansible; failures raise :class:`DcosError` with a message in words.

How a batch converges (:func:`converge`):

1. Each wanted entry is normalised (names made absolute, values parsed by dnspython into rdata,
   so ``2001:DB8::1`` equals ``2001:db8::1`` and a CNAME target equals itself in any case).
2. The zone of each entry is the one given, or the one whose SOA the server reports for the name.
3. Every record set concerned is read once (one query each), and the entries are applied in order
   to what was read: the target record set.
4. Each record set that differs (values or TTL) becomes a change: the additions and deletions of
   single records that turn the current set into the target, plus an RFC 2136 prerequisite that
   says what was read ("this record set is exactly these records", or "does not exist"). UPDATE is
   atomic: when another writer changed the record set in between, the server applies nothing of
   that message and answers YXRRSET/NXRRSET, which becomes a :class:`DnsConflict`.
5. Changes are packed per zone into as few UPDATE messages as fit in one message (64 KiB over
   TCP, 1232 bytes over UDP), each TSIG-signed.
6. The changed record sets are read again and compared with the target, because some servers
   accept an update and silently ignore part of it (BIND: a CNAME next to other data, deleting
   the last NS records of a zone apex).
"""

from __future__ import annotations

import base64
import binascii
import re
import socket
import traceback
from contextlib import suppress

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.rdtypes.ANY.TXT
    import dns.rdtypes.IN.A
    import dns.rdtypes.IN.AAAA
    import dns.tsig
    import dns.update
    import dns.xfr
except ImportError:
    HAS_DNS = False
    DNS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_DNS = True
    DNS_IMPORT_ERROR = None
    _ADDRESS_TYPES = {dns.rdatatype.A: dns.rdtypes.IN.A.A, dns.rdatatype.AAAA: dns.rdtypes.IN.AAAA.AAAA}

TYPES = ("A", "AAAA", "CNAME", "SRV", "TXT", "PTR", "MX", "NS")
KEY_ALGORITHMS = (
    "HMAC-MD5.SIG-ALG.REG.INT",
    "hmac-md5",
    "hmac-sha1",
    "hmac-sha224",
    "hmac-sha256",
    "hmac-sha384",
    "hmac-sha512",
)
DEFAULT_TTL = 3600
MAX_TTL = 2147483647
# How record sets are read before a write (see read_current): "auto" reads a zone with one AXFR
# when the batch reads AXFR_MIN_RECORD_SETS or more of its record sets, and falls back to one
# query per record set when the server refuses the transfer; "axfr" always transfers and fails
# when refused; "query" never transfers.
READ_MODES = ("auto", "axfr", "query")
AXFR_MIN_RECORD_SETS = 16
# A TXT character-string holds at most 255 bytes (RFC 1035 section 3.3).
MAX_TXT_STRING = 255
# Largest UPDATE message we build: a TCP message is at most 65535 bytes; over UDP we stay within
# the size every path carries without fragmentation (the DNS flag day 2020 figure).
MAX_TCP_MESSAGE = 65535
MAX_UDP_MESSAGE = 1232
# TSIG record without its names: type/class/ttl/rdlength, time, fudge, MAC size, the largest MAC
# (hmac-sha512), original id, error, other length and other data.
_TSIG_FIXED = 10 + 6 + 2 + 2 + 64 + 2 + 2 + 2 + 6

_KEY_FILE_RE = re.compile(
    r'key\s+"?(?P<name>[^"\s{]+)"?\s*\{(?P<body>[^}]*)\}',
    re.S,
)
_KEY_FIELD_RE = re.compile(r'(?P<field>algorithm|secret)\s+"?(?P<value>[^";\s]+)"?\s*;')
# What a value must not contain: dnspython's zone-file reader ends a value at a newline and drops
# everything after it or after an unquoted ';' (a comment), so "10.0.0.1; x" and
# "10.0.0.1\n10.0.0.2" would silently publish 10.0.0.1.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SIMPLE_TOKEN_RE = re.compile(r"[0-9A-Fa-f:.]+")
_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}


def require_dns():
    if not HAS_DNS:
        raise DcosError("the dnspython library (2.x) is required", exception=DNS_IMPORT_ERROR)


# ---------------------------------------------------------------------------------------------
# TSIG keys
# ---------------------------------------------------------------------------------------------


def read_key_file(path):
    """Return ``(name, algorithm, secret)`` of the first ``key "name" { ... };`` in a BIND file."""
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise DcosError(f"key_file: cannot read {path}: {exc.strerror}") from None
    match = _KEY_FILE_RE.search(text)
    if not match:
        raise DcosError(f'key_file: {path} holds no BIND key statement (key "name" {{ algorithm ...; secret ...; }};)')
    fields = {m.group("field"): m.group("value") for m in _KEY_FIELD_RE.finditer(match.group("body"))}
    if "secret" not in fields:
        raise DcosError(f"key_file: the key {match.group('name')} in {path} has no secret")
    return match.group("name"), fields.get("algorithm"), fields["secret"]


def make_key(name, secret, algorithm="hmac-sha256"):
    """Build the dnspython TSIG key; errors name the option and never echo the secret."""
    require_dns()
    if not name:
        raise DcosError("key_name: required when a key secret is given")
    _validate.printable(name, "key_name")
    known = {known.lower(): known for known in KEY_ALGORITHMS}
    if not isinstance(algorithm, str) or algorithm.lower() not in known:
        raise DcosError(f"key_algorithm: {algorithm!r} is not one of {', '.join(KEY_ALGORITHMS)}")
    algorithm = known[algorithm.lower()]  # BIND's names are case-insensitive (key files may say HMAC-SHA256)
    if not isinstance(secret, str) or not secret:
        raise DcosError("key_secret: must be a non-empty base64 string (the secret of a BIND key statement)")
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise DcosError("key_secret: not valid base64 (the secret of a BIND key statement)") from None
    if not raw:
        raise DcosError("key_secret: empty")
    if algorithm.lower() == "hmac-md5":
        algorithm = "HMAC-MD5.SIG-ALG.REG.INT"
    try:
        return dns.tsig.Key(dns.name.from_text(name), raw, algorithm)
    except Exception:  # noqa: BLE001 (dnspython raises several types for a bad name or algorithm)
        raise DcosError(f"key_name: {name!r} is not a valid key name (a DNS name such as ddns-key)") from None


# ---------------------------------------------------------------------------------------------
# Talking to the server
# ---------------------------------------------------------------------------------------------


class DnsConflict(DcosError):
    """The server's record sets changed between our read and our write (a prerequisite failed)."""


class ZoneTransferRefused(DcosError):
    """The server answered an AXFR with an error code (it does not allow this client to transfer)."""

    def __init__(self, zone, rcode):
        rcode_text = dns.rcode.to_text(rcode)
        super().__init__(
            f"zone: the server refused the zone transfer (AXFR) of {zone.to_text()} ({rcode_text}): its "
            "allow-transfer does not let this key (or address) read the whole zone",
            dns_rc=int(rcode),
            dns_rc_str=rcode_text,
        )
        self.zone = zone
        self.rcode = rcode


class Client:
    """Sends queries and UPDATEs to the first reachable server, signed with the key when given.

    ``servers`` are IP addresses or host names (tried in order on a connection failure or a
    timeout, never on a DNS answer). ``queries``, ``updates`` and ``transfers`` count the messages
    sent (a transfer is one AXFR request, whatever the number of messages in its answer).
    """

    def __init__(self, servers, port=53, protocol="tcp", timeout=10.0, key=None):
        require_dns()
        if isinstance(servers, str):
            servers = [servers]
        if not isinstance(servers, (list, tuple)) or not servers:
            raise DcosError("server: at least one server is required")
        for index, server in enumerate(servers):
            _validate.printable(server, f"server[{index}]")
        if protocol not in ("tcp", "udp"):
            raise DcosError(f"protocol: {protocol!r} is not tcp or udp")
        self.servers = list(servers)
        self.port = _validate.port(port, "port")
        self.protocol = protocol
        self.timeout = _validate.timeout(timeout, "timeout")
        self.key = key
        self.queries = 0
        self.updates = 0
        self.transfers = 0
        self._addresses = None
        self._preferred = 0

    @property
    def max_message(self):
        return MAX_TCP_MESSAGE if self.protocol == "tcp" else MAX_UDP_MESSAGE

    def describe(self):
        return f"{', '.join(self.servers)} port {self.port} over {self.protocol}"

    def _resolve(self):
        if self._addresses is None:
            addresses = []
            for server in self.servers:
                try:
                    infos = socket.getaddrinfo(server, self.port, proto=socket.IPPROTO_TCP)
                except socket.gaierror as exc:
                    addresses.append((server, None, exc.strerror))
                    continue
                for info in infos:
                    addresses.append((server, info[4][0], None))
            self._addresses = addresses
        return self._addresses

    def _send(self, message, exchange=None):
        """Send ``message`` to the preferred reachable address; returns the response.

        ``exchange(message, address)`` does the talking (default: one query or UPDATE).
        """
        exchange = exchange or self._exchange
        errors = []
        addresses = self._resolve()
        order = addresses[self._preferred :] + addresses[: self._preferred]
        for server, address, resolve_error in order:
            if address is None:
                errors.append(f"{server}: cannot resolve ({resolve_error})")
                continue
            try:
                response = exchange(message, address)
            except dns.exception.Timeout:
                errors.append(f"{server} ({address}): no answer within {self.timeout:g} s (timeout)")
                continue
            except OSError as exc:
                errors.append(f"{server} ({address}): {exc.strerror or exc} (server unreachable)")
                continue
            except EOFError:
                # dnspython raises the builtin EOFError when a TCP peer closes without answering.
                errors.append(f"{server} ({address}): closed the connection without answering")
                continue
            self._preferred = addresses.index((server, address, resolve_error))
            return response
        raise DcosError(
            f"server: cannot reach any DNS server on port {self.port}/{self.protocol}: {'; '.join(errors)}",
            servers=list(self.servers),
        )

    def _exchange(self, message, address):
        if self.protocol == "udp":
            response = dns.query.udp(message, address, timeout=self.timeout, port=self.port)
            if response.flags & dns.flags.TC:
                response = dns.query.tcp(message, address, timeout=self.timeout, port=self.port)
            return response
        return dns.query.tcp(message, address, timeout=self.timeout, port=self.port)

    def _sign(self, message):
        if self.key is not None:
            message.use_tsig(self.key)

    def _tsig_error(self, exc):
        key = self.key.name.to_text(omit_final_dot=True) if self.key is not None else "(none)"
        alg = self.key.algorithm.to_text(omit_final_dot=True) if self.key is not None else ""
        if isinstance(exc, dns.tsig.PeerBadKey):
            return DcosError(
                f"the server does not know the TSIG key {key} with algorithm {alg} (BADKEY): "
                "key_name and key_algorithm must match a key statement in the server's configuration"
            )
        if isinstance(exc, dns.tsig.PeerBadSignature):
            return DcosError(
                f"the server rejected the signature made with TSIG key {key} (BADSIG): "
                "key_secret is not the secret the server has for this key"
            )
        if isinstance(exc, dns.tsig.PeerBadTime):
            return DcosError(
                f"the server rejected the time of the TSIG signature of key {key} (BADTIME): "
                "the clocks of this host and the DNS server differ by more than 5 minutes"
            )
        return DcosError(f"TSIG error with key {key}: {exc.__class__.__name__} ({exc})")

    def exchange(self, message, exchange=None):
        """Sign, send and return the response; TSIG failures become :class:`DcosError` in words."""
        self._sign(message)
        try:
            return self._send(message, exchange)
        except dns.tsig.PeerError as exc:
            raise self._tsig_error(exc) from None
        except (dns.tsig.BadSignature, dns.message.UnknownTSIGKey, dns.tsig.BadAlgorithm) as exc:
            raise DcosError(
                f"the server's answer failed TSIG verification ({exc.__class__.__name__}): "
                "the server signed it with another key or secret"
            ) from None
        except dns.tsig.BadTime:
            raise DcosError(
                "the time in the server's TSIG signature is off by more than 5 minutes (BADTIME): "
                "check the clocks of this host and of the DNS server"
            ) from None
        except dns.xfr.TransferError as exc:
            raise ZoneTransferRefused(message.question[0].name, exc.rcode) from None
        except dns.exception.FormError as exc:
            raise DcosError(f"the server sent a malformed answer: {exc}") from None
        except dns.exception.DNSException as exc:
            raise DcosError(f"DNS error talking to {self.describe()}: {exc.__class__.__name__} ({exc})") from None

    def query(self, name, rdtype):
        message = dns.message.make_query(name, rdtype)
        message.flags &= ~dns.flags.RD
        self.queries += 1
        return self.exchange(message)

    def update(self, message):
        self.updates += 1
        return self.exchange(message)

    def transfer(self, zone):
        """Every record of ``zone`` by one AXFR over TCP (signed with the key): a list of rrsets.

        Raises :class:`ZoneTransferRefused` when the server answers the transfer with an error
        (BIND: REFUSED unless the zone's ``allow-transfer`` lets this client or key in).
        """
        message = dns.message.make_query(zone, dns.rdatatype.AXFR)
        self.transfers += 1

        def receive(request, address):
            # The request is built again by dns.query.xfr; it signs it with the same key.
            del request
            keyring = {self.key.name: self.key} if self.key is not None else None
            keyname = self.key.name if self.key is not None else None
            algorithm = self.key.algorithm if self.key is not None else dns.tsig.default_algorithm
            rrsets = []
            for response in dns.query.xfr(
                address,
                zone,
                port=self.port,
                timeout=self.timeout,
                lifetime=max(self.timeout * 6, 60.0),
                keyring=keyring,
                keyname=keyname,
                keyalgorithm=algorithm,
                relativize=False,
            ):
                rrsets.extend(response.answer)
            return rrsets

        return self.exchange(message, receive)


# ---------------------------------------------------------------------------------------------
# Record sets
# ---------------------------------------------------------------------------------------------


class RecordSet:
    """What a record set holds: a TTL and a set of dnspython rdata (value comparison is DNS's own)."""

    __slots__ = ("_values", "rdatas", "ttl")

    def __init__(self, ttl, rdatas):
        self.ttl = int(ttl)
        self.rdatas = frozenset(rdatas)
        self._values = None

    def __eq__(self, other):
        return isinstance(other, RecordSet) and self.ttl == other.ttl and self.rdatas == other.rdatas

    def __hash__(self):
        return hash((self.ttl, self.rdatas))

    def values(self):
        if self._values is None:
            self._values = sorted(rdata_text(rdata) for rdata in self.rdatas)
        return list(self._values)

    def as_dict(self):
        return {"ttl": self.ttl, "values": self.values()}


def rrset_dict(rrset):
    return rrset.as_dict() if rrset is not None else None


class Entry:
    """One wanted change, as the user wrote it (before normalisation)."""

    __slots__ = ("exclusive", "index", "record", "state", "ttl", "type", "value")

    def __init__(self, record, type="A", value=None, ttl=None, state="present", exclusive=True, index=None):  # noqa: A002
        self.record = record
        self.type = type
        self.value = value
        self.ttl = ttl
        self.state = state
        self.exclusive = exclusive
        self.index = index

    def where(self, field):
        return f"records[{self.index}].{field}" if self.index is not None else field


def _control_character(text):
    """Words for the first control character in ``text`` (None when there is none)."""
    match = _CONTROL_RE.search(text)
    if match is None:
        return None
    char = match.group()
    return _CONTROL_NAMES.get(char, f"the control character {char!r}")


def _comment_at(text):
    """Index of a ``;`` outside double quotes (where dnspython's reader starts a comment), or -1."""
    quoted = False
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return index
    return -1


def txt_strings(text):
    """Plain text as TXT character-strings of at most 255 bytes, cut between UTF-8 characters."""
    strings = []
    current = b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > MAX_TXT_STRING:
            strings.append(current)
            current = b""
        current += encoded
    if current or not strings:
        strings.append(current)
    return strings


def txt_text(rdata):
    """A TXT rdata as zone-file text, with UTF-8 shown as text (dnspython writes ``\\195\\169``)."""
    parts = []
    for string in rdata.strings:
        try:
            decoded = string.decode("utf-8")
        except UnicodeDecodeError:
            return rdata.to_text()
        if _CONTROL_RE.search(decoded):
            return rdata.to_text()
        parts.append('"' + decoded.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(parts)


def rdata_text(rdata):
    """The text of one rdata as results show it (TXT keeps UTF-8 readable)."""
    if rdata.rdtype == dns.rdatatype.TXT:
        return txt_text(rdata)
    return rdata.to_text()


def parse_name(text, zone, field):
    """An absolute name for ``text``: relative to ``zone`` unless it ends with a dot; ``@`` is the apex.

    Whitespace and control characters are refused (dnspython would put them inside a label).
    """
    if not isinstance(text, str) or not text:
        raise DcosError(f"{field}: a record name is required")
    _validate.printable(text, field)
    try:
        if text == "@":
            if zone is None:
                raise DcosError(f"{field}: '@' needs zone")
            return zone
        if zone is None or text.endswith("."):
            return dns.name.from_text(text)
        return dns.name.from_text(text, origin=zone)
    except DcosError:
        raise
    except Exception as exc:  # noqa: BLE001 (dnspython raises one of many name errors)
        raise DcosError(f"{field}: {text!r} is not a valid DNS name ({exc})") from None


def parse_zone(zone):
    """The zone option as an absolute name (None when not given)."""
    if zone is None:
        return None
    _validate.printable(zone, "zone")
    try:
        return dns.name.from_text(zone)
    except Exception as exc:  # noqa: BLE001 (dnspython raises one of many name errors)
        raise DcosError(f"zone: {zone!r} is not a valid DNS name ({exc})") from None


def _parse_value(where, value, rdtype, origin):
    """One value in the zone-file syntax of ``rdtype`` (a plain TXT value is taken as text)."""
    type_text = dns.rdatatype.to_text(rdtype)
    if not isinstance(value, str):
        raise DcosError(f"{where}: must be a string in the zone-file syntax of {type_text}, got {value!r}")
    control = _control_character(value)
    if control is not None:
        raise DcosError(
            f"{where}: {value!r} is refused: it contains {control} (a value is one line, one value per "
            "list item; in a quoted TXT value write such a byte as \\DDD)"
        )
    text = value.strip()
    if rdtype == dns.rdatatype.TXT and not text.startswith('"'):
        return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, rdtype, txt_strings(text))
    comment = _comment_at(text)
    if comment >= 0:
        raise DcosError(
            f"{where}: {value!r} is refused: the text after ';' would be read as a comment and dropped "
            f"(a value of type {type_text} holds no ';'"
            + ("; in a quoted TXT value put it inside the quotes)" if rdtype == dns.rdatatype.TXT else ")")
        )
    simple = _ADDRESS_TYPES.get(rdtype)
    if simple is not None and _SIMPLE_TOKEN_RE.fullmatch(text):
        # A plain address: the rdata class directly, as dnspython's reader would build it (a large
        # batch parses ten times faster this way); anything else goes through the reader.
        with suppress(ValueError, dns.exception.SyntaxError):
            return simple(dns.rdataclass.IN, rdtype, text)
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, origin=origin, relativize=False)
    except Exception as exc:  # noqa: BLE001 (dnspython raises syntax errors of many types)
        raise DcosError(f"{where}: {value!r} is not a valid {type_text} value ({exc})") from None


def parse_values(entry, rdtype, origin):
    """The rdata for ``entry.value``; a value that does not parse names the option and the type."""
    values = entry.value
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise DcosError(f"{entry.where('value')}: must be a list of strings, got {values!r}")
    return {
        _parse_value(f"{entry.where('value')}[{position}]", value, rdtype, origin)
        for position, value in enumerate(values)
    }


class Wanted:
    """A normalised entry: absolute name, rdatatype, rdata set (or None), ttl, state, exclusive."""

    __slots__ = ("entry", "exclusive", "name", "rdatas", "rdtype", "state", "ttl", "zone")

    def __init__(self, entry, zone, name, rdtype, rdatas, ttl=None, exclusive=None):
        self.entry = entry
        self.zone = zone
        self.name = name
        self.rdtype = rdtype
        self.rdatas = rdatas
        self.ttl = entry.ttl if ttl is None else ttl
        self.state = entry.state
        self.exclusive = entry.exclusive if exclusive is None else exclusive

    @property
    def key(self):
        return (self.name, self.rdtype)


def apply_entry(current, wanted):
    """The record set after applying ``wanted`` to ``current`` (None means absent)."""
    if wanted.state == "absent":
        if wanted.rdatas is None or current is None:
            return None
        left = current.rdatas - wanted.rdatas
        return RecordSet(current.ttl, left) if left else None
    keep = current.rdatas if current is not None and not wanted.exclusive else frozenset()
    rdatas = set(keep) | wanted.rdatas
    if wanted.ttl is not None:
        ttl = wanted.ttl
    elif current is not None:
        ttl = current.ttl
    else:
        ttl = DEFAULT_TTL
    return RecordSet(ttl, rdatas)


class Change:
    """One record set that differs: what was read, the target, and the records to add/delete."""

    __slots__ = ("after", "before", "name", "rdtype", "zone")

    def __init__(self, zone, name, rdtype, before, after):
        self.zone = zone
        self.name = name
        self.rdtype = rdtype
        self.before = before
        self.after = after

    @property
    def label(self):
        return f"{self.name.to_text()} {dns.rdatatype.to_text(self.rdtype)}"

    @property
    def changed(self):
        return self.before != self.after

    def additions(self):
        """Records to add: new values, or every value when the TTL changes (it moves the set's TTL)."""
        if self.after is None:
            return []
        if self.before is None or self.before.ttl != self.after.ttl:
            rdatas = self.after.rdatas
        else:
            rdatas = self.after.rdatas - self.before.rdatas
        return sorted(rdatas, key=lambda r: r.to_digestable())

    def deletions(self):
        """Records to delete, one by one (a zone apex keeps its NS set this way)."""
        if self.before is None:
            return []
        keep = self.after.rdatas if self.after is not None else frozenset()
        return sorted(self.before.rdatas - keep, key=lambda r: r.to_digestable())

    def wire_size(self):
        """An upper bound of the bytes this change adds to an UPDATE.

        The zone section holds the zone name near the start of the message, so every owner name
        costs at most its labels below the zone plus a 2-byte pointer to it (a pointer to an
        earlier copy of the whole name only works in the first 16 KiB, so it is not counted on).
        Names inside rdata are counted uncompressed.
        """
        relative = self.name.relativize(self.zone)
        name = sum(len(label) + 1 for label in relative.labels) + 2 if relative.labels else 2
        rdata_sizes = [len(rdata.to_wire()) for rdata in self.additions() + self.deletions()]
        if self.before is None:
            rdata_sizes.append(0)  # "RRset does not exist"
        else:
            rdata_sizes.extend(len(rdata.to_wire()) for rdata in self.before.rdatas)
        if self.after is not None and self.rdtype != dns.rdatatype.CNAME and self.before is None:
            rdata_sizes.append(0)  # the "no CNAME here" prerequisite
        return sum(name + 10 + size for size in rdata_sizes)

    def add_to(self, update):
        """Write this change's prerequisites and updates into ``update``."""
        if self.before is None:
            update.absent(self.name, self.rdtype)
        else:
            # Value-dependent "RRset exists": exactly the records read (RFC 2136 section 2.4.2).
            update.present(self.name, *sorted(self.before.rdatas, key=lambda r: r.to_digestable()))
        if self.after is not None and self.rdtype != dns.rdatatype.CNAME and self.before is None:
            # BIND ignores data next to a CNAME without an error: refuse it through a prerequisite.
            update.absent(self.name, dns.rdatatype.CNAME)
        for rdata in self.additions():
            update.add(self.name, self.after.ttl, rdata)
        for rdata in self.deletions():
            update.delete(self.name, rdata)

    def as_dict(self, state):
        return {
            "record": self.name.to_text(),
            "zone": self.zone.to_text(),
            "type": dns.rdatatype.to_text(self.rdtype),
            "state": state,
            "changed": self.changed,
            "before": rrset_dict(self.before),
            "after": rrset_dict(self.after),
        }


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _rcode_error(client, response, what):
    rcode = dns.rcode.to_text(response.rcode())
    if response.rcode() == dns.rcode.REFUSED:
        return DcosError(
            f"{what}: the server refused ({rcode}): it serves no such zone, or does not let this "
            f"client or key read it ({client.describe()})",
            dns_rc=response.rcode(),
            dns_rc_str=rcode,
        )
    if response.rcode() == dns.rcode.NOTAUTH:
        return DcosError(
            f"{what}: the server is not authoritative for the zone ({rcode})",
            dns_rc=response.rcode(),
            dns_rc_str=rcode,
        )
    return DcosError(f"{what}: the server answered {rcode}", dns_rc=response.rcode(), dns_rc_str=rcode)


def find_zone(client, name, cache=None):
    """The zone holding ``name`` on this server, from the SOA the server returns for it.

    ``cache`` maps names already looked up to their zone (only exact names: a name below a known
    zone may belong to a child zone served by the same server).
    """
    if cache is not None and name in cache:
        return cache[name]
    candidate = name
    while True:
        response = client.query(candidate, dns.rdatatype.SOA)
        rcode = response.rcode()
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            for section in (response.answer, response.authority):
                for rrset in section:
                    if rrset.rdtype == dns.rdatatype.SOA and name.is_subdomain(rrset.name):
                        if cache is not None:
                            cache[name] = rrset.name
                        return rrset.name
        elif rcode != dns.rcode.REFUSED:
            raise _rcode_error(client, response, f"zone: looking up the zone of {name}")
        if candidate == dns.name.root or len(candidate) <= 1:
            break
        candidate = candidate.parent()
        if candidate == dns.name.root:
            break
    raise DcosError(
        f"zone: the server is not authoritative for any zone holding {name.to_text()} "
        f"(no SOA in its answers; {client.describe()}); give zone explicitly or check the server"
    )


def check_zone(client, zone):
    """Fail unless the server answers authoritatively with the SOA of ``zone``."""
    response = client.query(zone, dns.rdatatype.SOA)
    if response.rcode() != dns.rcode.NOERROR:
        raise _rcode_error(client, response, f"zone: {zone.to_text()}")
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA and rrset.name == zone and response.flags & dns.flags.AA:
            return
    raise DcosError(f"zone: {zone.to_text()} is not a zone this server is authoritative for ({client.describe()})")


def read_rrset(client, zone, name, rdtype):
    """The record set ``name``/``rdtype`` as the server holds it, or None."""
    response = client.query(name, rdtype)
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise _rcode_error(client, response, f"reading {name} {dns.rdatatype.to_text(rdtype)}")
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == rdtype:
            return RecordSet(rrset.ttl, rrset)
    # NS records below the apex are a delegation: the server answers with a referral.
    if rdtype == dns.rdatatype.NS:
        for rrset in response.authority:
            if rrset.name == name and rrset.rdtype == rdtype:
                return RecordSet(rrset.ttl, rrset)
    return None


# ---------------------------------------------------------------------------------------------
# Planning and writing
# ---------------------------------------------------------------------------------------------


class Result:
    """What :func:`converge` did: the record sets, the changes, and the messages it sent.

    ``reads`` maps each zone to how its record sets were read (``axfr`` or ``query``); ``notes``
    says in words why a zone was read per name although a transfer was tried.
    """

    def __init__(self):
        self.rrsets = []
        self.changes = []
        self.zones = []
        self.updates_sent = 0
        self.queries_sent = 0
        self.transfers_sent = 0
        self.retries = 0
        self.reads = {}
        self.notes = []

    @property
    def changed(self):
        return bool(self.changes)


def _check_entry(entry):
    """The entry's fields that need no server (type, state, value presence): ``(ttl, exclusive)``."""
    if entry.type not in TYPES:
        raise DcosError(f"{entry.where('type')}: {entry.type!r} is not one of {', '.join(TYPES)}")
    if entry.state not in ("present", "absent"):
        raise DcosError(f"{entry.where('state')}: {entry.state!r} is not present or absent")
    ttl = None if entry.ttl is None else _validate.integer(entry.ttl, entry.where("ttl"), 0, MAX_TTL)
    exclusive = _validate.boolean(entry.exclusive, entry.where("exclusive"))
    if entry.state == "present" and not entry.value:
        raise DcosError(f"{entry.where('value')}: at least one value is required with state=present")
    return ttl, exclusive


def normalise(client, entries, zone=None):
    """Entries → :class:`Wanted`, each with its zone (given, or found from the SOA)."""
    require_dns()
    zone_name = parse_zone(zone)
    cache = {}
    wanted = []
    for entry in entries:
        ttl, exclusive = _check_entry(entry)
        name = parse_name(entry.record, zone_name, entry.where("record"))
        if zone_name is not None:
            if not name.is_subdomain(zone_name):
                raise DcosError(f"{entry.where('record')}: {name.to_text()} is not inside zone {zone_name.to_text()}")
            entry_zone = zone_name
        else:
            entry_zone = find_zone(client, name, cache)
        rdtype = dns.rdatatype.from_text(entry.type)
        rdatas = parse_values(entry, rdtype, entry_zone)
        if rdtype == dns.rdatatype.CNAME and rdatas is not None and len(rdatas) > 1 and entry.state == "present":
            raise DcosError(f"{entry.where('value')}: a CNAME record set holds exactly one value")
        if rdtype == dns.rdatatype.CNAME and name == entry_zone and entry.state == "present":
            raise DcosError(f"{entry.where('record')}: a zone apex cannot hold a CNAME")
        wanted.append(Wanted(entry, entry_zone, name, rdtype, rdatas, ttl, exclusive))
    return wanted


def zones_of(wanted):
    """The zones of ``wanted``, in the order they first appear."""
    zones = []
    for item in wanted:
        if item.zone not in zones:
            zones.append(item.zone)
    return zones


def target_state(wanted, current):
    """The record sets after applying the wanted entries, in order, to those read.

    ``current`` maps ``(name, rdtype)`` to a :class:`RecordSet` or None; so does the result.
    """
    state = dict(current)
    for item in wanted:
        state[item.key] = apply_entry(state.get(item.key), item)
    return state


def transfer_zone(client, zone):
    """The record sets of ``zone`` by one AXFR: ``({(name, rdtype): RecordSet}, delegations)``.

    ``delegations`` are the names below the apex that hold NS records (zone cuts): a query for a
    name at or below a cut gets a referral, so those names are read per name, as before.
    """
    collected = {}
    for rrset in client.transfer(zone):
        key = (rrset.name, rrset.rdtype)
        ttl, rdatas = collected.get(key, (rrset.ttl, set()))
        rdatas.update(rrset)
        collected[key] = (ttl, rdatas)
    records = {key: RecordSet(ttl, rdatas) for key, (ttl, rdatas) in collected.items()}
    delegations = {name for name, rdtype in records if rdtype == dns.rdatatype.NS and name != zone}
    return records, delegations


def _below_a_cut(name, rdtype, delegations):
    return any(name.is_subdomain(cut) and not (name == cut and rdtype == dns.rdatatype.NS) for cut in delegations)


def _transfer_zones(keys_by_zone, read):
    if read == "query":
        return []
    if read == "axfr":
        return list(keys_by_zone)
    return [zone for zone, keys in keys_by_zone.items() if len(keys) >= AXFR_MIN_RECORD_SETS]


def read_record_sets(client, keys, read="auto", reads=None, notes=None):
    """Read the record sets ``keys`` (``(zone, name, rdtype)``): ``{(name, rdtype): RecordSet | None}``.

    With ``read`` ``auto``, a zone with :data:`AXFR_MIN_RECORD_SETS` or more of the keys is read
    with one AXFR, and per name (one query each) when the server refuses the transfer; a note in
    ``notes`` says so. ``axfr`` transfers every zone and fails when refused; ``query`` never
    transfers. ``reads`` records how each zone was read.
    """
    if read not in READ_MODES:
        raise DcosError(f"read: {read!r} is not one of {', '.join(READ_MODES)}")
    reads = {} if reads is None else reads
    notes = [] if notes is None else notes
    keys_by_zone = {}
    for zone, name, rdtype in keys:
        keys_by_zone.setdefault(zone, []).append((name, rdtype))
    current = {}
    for zone in _transfer_zones(keys_by_zone, read):
        try:
            records, delegations = transfer_zone(client, zone)
        except ZoneTransferRefused as exc:
            if read == "axfr":
                raise
            notes.append(
                f"{exc.msg}; read its {len(keys_by_zone[zone])} record sets with one query each instead "
                "(slower: let the key transfer the zone to read it in one message)"
            )
            continue
        reads[zone.to_text()] = "axfr"
        for name, rdtype in keys_by_zone.pop(zone):
            if _below_a_cut(name, rdtype, delegations):
                current[(name, rdtype)] = read_rrset(client, zone, name, rdtype)
            else:
                current[(name, rdtype)] = records.get((name, rdtype))
    for zone, zone_keys in keys_by_zone.items():
        reads.setdefault(zone.to_text(), "query")
        for name, rdtype in zone_keys:
            if (name, rdtype) not in current:
                current[(name, rdtype)] = read_rrset(client, zone, name, rdtype)
    return current


def read_current(client, wanted, read="auto", reads=None, notes=None):
    """Read each record set of ``wanted`` once (see :func:`read_record_sets`)."""
    keys = []
    seen = set()
    for item in wanted:
        if item.key not in seen:
            seen.add(item.key)
            keys.append((item.zone, item.name, item.rdtype))
    return read_record_sets(client, keys, read, reads, notes)


def compare(wanted, current):
    """``(record_sets, changes)``: every record set concerned (as dicts, in input order) and the
    :class:`Change` of each one that differs."""
    target = target_state(wanted, current)
    last = {item.key: item for item in wanted}
    record_sets = []
    changes = []
    for key in _ordered_keys(wanted):
        item = last[key]
        change = Change(item.zone, key[0], key[1], current[key], target[key])
        record_sets.append(change.as_dict(item.state))
        if change.changed:
            changes.append(change)
    return record_sets, changes


def message_overhead(zone, key):
    """Bytes of an UPDATE that hold no change: header, zone section, TSIG record."""
    size = 12 + len(zone.to_wire()) + 4
    if key is not None:
        size += len(key.name.to_wire()) + len(key.algorithm.to_wire()) + _TSIG_FIXED
    return size


def pack(changes, limit, overhead):
    """Group changes into messages whose size stays within ``limit`` (each change whole)."""
    messages = []
    batch = []
    size = overhead
    for change in changes:
        need = change.wire_size()
        if overhead + need > limit:
            raise DcosError(f"{change.label}: the record set is too large for one {limit}-byte UPDATE message")
        if batch and size + need > limit:
            messages.append(batch)
            batch = []
            size = overhead
        batch.append(change)
        size += need
    if batch:
        messages.append(batch)
    return messages


def _update_error(client, response, zone, batch):
    rcode = response.rcode()
    rcode_text = dns.rcode.to_text(rcode)
    labels = [c.label for c in batch]
    shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    details = {"dns_rc": rcode, "dns_rc_str": rcode_text, "record_sets": labels}
    if rcode in (dns.rcode.YXRRSET, dns.rcode.NXRRSET, dns.rcode.YXDOMAIN, dns.rcode.NXDOMAIN):
        return DnsConflict(
            f"another writer changed the records since they were read ({rcode_text}: a prerequisite failed, "
            f"so the server applied nothing of this UPDATE) in zone {zone.to_text()}: {shown}; "
            "or a CNAME exists where another type was to be added. Run again to converge on the new state",
            **details,
        )
    if rcode == dns.rcode.NOTAUTH:
        return DcosError(
            f"zone: the server is not authoritative for {zone.to_text()} (NOTAUTH): no such zone there, "
            "or it is a secondary that does not forward updates",
            **details,
        )
    if rcode == dns.rcode.REFUSED:
        key = client.key.name.to_text(omit_final_dot=True) if client.key is not None else "no key"
        return DcosError(
            f"the server refused the update of zone {zone.to_text()} (REFUSED): the zone's allow-update or "
            f"update-policy does not let {key} change these records, or a record failed the zone's integrity "
            "checks (BIND: an MX or SRV target inside the zone without an A/AAAA record); the server's log "
            f"names the cause. Nothing of this message was applied: {shown}",
            **details,
        )
    return DcosError(f"the server rejected the update of zone {zone.to_text()}: {rcode_text}", **details)


def send_changes(client, changes, on_applied=None):
    """Send ``changes`` grouped per zone in as few UPDATE messages as fit; returns messages sent.

    Each message is atomic on the server. When a message fails, the messages before it stay
    applied; the error lists the record sets of the failed message, and ``applied`` says how many
    record sets went in before it. ``on_applied(batch)`` is called with the changes of each
    message right after the server accepted it.
    """
    by_zone = {}
    for change in changes:
        by_zone.setdefault(change.zone, []).append(change)
    sent = 0
    applied = 0
    for zone, zone_changes in by_zone.items():
        for batch in pack(zone_changes, client.max_message, message_overhead(zone, client.key)):
            update = dns.update.UpdateMessage(zone)
            for change in batch:
                change.add_to(update)
            response = client.update(update)
            sent += 1
            if response.rcode() != dns.rcode.NOERROR:
                error = _update_error(client, response, zone, batch)
                error.details["applied"] = applied
                error.details["updates_sent"] = sent
                raise error
            applied += len(batch)
            if on_applied is not None:
                on_applied(batch)
    return sent


def prepare(client, entries, zone=None):
    """``(wanted, zones)``: the entries normalised, and their zones (checked when ``zone`` is given)."""
    wanted = normalise(client, entries, zone)
    zones = zones_of(wanted)
    if zone is not None:
        for zone_name in zones:
            check_zone(client, zone_name)
    return wanted, zones


def converge(client, entries, zone=None, check_mode=False, verify=True, retries=0, read="auto"):
    """Make the server hold the wanted records; returns a :class:`Result`.

    ``entries`` are :class:`Entry` objects (applied in order, so two entries may touch the same
    record set). In check mode only queries (and transfers) are sent. ``retries`` is how many
    times a batch that lost a race (:class:`DnsConflict`) is re-read and re-sent; the module keeps
    0 and fails, the discovery daemon, which owns its records, may retry. ``read`` is how record
    sets are read (:data:`READ_MODES`, see :func:`read_record_sets`): by default a zone with many
    record sets in the batch is read with one AXFR.
    """
    result = Result()
    start = (client.queries, client.updates, client.transfers)
    wanted, zones = prepare(client, entries, zone)
    result.zones = [z.to_text() for z in zones]
    attempt = 0
    while True:
        current = read_current(client, wanted, read, result.reads, result.notes)
        result.rrsets, result.changes = compare(wanted, current)
        if check_mode or not result.changes:
            break
        try:
            send_changes(client, result.changes)
        except DnsConflict:
            result.updates_sent = client.updates - start[1]
            if attempt >= retries:
                raise
            attempt += 1
            result.retries = attempt
            continue
        break
    if verify and result.changes and not check_mode:
        read_back(client, result.changes, read)
    result.queries_sent = client.queries - start[0]
    result.updates_sent = client.updates - start[1]
    result.transfers_sent = client.transfers - start[2]
    return result


def _ordered_keys(wanted):
    seen = []
    known = set()
    for item in wanted:
        if item.key not in known:
            known.add(item.key)
            seen.append(item.key)
    return seen


def read_back(client, changes, read="auto"):
    """Read the changed record sets again; fail when the server did not apply all of a change.

    Some servers accept an UPDATE and silently ignore part of it (BIND: a CNAME next to other
    data, deleting the last NS records of a zone apex).
    """
    keys = [(change.zone, change.name, change.rdtype) for change in changes]
    now = read_record_sets(client, keys, "query" if read == "query" else "auto")
    wrong = [(change, now[(change.name, change.rdtype)]) for change in changes]
    wrong = [(change, found) for change, found in wrong if found != change.after]
    if wrong:
        parts = [f"{c.label} is {rrset_dict(found)}, not {rrset_dict(c.after)}" for c, found in wrong[:5]]
        raise DcosError(
            "the server accepted the update but did not apply all of it: "
            + "; ".join(parts)
            + " (BIND ignores a CNAME next to other records and the deletion of the last NS records of a zone apex)",
            record_sets=[change.label for change, _found in wrong],
            # The UPDATE was accepted, so the module reports a change whatever the read-back says.
            applied=len(changes),
        )
