from django.urls import path

from accounts.api import views

urlpatterns = [
    path("token", views.TokenObtainApi.as_view(), name="api-auth-token"),
    path("password", views.PasswordChangeApi.as_view(), name="api-auth-password"),
    path("tokens", views.TokenListApi.as_view(), name="api-auth-tokens"),
    path("tokens/<str:token_id>", views.TokenRevokeApi.as_view(), name="api-auth-token-revoke"),
]
