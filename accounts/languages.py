"""The language a person sees (issue 16): their stored choice, else the browser's.

- ``Profile.language`` is the choice, set on the profile page or by the navbar's
  switch; login copies it into the session (no query per request afterwards).
- :class:`accounts.middleware.UserLanguageMiddleware` activates the session's
  language, else Django's choice from the language cookie or Accept-Language.
- Messages sent to someone who is not making the request (e-mails, PDF casebooks
  made by the worker) use :func:`language_of` for that person, under
  ``translation.override``.
- Exports, the API's values and the audit trail's stored values never depend on
  the language: they are written with :func:`neutral` (the source language) where a
  label could leak in.
"""

from contextlib import contextmanager

from django.conf import settings
from django.utils import translation

#: Session key: the user's chosen language (set at login and by the switch).
SESSION_KEY = "_language"
#: The language of the source strings, of exports and of stored values.
SOURCE_LANGUAGE = "en"
#: Paths answered in the source language whatever the user's choice: the REST API.
NEUTRAL_PATHS = ("/api/v1/",)


def supported(code):
    """The supported language for ``code`` ("fr-FR" -> "fr"), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def stored_choice(user):
    """The user's stored language ("" when none), one query at most."""
    from .models import Profile

    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    cached = getattr(user, "_language_choice", None)
    if cached is None:
        if "profile" in user._state.fields_cache:  # select_related("profile"): no query
            profile = user._state.fields_cache["profile"]
            cached = profile.language if profile is not None else ""
        else:
            cached = Profile.objects.filter(user=user).values_list("language", flat=True).first() or ""
        user._language_choice = cached
    return cached


def language_of(user):
    """The language to write to ``user`` in when they are not asking (e-mail, PDF):
    their choice, else the study's default."""
    return supported(stored_choice(user)) or settings.LANGUAGE_CODE


def remember(request, code):
    """Put the language in the session (the middleware reads it from there)."""
    session = getattr(request, "session", None)
    if session is None:
        return
    if code:
        session[SESSION_KEY] = code
    else:
        session.pop(SESSION_KEY, None)


def choose(user, code):
    """Store ``user``'s language choice ("" for the browser's); returns the Profile."""
    from .models import Profile

    profile, created = Profile.objects.get_or_create(user=user, defaults={"language": code})
    if not created and profile.language != code:
        profile.language = code
        profile.save(update_fields=["language"])
    user._language_choice = code
    return profile


@contextmanager
def neutral():
    """Exports, API values and stored values: always in the source language."""
    with translation.override(SOURCE_LANGUAGE):
        yield


def neutral_iter(iterable):
    """``iterable``'s items, each computed under :func:`neutral` (the source language),
    whatever language is active between items: for streamed exports, whose generators run
    after the view returned. The override is held only while the producer runs, never
    across a ``yield`` (the consumer's own language is untouched between items)."""
    iterator = iter(iterable)
    while True:
        with neutral():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item
