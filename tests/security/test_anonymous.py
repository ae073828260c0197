"""Every route of the URLconf, requested without logging in, is guarded.

The route list comes from the resolver (``conftest.all_routes``), so a view
added without protection fails here. Expected answers:

- a page: a redirect to the login page;
- ``/admin/``: a redirect to a login page;
- ``/api/v1/``: 401 or 403 (never a redirect: API clients are programs);
- the only routes open to anyone are listed in ``PUBLIC`` with the reason.
"""

import pytest

from .conftest import all_routes, outcome, route_url

pytestmark = pytest.mark.django_db

#: Routes answered without a login, and why. Anything else must refuse.
PUBLIC = {
    "accounts:login": "the login page",
    "admin:login": "the admin's login page (it only offers to log in)",
    "healthz": "the load balancers' liveness probe: 'ok' or 503, nothing else",
    "favicon": "the site's icon, which browsers ask for on their own (a redirect to the static file)",
    "javascript-catalog": "the scripts' translations of one language (the login page's scripts need them; no data)",
    "accounts:set_language": "the language switch, on the login page too (it only sets the language cookie)",
    "oversight:calendar_feed": "a user's calendar feed: the secret token in its address is the credential "
                               "(an unknown or revoked one is a 404)",
}

#: Under /api/v1/ but HTML pages for a browser: they redirect to the login page.
API_HTML_PAGES = {"api:docs", "api:redoc"}


def test_the_walk_finds_every_area_of_the_site():
    routes = all_routes()
    keys = {r.key for r in routes}
    assert len(routes) > 150, len(routes)  # admin included: about 220 today
    for area in ("patients:", "visits:", "safety:", "exchange:", "oversight:", "admin:", "api:"):
        assert sum(k.startswith(area) for k in keys) >= 2, area
    for name in ("api:schema", "api:docs", "api:redoc", "exchange:export_download", "oversight:audit_export",
                 "oversight:ae_listing_export", "admin:index", "api:api-patients-detail",
                 "accounts:password_change", "accounts:security", "accounts:two_factor_verify",
                 "accounts:two_factor_setup", "accounts:two_factor_remove"):
        assert name in keys, name
    assert set(PUBLIC) <= keys, set(PUBLIC) - keys


def anonymous_problems(client, world):
    """Every route, GET and POST, without a session: what answered wrongly."""
    problems, checked = [], 0
    for route in all_routes():
        url = route_url(route, world)
        for method in ("GET", "POST"):
            response = client.generic(method, url)
            checked += 1
            got = outcome(response)
            if route.key in PUBLIC:
                if got in ("5xx", "login"):
                    problems.append(f"{method} {url} ({route.key}): public route answered {response.status_code}")
                continue
            if route.is_api and route.key not in API_HTML_PAGES:
                ok = response.status_code in (401, 403)
            else:
                ok = got == "login"
            if not ok:
                problems.append(f"{method} {url} ({route.key}): {response.status_code} "
                                f"{response.get('Location', '')}")
    return problems, checked


@pytest.mark.req("URS-ACC-001")
def test_no_route_answers_an_anonymous_visitor(client, world_a):
    problems, checked = anonymous_problems(client, world_a)
    assert checked > 300
    assert not problems, "Routes open to an anonymous visitor:\n" + "\n".join(problems)


@pytest.mark.urls("tests.security.leaky_urls")
@pytest.mark.req("URS-ACC-001")
def test_the_walk_catches_an_unguarded_view(client, world_a):
    """The test above is not vacuous: add an open page and an open API view, it fails."""
    problems, _ = anonymous_problems(client, world_a)
    assert any("(leak)" in p for p in problems), problems
    assert any("(api-leak)" in p for p in problems), problems


def test_public_routes_give_nothing_away(client, world_a):
    assert client.get("/healthz/").content == b"ok"
    # An unknown API path is a 401 like a real one: no way to probe which paths exist.
    response = client.get("/api/v1/patients-but-not-quite/")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert client.get("/api/v1/patients/").status_code == 401
    response = client.get("/accounts/login/")
    assert response.status_code == 200 and world_a.patient.subject_id.encode() not in response.content


def test_the_api_says_401_with_a_token_challenge(client, world_a):
    response = client.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert client.get("/api/v1/schema/").status_code == 401
    assert client.get("/api/v1/docs/").status_code == 302  # HTML for a browser: the login page
