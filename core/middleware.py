"""Cross-cutting HTTP behaviour: the Content Security Policy header and a
clear answer when the database connection is lost mid-request."""

import logging

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


class ContentSecurityPolicyMiddleware:
    """Send ``settings.CONTENT_SECURITY_POLICY`` on every response that has none.

    The policy allows scripts and styles from this server only: templates
    carry no inline script or ``on...=`` handler.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


class DatabaseUnavailableMiddleware:
    """Answer 503 with a plain message when the database connection drops.

    Writes run in a transaction (``record_save``, ``cycle_save``), so a
    connection lost in the middle rolls back on the server: nothing partial is
    stored, and the page says so. Other database errors are left to Django
    (a 500, logged).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.error("Database unavailable during %s %s: %s", request.method, request.path, exception)
        # Drop the broken connection so the next request opens a new one.
        try:
            connection.close()
        except DatabaseError:
            pass
        if request.path.startswith("/api/"):
            from django.http import JsonResponse

            return JsonResponse(
                {"detail": "The database is unavailable; nothing was saved. Try again shortly.",
                 "code": "database_unavailable", "errors": {}},
                status=503, headers={"Retry-After": "5"})
        # Rendered without the request: its context processors would query the database.
        response = HttpResponse(render_to_string("core/database_unavailable.html"), status=503)
        response["Retry-After"] = "5"
        return response
