# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The event bus behind ``/v2/events``: one bounded queue per subscriber.

Like Marathon 1.8+, a subscriber more than ``max_outstanding`` events behind is disconnected
rather than silently losing events.
"""

from __future__ import annotations

import contextlib
import queue
import threading

from .util import timestamp

CLOSED = object()


class Subscriber:
    def __init__(self, event_types, max_outstanding):
        self.event_types = set(event_types or ())
        self.queue = queue.Queue(maxsize=max_outstanding)
        self.closed = False

    def wants(self, event_type):
        return not self.event_types or event_type in self.event_types

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.queue.put_nowait(CLOSED)
            except queue.Full:
                # Make room for the close marker: the stream ends anyway.
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()
                self.queue.put_nowait(CLOSED)


class EventBus:
    def __init__(self, max_outstanding=1024):
        self.max_outstanding = max_outstanding
        self._subscribers = []
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self, event_types=None):
        subscriber = Subscriber(event_types, self.max_outstanding)
        with self._lock:
            self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber):
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
        subscriber.close()

    def count(self):
        with self._lock:
            return len(self._subscribers)

    def publish(self, event_type, **fields):
        """Send one event, stamped with ``eventType`` and ``timestamp``, to every subscriber."""
        event = dict(fields)
        event["eventType"] = event_type
        event["timestamp"] = timestamp()
        with self._lock:
            subscribers = list(self._subscribers)
            self.published += 1
        for subscriber in subscribers:
            if subscriber.closed or not subscriber.wants(event_type):
                continue
            try:
                subscriber.queue.put_nowait(event)
            except queue.Full:
                subscriber.close()
        return event

    def close_all(self):
        with self._lock:
            subscribers = list(self._subscribers)
            self._subscribers = []
        for subscriber in subscribers:
            subscriber.close()
