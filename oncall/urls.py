from django.urls import path

from . import views

app_name = "oncall"

urlpatterns = [
    path("", views.MyOnCallView.as_view(), name="mine"),
    path("swaps/<int:pk>/<str:answer>/", views.SwapAnswerView.as_view(), name="swap-answer"),
    path("channel/", views.PageChannelView.as_view(), name="page-channel"),
    path("calendar/rotate/", views.CalendarRotateView.as_view(), name="calendar-rotate"),
    path("calendar/<str:secret>.ics", views.CalendarFeedView.as_view(), name="calendar"),
]
