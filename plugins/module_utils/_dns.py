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
    import dns.rdtypes
    import dns.tsig
    import dns.update
except ImportError:
    HAS_DNS = False
    DNS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_DNS = True
    DNS_IMPORT_ERROR = None

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
    if algorithm not in KEY_ALGORITHMS:
        raise DcosError(f"key_algorithm: {algorithm} is not one of {', '.join(KEY_ALGORITHMS)}")
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise DcosError("key_secret: not valid base64 (the secret of a BIND key statement)") from None
    if not raw:
        raise DcosError("key_secret: empty")
    if algorithm.lower() == "hmac-md5":
        algorithm = "HMAC-MD5.SIG-ALG.REG.INT"
    try:
        return dns.tsig.Key(name, raw, algorithm)
    except Exception:  # noqa: BLE001 (dnspython raises several types for a bad name or algorithm)
        raise DcosError(f"key_name: {name!r} is not a valid key name") from None


# ---------------------------------------------------------------------------------------------
# Talking to the server
# ---------------------------------------------------------------------------------------------


class DnsConflict(DcosError):
    """The server's record sets changed between our read and our write (a prerequisite failed)."""


class Client:
    """Sends queries and UPDATEs to the first reachable server, signed with the key when given.

    ``servers`` are IP addresses or host names (tried in order on a connection failure or a
    timeout, never on a DNS answer). ``queries`` and ``updates`` count the messages sent.
    """

    def __init__(self, servers, port=53, protocol="tcp", timeout=10.0, key=None):
        require_dns()
        if isinstance(servers, str):
            servers = [servers]
        if not servers:
            raise DcosError("server: at least one server is required")
        if protocol not in ("tcp", "udp"):
            raise DcosError(f"protocol: {protocol} is not tcp or udp")
        self.servers = list(servers)
        self.port = int(port)
        self.protocol = protocol
        self.timeout = float(timeout)
        self.key = key
        self.queries = 0
        self.updates = 0
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

    def _send(self, message):
        """Send ``message`` to the preferred reachable address; returns the response."""
        errors = []
        addresses = self._resolve()
        order = addresses[self._preferred :] + addresses[: self._preferred]
        for server, address, resolve_error in order:
            if address is None:
                errors.append(f"{server}: cannot resolve ({resolve_error})")
                continue
            try:
                response = self._exchange(message, address)
            except dns.exception.Timeout:
                errors.append(f"{server} ({address}): no answer within {self.timeout:g} s (timeout)")
                continue
            except OSError as exc:
                errors.append(f"{server} ({address}): {exc.strerror or exc} (server unreachable)")
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

    def exchange(self, message):
        """Sign, send and return the response; TSIG failures become :class:`DcosError` in words."""
        self._sign(message)
        try:
            return self._send(message)
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


# ---------------------------------------------------------------------------------------------
# Record sets
# ---------------------------------------------------------------------------------------------


class RecordSet:
    """What a record set holds: a TTL and a set of dnspython rdata (value comparison is DNS's own)."""

    __slots__ = ("rdatas", "ttl")

    def __init__(self, ttl, rdatas):
        self.ttl = int(ttl)
        self.rdatas = frozenset(rdatas)

    def __eq__(self, other):
        return isinstance(other, RecordSet) and self.ttl == other.ttl and self.rdatas == other.rdatas

    def __hash__(self):
        return hash((self.ttl, self.rdatas))

    def values(self):
        return sorted(rdata.to_text() for rdata in self.rdatas)

    def as_dict(self):
        return {"ttl": self.ttl, "values": self.values()}


def _as_dict(rrset):
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


def _txt(value):
    """A TXT value as written by a user: plain text becomes one or more quoted strings."""
    text = value.strip()
    if text.startswith('"'):
        return text
    raw = text.encode()
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    out = []
    for chunk in chunks:
        escaped = chunk.decode(errors="replace").replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'"{escaped}"')
    return " ".join(out)


def parse_name(text, zone, field):
    """An absolute name for ``text``: relative to ``zone`` unless it ends with a dot; ``@`` is the apex."""
    if not isinstance(text, str) or not text.strip():
        raise DcosError(f"{field}: a record name is required")
    text = text.strip()
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


def parse_values(entry, rdtype, origin):
    """The rdata for ``entry.value``; a value that does not parse names the option and the type."""
    values = entry.value
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out = set()
    for position, value in enumerate(values):
        value_text = value if isinstance(value, str) else str(value)
        text = _txt(value_text) if rdtype == dns.rdatatype.TXT else value_text.strip()
        try:
            out.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, origin=origin, relativize=False))
        except Exception as exc:  # noqa: BLE001 (dnspython raises syntax errors of many types)
            type_text = dns.rdatatype.to_text(rdtype)
            raise DcosError(
                f"{entry.where('value')}[{position}]: {value!r} is not a valid {type_text} value ({exc})"
            ) from None
    return out


