import time
import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.shortcuts import resolve_url
from django.utils import timezone

from .scoping import access_for


class SiteTimezoneMiddleware:
    """Show times in the zone of the user's site when they belong to one site.

    Study-wide users and users of several sites see the study's zone
    (``TIME_ZONE``). Everything is stored in UTC.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        access = access_for(getattr(request, "user", None))
        if access.time_zone:
            timezone.activate(zoneinfo.ZoneInfo(access.time_zone))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


LAST_ACTIVITY_KEY = "last_activity"
# The session is rewritten at most this often, not on every request.
ACTIVITY_REFRESH_SECONDS = 60


def mark_activity(session, now=None):
    session[LAST_ACTIVITY_KEY] = int(now if now is not None else time.time())


class IdleTimeoutMiddleware:
    """Sign a user out after ``SESSION_IDLE_TIMEOUT`` seconds without a request.

    The last activity is kept in the (database) session, so every app server
    sees it; it is rewritten at most once a minute. An expired session is
    flushed and the user is sent to the login page with a message (the API's
    token clients are not affected: they have no session).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is not None and session is not None and user.is_authenticated \
                and session.session_key is not None:
            now = time.time()
            last = session.get(LAST_ACTIVITY_KEY)
            idle = settings.SESSION_IDLE_TIMEOUT
            if last is not None and now - last > idle:
                logout(request)
                messages.warning(
                    request,
                    f"You were signed out after {idle // 60} minutes without activity. "
                    "Log in again to continue; nothing you had saved is lost.")
                if request.path.startswith("/api/"):
                    from django.http import JsonResponse

                    return JsonResponse({"detail": "Your session expired; log in again.",
                                         "code": "session_expired", "errors": {}}, status=403)
                return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))
            if last is None or now - last > ACTIVITY_REFRESH_SECONDS:
                mark_activity(session, now)
        return self.get_response(request)


@receiver(user_logged_in)
def _start_activity_clock(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        mark_activity(request.session)
