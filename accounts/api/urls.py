from django.urls import path

from accounts.api import views

urlpatterns = [
    path("token", views.TokenObtainApi.as_view(), name="api-auth-token"),
]
