# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change record every module reports through: find the differences first, write after.

A module compares what the user asked for with what exists and records, *before* writing
anything, each difference (:meth:`ChangeRecord.difference`) and each step the write will take
(:meth:`ChangeRecord.step`). In check mode it stops there. Otherwise it takes the steps, and
marks each one :meth:`ChangeRecord.done` as soon as it has been written, so that the record
always holds what was actually applied.

Two results come out of it, and nothing else decides ``changed`` or ``actions``:

* :meth:`ChangeRecord.result` on success: ``changed`` when anything differed, ``actions`` the
  steps, and ``diff`` (before/after of what the user manages) only when the user ran with
  ``--diff``.
* :meth:`ChangeRecord.failure` on a failure (used by ``_errors.fail_from``): ``changed`` only
  when a step was written before the failure, and ``actions`` the steps that were.
"""

from __future__ import annotations

import copy


class ChangeRecord:
    """Differences between the current and the wanted state, and the steps taken to apply them."""

    def __init__(self, check_mode=False, diff_mode=False):
        self.check_mode = check_mode
        self.diff_mode = diff_mode
        self._before = {}
        self._after = {}
        self.steps = []
        self.applied = []

    def difference(self, key, before, after):
        """Note ``key`` going from ``before`` to ``after``; returns False (and notes nothing) when equal."""
        if before == after:
            return False
        self._before[key] = copy.deepcopy(before)
        self._after[key] = copy.deepcopy(after)
        return True

    def step(self, text):
        """Note a step the write will take (``create network oak-net``), in order."""
        self.steps.append(text)

    def done(self, text):
        """Mark a step as written: call it right after the write succeeded."""
        self.applied.append(text)

    @property
    def changed(self):
        return bool(self._before or self._after or self.steps)

    @property
    def changed_keys(self):
        return sorted(set(self._before) | set(self._after))

    def diff(self):
        """Before/after of the keys that differ."""
        return {"before": dict(self._before), "after": dict(self._after)}

    def result(self, **extra):
        """The keys every module returns on success; ``extra`` adds module-specific ones."""
        result = {"changed": self.changed, "actions": list(self.steps)}
        if self.diff_mode:
            result["diff"] = self.diff()
        result.update(extra)
        return result

    def failure(self):
        """The ``changed``/``actions`` of a failed run: only what was written before it failed."""
        return {"changed": bool(self.applied), "actions": list(self.applied)}
