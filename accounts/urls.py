from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("login/code/", views.SignInCodeView.as_view(), name="login_code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("preferences/", views.PreferencesView.as_view(), name="preferences"),
    path("security/", views.SecurityView.as_view(), name="security"),
    path("security/enrol/", views.EnrolmentStartView.as_view(), name="enrol_start"),
    path("security/enrol/confirm/", views.EnrolmentConfirmView.as_view(), name="enrol_confirm"),
    path("security/enrol/link/", views.EnrolmentLinkRequestView.as_view(), name="enrol_link_request"),
    path("security/enrol/<str:token>/", views.EnrolmentLinkView.as_view(), name="enrol_link"),
    path("security/backup-codes/", views.BackupCodesRegenerateView.as_view(), name="backup_codes"),
    path("security/remove/", views.SecondFactorRemoveView.as_view(), name="otp_remove"),
    path("security/tokens/", views.ApiTokenCreateView.as_view(), name="api_token_create"),
    path("security/tokens/<int:pk>/revoke/", views.ApiTokenRevokeView.as_view(), name="api_token_revoke"),
    path("security/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/",
         auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
         name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("password-reset/done/",
         auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
         name="password_reset_complete"),
]
