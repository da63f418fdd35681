"""Who is looking: sign-in through Streamlit's own OpenID Connect (`st.login` / `st.user`),
the access file's grant for the signed-in identity, and the local-only mode without sign-in.

Sign-in is configured by an `[auth]` section in Streamlit's secrets (`.streamlit/secrets.toml`,
README "Sign-in and access"); the access file (`$AGENTOPS_ACCESS_FILE`, ingestion/access.py)
says who sees which tenants and pages. Without `[auth]` the dashboard is for local use: it
shows every tenant, says so in a banner, and shows nothing when it listens on an address other
than the loopback (unless started with `agentops-wh dashboard --insecure-allow-remote`).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from ingestion import access
from ingestion.access import (
    EVERYTHING,
    INSECURE_REMOTE_ENV,
    AccessFileError,
    AccessPolicy,
    Grant,
    is_loopback,
)

_RETURN_KEY = "agentops-return-to"
_EXPIRES_KEY = "_agentops_session_expires"  # epoch seconds; absent: local use

# Before sign-in: remember the link this tab opened (a trace, an alert's budget), because
# Streamlit returns to the app's home after the provider. sessionStorage is per tab and
# survives the round trip through the provider.
_REMEMBER_JS = f"""<script>
sessionStorage.setItem({json.dumps(_RETURN_KEY)}, location.pathname + location.search);
</script>"""
# After sign-in: go back to it, if it is a path of this site.
_RETURN_JS = f"""<script>
(() => {{
  const to = sessionStorage.getItem({json.dumps(_RETURN_KEY)});
  sessionStorage.removeItem({json.dumps(_RETURN_KEY)});
  const here = location.pathname + location.search;
  if (to && to.startsWith("/") && !to.startsWith("//") && to !== here) location.replace(to);
}})()
</script>"""


def signin_configured() -> bool:
    """True when Streamlit's secrets have an `[auth]` section (sign-in is on)."""
    secrets = st.secrets
    return bool(secrets.load_if_toml_exists() and "auth" in secrets)


def _policy() -> AccessPolicy:
    path = access.access_file()
    if path is None:
        raise AccessFileError(
            f"Sign-in is configured but ${access.ACCESS_FILE_ENV} is not set: nobody can be "
            'given access. Point it at an access file (README, "Sign-in and access").'
        )
    return _load(str(path), _mtime(path))


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_resource(show_spinner=False, max_entries=4)
def _load(path: str, mtime: int) -> AccessPolicy:
    """The access file as of `mtime` (an edit is read on the next page view)."""
    return access.load(path)


def _refuse(message: str) -> None:
    st.title("AgentOps Warehouse")
    st.error(message, icon=":material/block:")
    st.stop()


def _signin_page(title: str, text: str) -> None:
    st.title("AgentOps Warehouse")
    st.subheader(title)
    st.write(text)
    st.html(_REMEMBER_JS, unsafe_allow_javascript=True)
    if st.button("Sign in", type="primary", icon=":material/login:"):
        st.login()
    st.stop()


def _signed_in_age(claims: dict) -> float | None:
    """Seconds since the identity was issued (`iat`), or None when the token has no `iat`."""
    issued = claims.get("iat")
    if not isinstance(issued, int | float):
        return None
    return datetime.now(UTC).timestamp() - float(issued)


def session_over() -> bool:
    """True once the signed-in session is older than the access file allows."""
    expires = st.session_state.get(_EXPIRES_KEY)
    return expires is not None and datetime.now(UTC).timestamp() > expires


def local_mode() -> Grant:
    """No sign-in: every tenant, a banner that says so, and nothing on a shared address."""
    st.session_state.pop(_EXPIRES_KEY, None)
    address = st.get_option("server.address")
    insecure = os.environ.get(INSECURE_REMOTE_ENV) == "1"
    if not is_loopback(address) and not insecure:
        _refuse(
            f"This dashboard has no sign-in configured and listens on "
            f"`{address or 'every address'}`, so it shows nothing. Without sign-in it is for "
            "local use: start it with `agentops-wh dashboard` (127.0.0.1), or configure "
            'sign-in (README, "Sign-in and access"). `--insecure-allow-remote` shares it '
            "without sign-in."
        )
    if insecure and not is_loopback(address):
        st.warning(
            f"**No sign-in:** anyone who can reach `{address or 'this server'}` sees every "
            "tenant (started with `--insecure-allow-remote`).",
            icon=":material/lock_open:",
        )
    else:
        st.info(
            "**Local use:** no sign-in is configured, so this dashboard listens on 127.0.0.1 "
            'only and shows every tenant. To share it, configure sign-in (README, "Sign-in '
            'and access").',
            icon=":material/computer:",
        )
    return EVERYTHING


def viewer() -> Grant:
    """The current viewer's grant; renders the sign-in, expired or no-access page and stops
    the run when there is nothing to show."""
    if not signin_configured():
        return local_mode()
    try:
        policy = _policy()
    except AccessFileError as exc:
        _refuse(f"The dashboard cannot decide who may see what: {exc}")
    user = st.user
    if not user.is_logged_in:
        _signin_page(
            "Sign in",
            "This dashboard shows the agent runs, spend, budgets and policy decisions of the "
            "tenants you may see. Sign in with your organisation's account to continue.",
        )
    claims = user.to_dict()
    age = _signed_in_age(claims)
    max_age = policy.session_max_age
    if age is None or age > max_age.total_seconds():
        _signin_page(
            "Sign in again",
            f"Sessions last at most {_duration(max_age)}, and yours is older (or its identity "
            "has no issue time).",
        )
    # A page left open refreshes its body in a fragment, without this check: it reruns the
    # whole app once the session is over (ui.refreshing).
    st.session_state[_EXPIRES_KEY] = float(claims["iat"]) + max_age.total_seconds()
    grant = policy.grant(claims)
    who = claims.get("email") or claims.get("name") or claims.get("sub") or "this account"
    if grant is None or grant.sees_nothing:
        st.title("AgentOps Warehouse")
        st.subheader("No access")
        st.write(
            f"You are signed in as `{who}`, but the access file gives this "
            "account no tenant. Ask whoever runs the dashboard to add a rule for your e-mail or "
            "one of your groups."
        )
        if st.button("Sign out", icon=":material/logout:"):
            st.logout()
        st.stop()
    st.html(_RETURN_JS, unsafe_allow_javascript=True)
    sb = st.sidebar
    tenants = "every tenant" if grant.tenants is None else ", ".join(sorted(grant.tenants))
    sb.caption(f"Signed in as **{who}** · sees {tenants}")
    if sb.button("Sign out", icon=":material/logout:"):
        st.logout()
    return grant


def foreign_tenant(grant: Grant) -> str | None:
    """The tenant a link names (`?tenant=`) that the viewer may not see, if it names one.

    Such a link (a run, trace, budget or alert of another tenant) must show "not found", and
    not fall back to the viewer's own data under the other tenant's ids.
    """
    linked = st.query_params.get("tenant")
    if linked and grant.tenants is not None and linked not in grant.tenants:
        return linked
    return None


def _duration(value) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} day(s)"
    if minutes % 60 == 0:
        return f"{minutes // 60} hour(s)"
    return f"{minutes} minute(s)"
