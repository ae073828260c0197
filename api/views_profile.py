""""Your API token": the logged-in user creates, replaces or revokes the
token that authenticates their API clients (``Authorization: Token <key>``).

The key is shown once, in the response to its creation (never again on the
page); administrators see and revoke every token in the Django admin
(``rest_framework.authtoken`` registers it). Login is required (the project's
``LoginRequiredMiddleware``); a user without a study role gets no token.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views import View
from rest_framework.authtoken.models import Token

from accounts.scoping import access_for


class TokenView(View):
    template_name = "api/token.html"

    def dispatch(self, request, *args, **kwargs):
        if not access_for(request.user).roles:
            raise PermissionDenied("Only study staff hold API tokens.")
        return super().dispatch(request, *args, **kwargs)

    def render(self, request, key=None):
        token = Token.objects.filter(user=request.user).first()
        response = render(request, self.template_name, {"token": token, "key": key, "title": "Your API token"})
        add_never_cache_headers(response)
        return response

    def get(self, request):
        return self.render(request)

    def post(self, request):
        action = request.POST.get("action")
        if action == "create":
            with transaction.atomic():
                Token.objects.filter(user=request.user).delete()
                token = Token.objects.create(user=request.user)
            return self.render(request, key=token.key)
        if action == "revoke":
            deleted, _ = Token.objects.filter(user=request.user).delete()
            messages.success(request, "Token revoked: clients using it are refused from now on."
                             if deleted else "You had no token.")
        return redirect("api:token")
