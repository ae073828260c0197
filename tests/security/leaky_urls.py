"""The project's URLconf plus two views someone forgot to guard (for
test_anonymous.test_the_walk_catches_an_unguarded_view)."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ivigtrial.urls import urlpatterns as project_urlpatterns


@login_not_required
def leak(request):
    return HttpResponse("every patient")


class LeakyApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"patients": []})


urlpatterns = [
    path("leak/", leak, name="leak"),
    path("api/v1/leak/", login_not_required(LeakyApi.as_view()), name="api-leak"),
    *project_urlpatterns,
]
