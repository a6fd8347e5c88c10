"""The `/reports/` dashboard: server-rendered HTML with inline SVG charts, for people who hold
`reports.view` (admins and auditors by default) in a facility.

Sign-in is a Django session (`/reports/login/`), separate from the API's bearer tokens and
under the same lockout as `/api/auth/token/`; the facility is chosen among the user's
memberships that grant `reports.view` (`?facility=<id>`, remembered in the session), the
period with `?from=&to=`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from hm_core.common import rls
from hm_core.common.client_ip import client_ip
from hm_core.common.errors import HmError
from hm_core.common.scope import Principal, RequestContext, Scope, scope_active
from hm_core.iam import limits
from hm_core.iam.selectors import facility_code, memberships_of, principal_in_facility
from hm_core.reports import charts, selectors
from hm_core.reports.charts import Bar
from hm_core.reports.schemas import MAX_DAYS

PERMISSION = "reports.view"
SESSION_FACILITY = "reports_facility"  # the facility last shown, until another is chosen


class DashboardLogin(auth_views.LoginView):
    """Username and password, counted against the sign-in lockout like the token endpoint."""

    template_name = "reports/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username, ip = request.POST.get("username", ""), client_ip(request)
        try:
            limits.login_refuse_when_locked(username=username, ip=ip)
        except HmError as exc:
            form = self.get_form()
            form.errors.clear()
            context = self.get_context_data(form=form, locked=exc.message)
            return self.render_to_response(context, status=exc.status)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            limits.login_succeeded(username=username)
        else:
            limits.login_failed(username=username, ip=ip)
        return response


@dataclass(frozen=True)
class FacilityChoice:
    tenant_id: uuid.UUID
    facility_id: uuid.UUID
    code: str
    principal: Principal


@login_required(login_url="reports:login")
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """OPD volume per day, lab turnaround per test and revenue by payer, for one facility."""
    choices = _facilities(request)
    if not choices:
        return render(request, "reports/forbidden.html", status=403)
    wanted = request.GET.get("facility") or request.session.get(SESSION_FACILITY)
    chosen = next((c for c in choices if str(c.facility_id) == wanted), choices[0])
    request.session[SESSION_FACILITY] = str(chosen.facility_id)
    first, last, problem = _dates(request)
    scope = Scope(
        tenant_id=chosen.tenant_id,
        facility_id=chosen.facility_id,
        principal=chosen.principal,
        context=RequestContext(request_id=request.headers.get("X-Request-ID")),
    )
    with scope_active(scope):
        period = selectors.report_period(scope=scope, first=first, last=last)
        context = _charts(scope, period)
    context |= {"choices": choices, "chosen": chosen, "period": period, "problem": problem}
    return render(request, "reports/dashboard.html", context)


def _facilities(request: HttpRequest) -> list[FacilityChoice]:
    """The user's facilities whose membership grants `reports.view`.

    The page is not behind `ScopeAuth`: the request runs with no tenant (PostgreSQL RLS), so
    each membership's principal and facility are read inside that membership's tenant."""
    found = []
    for m in memberships_of(request.user):  # type: ignore[arg-type]
        with rls.tenant(m.tenant_id):
            principal = principal_in_facility(
                user=request.user,  # type: ignore[arg-type]
                tenant_id=m.tenant_id,
                facility_id=m.facility_id,
            )
            if principal is None or not principal.may(PERMISSION):
                continue
            code = facility_code(tenant_id=m.tenant_id, facility_id=m.facility_id)
        found.append(FacilityChoice(m.tenant_id, m.facility_id, code, principal))
    return found


def _dates(request: HttpRequest) -> tuple[date | None, date | None, str]:
    """`?from=&to=` as dates; anything unusable falls back to the last 30 days, said aloud."""
    try:
        first = date.fromisoformat(request.GET["from"]) if request.GET.get("from") else None
        last = date.fromisoformat(request.GET["to"]) if request.GET.get("to") else None
    except ValueError:
        return None, None, "Dates are YYYY-MM-DD; showing the last 30 days."
    if first and last and (first > last or (last - first).days >= MAX_DAYS):
        return None, None, f"A period runs forward and covers at most {MAX_DAYS} days."
    return first, last, ""


def _charts(scope: Scope, period: selectors.Period) -> dict[str, Any]:
    opd = selectors.opd_report(scope=scope, period=period, group_by="day")
    lab = selectors.lab_turnaround_report(scope=scope, period=period)
    revenue = selectors.revenue_report(scope=scope, period=period, group_by="payer")
    return {
        "opd": opd,
        "lab": lab,
        "revenue": revenue,
        "opd_chart": charts.column_chart(
            "chart-opd",
            "OPD encounters per day",
            [Bar(row["day"], row["encounters"], "opd") for row in opd["rows"]],
        ),
        "lab_chart": charts.bar_rows(
            "chart-lab",
            "Lab turnaround per test (minutes)",
            [
                (row["service_code"], _lab_bars(row))
                for row in lab["rows"]
                if row["median_minutes"] is not None
            ],
        ),
        "revenue_chart": charts.bar_rows(
            "chart-revenue",
            "Revenue by payer",
            [
                (f"{row['payer'][:8]} {row['currency']}", _revenue_bars(row))
                for row in revenue["rows"]
            ],
        ),
        "lab_legend": charts.legend([("median", "median"), ("p90", "90th percentile")]),
        "revenue_legend": charts.legend([("billed", "billed"), ("paid", "paid")]),
    }


def _lab_bars(row: dict[str, Any]) -> list[Bar]:
    return [Bar("median", row["median_minutes"], "median"), Bar("p90", row["p90_minutes"], "p90")]


def _revenue_bars(row: dict[str, Any]) -> list[Bar]:
    return [Bar("billed", float(row["billed"]), "billed"), Bar("paid", float(row["paid"]), "paid")]
