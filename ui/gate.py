"""Optional shared-password gate for a hosted team demo.

Set `[auth] password = "..."` in .streamlit/secrets.toml (gitignored) to require it; with no secret there is no
gate. The comparison is constant-time (hmac.compare_digest). This keeps casual visitors out of a team demo; it is
not user management (use st.login with an OIDC provider for that).
"""
from __future__ import annotations

import hmac

import streamlit as st

_OK = "_gate_ok"


def configured_password() -> str | None:
    try:
        auth = st.secrets.get("auth")
    except Exception:  # no secrets.toml at all (FileNotFoundError / StreamlitSecretNotFoundError)
        return None
    if not auth:
        return None
    pw = auth.get("password") if hasattr(auth, "get") else None
    return str(pw) if pw else None


def passed(password: str | None = None) -> bool:
    """True when there is no gate or this session has given the password (draws nothing)."""
    expected = configured_password() if password is None else password
    return not expected or bool(st.session_state.get(_OK))


def check(password: str | None = None) -> bool:
    """True when the session may see the app; otherwise draws the password form and returns False."""
    expected = configured_password() if password is None else password
    if not expected or st.session_state.get(_OK):
        return True
    st.title("Long-sequence MAE explorer")
    with st.form("gate"):
        given = st.text_input("Team password", type="password", key="gate_password")
        sent = st.form_submit_button("Enter")
    if sent:
        if hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            st.session_state[_OK] = True
            st.session_state.pop("gate_password", None)
            st.rerun()
        st.error("Wrong password.")
    return False
