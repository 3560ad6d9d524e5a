# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small helpers shared by the lab: Marathon's timestamps, IDs and JSON files."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone

_LAST_TS = [0]
_TS_LOCK = threading.Lock()


def now_ms():
    """Milliseconds since the epoch, strictly increasing within this process.

    Marathon versions are timestamps; two changes in the same millisecond must still get two
    different versions, so a clash moves the clock one millisecond on.
    """
    with _TS_LOCK:
        value = int(time.time() * 1000)
        if value <= _LAST_TS[0]:
            value = _LAST_TS[0] + 1
        _LAST_TS[0] = value
        return value


def ts_from_ms(ms):
    """Marathon's format: ``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`` in UTC, milliseconds never truncated."""
    moment = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def timestamp():
    """A fresh, unique Marathon timestamp."""
    return ts_from_ms(now_ms())


def parse_ts(text):
    """Parse any ISO-8601 timestamp to milliseconds; ``None`` when it is not one."""
    if not isinstance(text, str):
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000))


def canonical_ts(text):
    """Normalise an ISO-8601 input to Marathon's format, or ``None``."""
    ms = parse_ts(text)
    return None if ms is None else ts_from_ms(ms)


def new_uuid():
    return str(uuid.uuid4())


def write_json_atomic(path, data):
    """Write ``data`` as JSON to ``path`` with an atomic replace (never a half-written file)."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default
