from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("", views.IncidentListView.as_view(), name="list"),
    path("export.csv", views.IncidentExportView.as_view(), name="export"),
    path("new/", views.IncidentCreateView.as_view(), name="create"),
    path("<int:pk>/", views.IncidentDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.IncidentEditView.as_view(), name="edit"),
    path("<int:pk>/comments/", views.CommentCreateView.as_view(), name="comment"),
    path("<int:pk>/attachments/<int:attachment_pk>/", views.AttachmentDownloadView.as_view(), name="attachment"),
    path("<int:pk>/attachments/<int:attachment_pk>/remove/", views.AttachmentRemoveView.as_view(),
         name="attachment_remove"),
    path("<int:pk>/acknowledge/", views.IncidentAcknowledgeView.as_view(), name="acknowledge"),
    path("acknowledge/<str:token>/", views.AcknowledgeLinkView.as_view(), name="acknowledge-link"),
    path("<int:pk>/take/", views.IncidentTakeView.as_view(), name="take"),
    path("<int:pk>/actions/<slug:name>/", views.IncidentTransitionView.as_view(), name="transition"),
]
