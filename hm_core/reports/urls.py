"""`/reports/`: the dashboard and its session sign-in."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from hm_core.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.DashboardLogin.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="reports:login"), name="logout"),
]