class Wanted:
    """A normalised entry: absolute name, rdatatype, rdata set (or None), ttl, state, exclusive."""

    __slots__ = ("entry", "exclusive", "name", "rdatas", "rdtype", "state", "ttl", "zone")

    def __init__(self, entry, zone, name, rdtype, rdatas):
        self.entry = entry
        self.zone = zone
        self.name = name
        self.rdtype = rdtype
        self.rdatas = rdatas
        self.ttl = entry.ttl
        self.state = entry.state
        self.exclusive = entry.exclusive

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
            "before": _as_dict(self.before),
            "after": _as_dict(self.after),
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
    """What :func:`converge` did: the record sets, the changes, and the messages it sent."""

    def __init__(self):
        self.rrsets = []
        self.changes = []
        self.zones = []
        self.updates_sent = 0
        self.queries_sent = 0
        self.retries = 0

    @property
    def changed(self):
        return bool(self.changes)


def normalise(client, entries, zone=None):
    """Entries → :class:`Wanted`, each with its zone (given, or found from the SOA)."""
    require_dns()
    zone_name = None
    if zone:
        try:
            zone_name = dns.name.from_text(zone.strip())
        except Exception as exc:  # noqa: BLE001
            raise DcosError(f"zone: {zone!r} is not a valid DNS name ({exc})") from None
    cache = {}
    wanted = []
    for entry in entries:
        if entry.type not in TYPES:
            raise DcosError(f"{entry.where('type')}: {entry.type} is not one of {', '.join(TYPES)}")
        if entry.state not in ("present", "absent"):
            raise DcosError(f"{entry.where('state')}: {entry.state} is not present or absent")
        if entry.ttl is not None and not 0 <= int(entry.ttl) <= 2147483647:
            raise DcosError(f"{entry.where('ttl')}: {entry.ttl} is outside 0..2147483647")
        if entry.state == "present" and not entry.value:
            raise DcosError(f"{entry.where('value')}: at least one value is required with state=present")
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
        wanted.append(Wanted(entry, entry_zone, name, rdtype, rdatas))
    return wanted


def plan(wanted, current):
    """Apply the wanted entries in order to the record sets read; returns ``{key: (before, after)}``."""
    state = dict(current)
    for item in wanted:
        state[item.key] = apply_entry(state.get(item.key), item)
    return state


def read_all(client, wanted):
    """Read each record set of ``wanted`` once; ``{(name, rdtype): RecordSet | None}``."""
    current = {}
    for item in wanted:
        if item.key not in current:
            current[item.key] = read_rrset(client, item.zone, item.name, item.rdtype)
    return current


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


def send_changes(client, changes):
    """Send ``changes`` grouped per zone in as few UPDATE messages as fit; returns messages sent.

    Each message is atomic on the server. When a message fails, the messages before it stay
    applied; the error lists the record sets of the failed message, and ``applied`` says how many
    record sets went in before it.
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
    return sent


def converge(client, entries, zone=None, check_mode=False, verify=True, retries=0):
    """Make the server hold the wanted records; returns a :class:`Result`.

    ``entries`` are :class:`Entry` objects (applied in order, so two entries may touch the same
    record set). In check mode only queries are sent. ``retries`` is how many times a batch that
    lost a race (:class:`DnsConflict`) is re-read and re-sent; the module keeps 0 and fails, the
    discovery daemon, which owns its records, may retry.
    """
    result = Result()
    start_queries = client.queries
    start_updates = client.updates
    wanted = normalise(client, entries, zone)
    zones = []
    for item in wanted:
        if item.zone not in zones:
            zones.append(item.zone)
    if zone:
        for zone_name in zones:
            check_zone(client, zone_name)
    result.zones = [z.to_text() for z in zones]
    attempt = 0
    while True:
        current = read_all(client, wanted)
        target = plan(wanted, current)
        changes = []
        rrsets = []
        last = {}
        for item in wanted:
            last[item.key] = item
        for key in _ordered_keys(wanted):
            item = last[key]
            change = Change(item.zone, key[0], key[1], current[key], target[key])
            rrsets.append(change.as_dict(item.state))
            if change.changed:
                changes.append(change)
        result.rrsets = rrsets
        result.changes = changes
        if check_mode or not changes:
            break
        try:
            send_changes(client, changes)
        except DnsConflict:
            result.updates_sent = client.updates - start_updates
            if attempt >= retries:
                raise
            attempt += 1
            result.retries = attempt
            continue
        break
    if verify and changes and not check_mode:
        _verify(client, changes)
    result.updates_sent = client.updates - start_updates
    result.queries_sent = client.queries - start_queries
    return result


def _ordered_keys(wanted):
    seen = []
    known = set()
    for item in wanted:
        if item.key not in known:
            known.add(item.key)
            seen.append(item.key)
    return seen


def _verify(client, changes):
    wrong = []
    for change in changes:
        now = read_rrset(client, change.zone, change.name, change.rdtype)
        if now != change.after:
            wrong.append((change, now))
    if wrong:
        parts = [f"{c.label} is {_as_dict(now)}, not {_as_dict(c.after)}" for c, now in wrong[:5]]
        raise DcosError(
            "the server accepted the update but did not apply all of it: "
            + "; ".join(parts)
            + " (BIND ignores a CNAME next to other records and the deletion of the last NS records of a zone apex)",
            record_sets=[change.label for change, _now in wrong],
        )
