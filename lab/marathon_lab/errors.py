# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors that become HTTP answers, with Marathon's status codes and bodies."""

from __future__ import annotations


class ApiError(Exception):
    """An answer other than success: ``status`` and the JSON ``body`` Marathon would send."""

    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"message": message}
        self.body.update(extra)


class ValidationFailed(ApiError):
    """422 ``Object is not valid`` with ``details[{path, errors}]``."""

    def __init__(self, details, message="Object is not valid"):
        super().__init__(422, message, details=details)


def invalid(path, error):
    return ValidationFailed([{"path": path, "errors": [error]}])


def app_not_found(app_id, version=None):
    if version:
        return ApiError(404, f"App '{app_id}' does not exist in version {version}")
    return ApiError(404, f"App '{app_id}' does not exist")


def app_locked(deployment_ids):
    ids = sorted(deployment_ids)
    return ApiError(
        409,
        "App is locked by one or more deployments. Override with the option '?force=true'. "
        "View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
        deployments=[{"id": i} for i in ids],
    )


def group_not_found(group_id):
    return ApiError(404, f"Group '{group_id}' does not exist")
