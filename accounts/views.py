from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from oversight.models import AccessEvent, AccessKind

from . import languages, passwords, two_factor
from .forms import CodeForm, LanguageSwitchForm, LockoutAwarePasswordChangeForm, ProfileForm


@login_not_required
@never_cache
def healthz(request):
    """Liveness and readiness for load balancers: 200 "ok" when the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


# --- Password ---------------------------------------------------------------------------


class PasswordChangeView(auth_views.PasswordChangeView):
    """Self-service password change: the current password, then a new one that
    passes ``AUTH_PASSWORD_VALIDATORS``. The session stays signed in
    (``update_session_auth_hash``); other sessions of the user end. An access event."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:security")
    form_class = LockoutAwarePasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        response = super().form_valid(form)
        passwords.remember_password_age(self.request.session, passwords.password_set_at(self.request.user))
        AccessEvent.objects.record(kind=AccessKind.PASSWORD_CHANGED, request=self.request,
                                   user=self.request.user)
        messages.success(self.request, _("Your password has been changed."))
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["max_age_days"] = passwords.max_age_seconds() // 86400
        return context


# --- Two-factor authentication ---------------------------------------------------------------


def _next_url(request, default="home"):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return resolve_url(default)


@require_GET
@never_cache
def security(request):
    """The user's password and two-factor settings."""
    device = two_factor.confirmed_device(request.user)
    return render(request, "accounts/security.html", {
        "device": device,
        "required": two_factor.required_for(request.user),
        "form": CodeForm(),
        "max_age_days": passwords.max_age_seconds() // 86400,
    })


# --- Profile and language (issue 16) ----------------------------------------------------


def _set_language(request, response, code):
    """Use ``code`` from now on: the session (read by UserLanguageMiddleware), the
    cookie (kept after logout, so the login page stays in it), this response."""
    languages.remember(request, code)
    if code:
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, code, max_age=settings.LANGUAGE_COOKIE_AGE,
                            path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
                            secure=settings.LANGUAGE_COOKIE_SECURE or request.is_secure(),
                            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                            samesite=settings.LANGUAGE_COOKIE_SAMESITE)
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH,
                               domain=settings.LANGUAGE_COOKIE_DOMAIN)
    return response


@never_cache
def profile(request):
    """The user's profile: who they are, their roles, and the language of their
    screens, e-mails and PDF casebooks."""
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            code = form.cleaned_data["language"]
            languages.choose(request.user, code)
            chosen = languages.supported(code) or translation.get_language_from_request(request)
            translation.activate(chosen)
            messages.success(request, _("Your language is saved: %(language)s.") % {
                "language": dict(settings.LANGUAGES).get(code) or _("your browser's language")})
            return _set_language(request, redirect("accounts:profile"), code)
    else:
        form = ProfileForm(initial={"language": languages.stored_choice(request.user)})
    return render(request, "accounts/profile.html", {"form": form, "nav_section": "account"})


@login_not_required
@require_POST
def set_language(request):
    """The navbar's language switch (also on the login page). A signed-in user's
    choice is stored on their profile, so e-mails and PDFs follow it too."""
    form = LanguageSwitchForm(request.POST)
    next_url = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = resolve_url("home") if request.user.is_authenticated else resolve_url(settings.LOGIN_URL)
    if not form.is_valid():  # only a forged request: the switch offers the study's languages
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(problems, content_type="text/plain; charset=utf-8")
    code = form.cleaned_data["language"]
    if request.user.is_authenticated:
        languages.choose(request.user, code)
    return _set_language(request, redirect(next_url), code)


SETUP_DEVICE_KEY = "two_factor_setup_device"


