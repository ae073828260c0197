import time
import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.shortcuts import resolve_url
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from . import languages
from .scoping import access_for


class UserLanguageMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware, with the user's own choice first.

    The choice (``accounts.Profile.language``) is copied into the session at login
    and by the language switch, so no request queries for it; without one, Django
    decides from the language cookie, then the browser's Accept-Language. No URL
    carries a language prefix. Placed after the authentication middleware (it reads
    the session); the response says ``Content-Language`` and varies on
    ``Accept-Language`` (LocaleMiddleware.process_response).
    """

    def __call__(self, request):
        try:
            return super().__call__(request)
        finally:
            # The thread goes back to the default language: nothing rendered after this request
            # (a streamed export's rows, the next test) inherits the user's language.
            translation.deactivate()

    def process_request(self, request):
        if request.path.startswith(languages.NEUTRAL_PATHS):
            # The REST API is a machine interface: its values, labels and messages are
            # language-neutral (the source language), whoever calls it.
            translation.activate(languages.SOURCE_LANGUAGE)
            request.LANGUAGE_CODE = languages.SOURCE_LANGUAGE
            return
        session = getattr(request, "session", None)
        code = languages.supported(session.get(languages.SESSION_KEY)) if session is not None else None
        if code is None:
            code = translation.get_language_from_request(request, check_path=False)
        translation.activate(code)
        request.LANGUAGE_CODE = translation.get_language()


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
                    _("You were signed out after %(minutes)s minutes without activity. "
                      "Log in again to continue; nothing you had saved is lost.") % {"minutes": idle // 60})
                if request.path.startswith("/api/"):
                    from django.http import JsonResponse

                    return JsonResponse({"detail": "Your session expired; log in again.",
                                         "code": "session_expired", "errors": {}}, status=403)
                return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))
            if last is None or now - last > ACTIVITY_REFRESH_SECONDS:
                mark_activity(session, now)
        return self.get_response(request)


#: Session key: the client address the session was opened from (a lock from one
#: address ends the user's sessions opened from it, ``accounts.services``).
LOGIN_ADDRESS_KEY = "login_address"


@receiver(user_logged_in)
def _start_activity_clock(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        from oversight.models import client_ip

        mark_activity(request.session)
        request.session[LOGIN_ADDRESS_KEY] = client_ip(request)
        # The user's language for the whole session (read here once, not per request).
        languages.remember(request, languages.supported(languages.stored_choice(user)))


def _json_refusal(detail, code):
    from django.http import JsonResponse

    return JsonResponse({"detail": detail, "code": code, "errors": {}}, status=403)


class AccountSecurityMiddleware:
    """The steps a signed-in session must finish before any page.

    1. Two-factor authentication (:mod:`accounts.two_factor`): a session whose
       code is still due (or whose role requires an authenticator it has not
       set up) reaches only that step's page and logout; the API answers a JSON
       403 ``two_factor_required`` to such a session (token clients have no
       session: their token was created after the second step).
    2. Password age (:mod:`accounts.passwords`): with ``PASSWORD_MAX_AGE_DAYS``
       set and exceeded, every page sends the user to the password change page
       with a message; the API answers a JSON 403 ``password_expired``.

    Both read only the session (written at login): no query per request.
    Static files and ``/healthz/`` are never held back.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is not None and session is not None and user.is_authenticated \
                and not self._always_open(request.path):
            refusal = self._refusal(request, session)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    @staticmethod
    def _always_open(path):
        from django.urls import reverse

        return path.startswith(settings.STATIC_URL) or path in (reverse("healthz"),
                                                                reverse("accounts:logout"))

    def _refusal(self, request, session):
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode

        from . import passwords, two_factor

        # The API answers programs in JSON; a browser (the token page, the API docs) is redirected.
        is_api = request.path.startswith("/api/") and "text/html" not in request.headers.get("Accept", "")
        step = two_factor.pending(session)
        if step:
            page = reverse("accounts:two_factor_verify" if step == two_factor.VERIFY
                           else "accounts:two_factor_setup")
            if request.path == page:
                return None
            if is_api:
                return _json_refusal("Enter your two-factor code on the web pages first.",
                                     "two_factor_required")
            if request.method == "GET":
                page += "?" + urlencode({"next": request.get_full_path()})
            return redirect(page)
        if passwords.password_expired(session):
            page = reverse("accounts:password_change")
            if request.path == page:
                return None
            if is_api:
                return _json_refusal("Your password has expired; change it on the web pages.",
                                     "password_expired")
            messages.warning(request, _("Your password is more than %(days)s days old: choose a new one to "
                                        "continue.") % {"days": settings.PASSWORD_MAX_AGE_DAYS})
            return redirect(page)
        return None
