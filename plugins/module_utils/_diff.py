# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan first, apply after: the change recorder every module reports through.

A module compares what the user asked for with what exists and records each difference in a
:class:`ChangePlan` *before* writing anything. In check mode it stops there; otherwise it applies
the plan. Either way ``plan.result()`` gives the same ``changed``/``diff``/``actions`` keys, so
every module in the collection reports a change the same way.
"""

from __future__ import annotations

import copy


class ChangePlan:
    """Differences between the current and the wanted state, keyed by what the user manages."""

    def __init__(self):
        self._before = {}
        self._after = {}
        self.actions = []

    def record(self, key, before, after):
        """Record ``key`` going from ``before`` to ``after`` (no-op when they are equal)."""
        if before == after:
            return False
        self._before[key] = copy.deepcopy(before)
        self._after[key] = copy.deepcopy(after)
        return True

    def action(self, text):
        """Record a step the apply phase takes (``create network oak-net``), in order."""
        self.actions.append(text)

    @property
    def changed(self):
        return bool(self._before or self._after or self.actions)

    @property
    def changed_keys(self):
        return sorted(set(self._before) | set(self._after))

    def diff(self):
        """The ``diff`` return value: before/after of the recorded keys only."""
        return {"before": dict(self._before), "after": dict(self._after)}

    def result(self, **extra):
        """The keys every module returns; ``extra`` adds module-specific ones."""
        result = {"changed": self.changed, "actions": list(self.actions), "diff": self.diff()}
        result.update(extra)
        return result