@never_cache
def two_factor_setup(request):
    """Set up an authenticator: scan the QR code (or type the key), confirm
    with a code. Required after login when the user's role asks for it;
    open to anybody else from the security page."""
    user = request.user
    if two_factor.confirmed_device(user) is not None:
        messages.info(request, _("Two-factor authentication is already set up for your account."))
        return redirect("accounts:security")
    device = None
    device_id = request.session.get(SETUP_DEVICE_KEY)
    if device_id:
        device = two_factor.TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
    if device is None:
        device = two_factor.new_device(user)
        request.session[SETUP_DEVICE_KEY] = device.pk
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, info = device.verify_is_allowed()
        if not allowed:
            form.add_error("code", _wait_message(info))
        elif device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            request.session.pop(SETUP_DEVICE_KEY, None)
            two_factor.mark_verified(request, device)
            AccessEvent.objects.record(kind=AccessKind.TWO_FACTOR_ENABLED, request=request, user=user)
            messages.success(request, _("Two-factor authentication is set up: from now on you will be "
                                        "asked for a code after your password."))
            return redirect(_next_url(request, "accounts:security"))
        else:
            form.add_error("code", _("That code is not right. Check the time on your phone and enter "
                                     "the code it shows now."))
    return render(request, "accounts/two_factor_setup.html", {
        "form": form,
        "qr_code": two_factor.qr_code_data_uri(device),
        "secret": two_factor.secret_for_manual_entry(device),
        "otpauth_uri": device.config_url,
        "required": two_factor.pending(request.session) == two_factor.SETUP,
        "next": request.POST.get("next") or request.GET.get("next") or "",
    })


def _wait_message(info):
    until = (info or {}).get("locked_until")
    if until is not None:
        seconds = max(1, int((until - timezone.now()).total_seconds()) + 1)
        return ngettext("Too many wrong codes: wait %(seconds)s second and try again.",
                        "Too many wrong codes: wait %(seconds)s seconds and try again.", seconds) % {
            "seconds": seconds}
    return _("Too many wrong codes: wait a moment and try again.")


def _locked_out(request, username):
    logout(request)
    messages.error(request, _("The account %(username)s is locked after %(limit)s wrong codes or passwords. "
                              "Ask the study's administrator to unlock it.") % {
        "username": username, "limit": two_factor.failure_limit()})
    return redirect(settings.LOGIN_URL)


@never_cache
def two_factor_verify(request):
    """The code after the password, before any page."""
    user = request.user
    if two_factor.pending(request.session) != two_factor.VERIFY:
        return redirect(_next_url(request))
    device = two_factor.confirmed_device(user)
    if device is None:  # removed by an administrator meanwhile: decide again
        two_factor.start(request, user)
        return redirect(_next_url(request))
    username = user.get_username()
    if AxesProxyHandler.is_locked(request, {"username": username}):
        return _locked_out(request, username)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result, detail = two_factor.check_code(request, device, form.cleaned_data["code"])
        if result == two_factor.Result.OK:
            two_factor.mark_verified(request, detail)
            AccessEvent.objects.record(kind=AccessKind.TWO_FACTOR_VERIFIED, request=request, user=user)
            return redirect(_next_url(request))
        if result == two_factor.Result.LOCKED or getattr(request, "axes_locked_out", False):
            return _locked_out(request, username)
        if result == two_factor.Result.THROTTLED:
            form.add_error("code", _wait_message({"locked_until": detail}))
        else:
            form.add_error("code", _("That code is not right. Enter the code your authenticator app "
                                     "shows now."))
    return render(request, "accounts/two_factor_verify.html", {
        "form": form, "next": request.POST.get("next") or request.GET.get("next") or ""})


@require_POST
def two_factor_remove(request):
    """Remove one's own authenticator (a current code is needed); refused when
    one's role requires two-factor authentication."""
    user = request.user
    device = two_factor.confirmed_device(user)
    if device is None:
        messages.info(request, _("Two-factor authentication is not set up for your account."))
        return redirect("accounts:security")
    if two_factor.required_for(user):
        messages.error(request, _("Your role requires two-factor authentication: it cannot be removed. "
                                  "If you lost your phone, ask the study's administrator to reset it."))
        return redirect("accounts:security")
    form = CodeForm(request.POST)
    if form.is_valid():
        result, _detail = two_factor.check_code(request, device, form.cleaned_data["code"])
        if result == two_factor.Result.OK:
            two_factor.remove_devices(user)
            request.session.pop(two_factor.django_otp.DEVICE_ID_SESSION_KEY, None)
            AccessEvent.objects.record(kind=AccessKind.TWO_FACTOR_REMOVED, request=request, user=user,
                                       detail={"by": user.get_username()})
            messages.success(request, _("Two-factor authentication is removed from your account."))
            return redirect("accounts:security")
        if result == two_factor.Result.LOCKED or getattr(request, "axes_locked_out", False):
            return _locked_out(request, user.get_username())
        messages.error(request, _("That code is not right: two-factor authentication is still on.")
                       if result == two_factor.Result.WRONG else _wait_message({"locked_until": _detail}))
    else:
        messages.error(request, form.errors["code"][0])
    return redirect(reverse("accounts:security"))
