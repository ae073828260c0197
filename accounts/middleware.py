import zoneinfo

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
