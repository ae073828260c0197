"""OpenAPI 3 description of the API (drf-spectacular).

``ApiAutoSchema`` adds to every operation what the views do for all of them:
the error responses (one documented shape, ``Error``), the If-Match and
X-Change-Reason request headers of versioned writes, and the ETag response
header.
"""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

#: Actions that change an existing record and so need its version.
VERSIONED_ACTIONS = frozenset({"update", "partial_update", "void", "withdraw"})
#: Actions whose success response carries the record (and its ETag).
RECORD_ACTIONS = {"retrieve": "200", "create": "201", "update": "200", "partial_update": "200",
                  "void": "200", "withdraw": "200"}


class ErrorItemSerializer(serializers.Serializer):
    message = serializers.CharField(help_text=_("Human-readable; the same text the forms show."))
    code = serializers.CharField(help_text=_("Stable machine code, the same as the forms' "
                                           "(e.g. negative, dm_requires_rash, consent_after_enrolment, "
                                           "implausible_weight, required, locked, reason_required)."))


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    detail = serializers.CharField(help_text=_("Summary of the error."))
    code = serializers.CharField(help_text=_("invalid (400), not_authenticated (401), permission_denied "
                                           "(403), not_found (404), method_not_allowed (405), stale "
                                           "(409, 412), version_required (428), ..."))
    errors = serializers.DictField(
        child=serializers.ListField(child=ErrorItemSerializer()),
        help_text=_("400 only (empty otherwise): field -> errors. `non_field_errors` for the whole record; "
                  "nested input as dotted paths (`assessment.ck_u_per_l`, `infusions.1.dose_g`)."))


ERROR_DESCRIPTIONS = {
    "400": "Invalid input: field-level errors with the rules' messages and codes (also a missing "
           "reason for change, a lock, a voided entry, an invalid filter).",
    "401": "Not authenticated: send `Authorization: Token <key>` (or a session cookie).",
    "403": "Authenticated, but the role does not allow this (e.g. coordinators only read).",
    "404": "No such record within your sites (another site's record is a 404, not a 403), or no such page.",
    "409": "Conflict: the `version` in the body is not the stored one (someone saved in between). "
           "Nothing was changed.",
    "412": "Precondition failed: the If-Match version is not the stored one. Nothing was changed.",
    "428": "Precondition required: an update must send the version it started from "
           "(`version` in the body or If-Match).",
}

IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description='The ETag of the version you started from, e.g. `"3"`. Alternative to `version` '
                "in the body; a stale one gives 412 and changes nothing.")
CHANGE_REASON = OpenApiParameter(
    "X-Change-Reason", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Reason for change (alternative to `change_reason` in the body); UTF-8.")


def etag_header(code):
    return OpenApiParameter(
        "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[code],
        description='The record\'s version as an entity tag, e.g. `"3"`: send it back as If-Match.')


class ApiAutoSchema(AutoSchema):
    def _action(self):
        return getattr(self.view, "action", None)

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        action = self._action()
        if action in VERSIONED_ACTIONS:
            params.append(IF_MATCH)
        if action in ("update", "partial_update"):
            params.append(CHANGE_REASON)
        if action in RECORD_ACTIONS and getattr(self.view, "etag_records", True):
            params.append(etag_header(RECORD_ACTIONS[action]))
        return params

    def error_codes(self):
        action = self._action()
        codes = ["401", "403"]
        if self._is_list_view():
            codes += ["400", "404"]  # an invalid filter; a page beyond the last
        if "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("400")
        if action in VERSIONED_ACTIONS and getattr(self.view, "versioned", True):
            codes += ["409", "412", "428"]
        return sorted(set(codes))

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self.error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]), code,
                    direction=direction)
        return responses


# --- Input the API refuses or accepts beyond DRF's defaults ----------------------------------

class StrictDecimalFieldExtension(OpenApiSerializerFieldExtension):
    """A decimal in a request: a JSON string (as in the responses) or a JSON number
    (``api.serializers.StrictDecimalField``); responses keep the string."""

    target_class = "api.serializers.StrictDecimalField"

    def map_serializer_field(self, auto_schema, direction):
        string = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return string
        number = {"type": "number"}
        field = self.target
        if field.max_digits is not None and field.decimal_places is not None:
            whole = 10 ** (field.max_digits - field.decimal_places)
            step = Decimal(1).scaleb(-field.decimal_places)
            number.update({"minimum": float(-whole + step), "maximum": float(whole - step)})
        return {"oneOf": [string, number]}


def refuse_unknown_properties(result, generator, request, public):
    """Request bodies take their documented properties only (``additionalProperties:
    false``): any other key is a 400 naming it (``api.serializers.RefuseUnknownFields``)."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
