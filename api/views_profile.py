""""Your API tokens": the logged-in user creates and revokes the tokens that
authenticate their API clients (``Authorization: Token <token>``).

A token is shown once, in the response to its creation; the database keeps
only its digest (django-rest-knox), and the page lists the user's tokens by
creation time and first characters. Nobody creates a token for somebody else;
an administrator may revoke any token in the Django admin. Each creation and
revocation is an access event. Login is required (the project's
``LoginRequiredMiddleware``); a user without a study role gets no token.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from accounts.scoping import access_for

from . import services


class TokenView(View):
    template_name = "api/token.html"

    def dispatch(self, request, *args, **kwargs):
        if not access_for(request.user).roles:
            raise PermissionDenied(_("Only study staff hold API tokens."))
        return super().dispatch(request, *args, **kwargs)

    def render(self, request, new_token=None, new_instance=None):
        tokens = [(t, services.token_prefix(t)) for t in services.tokens_of(request.user)]
        response = render(request, self.template_name, {
            "tokens": tokens, "new_token": new_token,
            "new_prefix": services.token_prefix(new_instance) if new_instance else "",
            "title": _("Your API tokens")})
        add_never_cache_headers(response)
        return response

    def get(self, request):
        return self.render(request)

    def post(self, request):
        action = request.POST.get("action")
        if action == "create":
            instance, token = services.token_create(user=request.user, request=request)
            return self.render(request, new_token=token, new_instance=instance)
        if action == "revoke":
            key = request.POST.get("token", "")
            token = services.tokens_of(request.user).filter(token_key=key).first() if key else None
            if token is None:
                messages.warning(request, _("No such token of yours: nothing was revoked."))
            else:
                services.token_revoke(token=token, by=request.user, request=request)
                messages.success(request, _("Token %(prefix)s… revoked: clients using it are refused from "
                                            "now on.") % {"prefix": services.token_prefix(token)})
        if action == "revoke_all":
            revoked = services.tokens_revoke_all(user=request.user, by=request.user, request=request)
            messages.success(request, ngettext("%(count)s token revoked.", "%(count)s tokens revoked.", revoked)
                             % {"count": revoked} if revoked else _("You had no token."))
        return redirect("api:token")
