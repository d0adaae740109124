"""The product's URLs plus the floor: the cheapest page a signed-in user can get."""
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


@login_required
def floor(request: HttpRequest) -> HttpResponse:
    """Reads only the signed-in user (session, user, second factor): the framework's own cost per request."""
    return HttpResponse(f"Signed in as {request.user.get_username()}", content_type="text/plain")


urlpatterns = [
    path("bench/floor/", floor, name="bench_floor"),
    path("", include("incident_tracker.urls")),
]
