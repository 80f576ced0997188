"""Shareable state: every control is a session-state key mirrored in st.query_params.

Precedence when a control is first drawn in a run: the widget's own state > the value remembered from another
page of this session > the URL > the default. A URL value that does not parse or is out of range is ignored
with a visible notice (never an exception). After the controls are drawn, `publish()` rewrites the URL so
copying it reproduces the view.

A link made with `link_params()` (the Lesson's "open this in the full page") carries `link=1`: on that run its URL
values win over the session's own, so following it inside a session opens exactly the linked state too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import streamlit as st

_REMEMBER = "_remembered"
_NOTICES = "_url_notices"
_PUBLISHED = "_published_params"
_URL_WINS = "_url_wins"
_ANSWERED = "_input_answered"
LINK = "link"  # query parameter that marks a link whose values must win over the session's


@dataclass(frozen=True)
class Param:
    """One shareable control: session-state key == query-parameter name."""

    name: str
    kind: type  # int | float | str | bool
    default: Any = None
    choices: tuple | None = None
    lo: float | None = None
    hi: float | None = None
    step: float | None = None  # floats are snapped to this grid
    item: type | None = None  # kind=list: the type of each item (choices then apply to items)

    def parse(self, raw: str):
        """A URL string -> a valid value, or ValueError with a short reason."""
        raw = str(raw).strip()
        if self.kind is list:
            parts = [x.strip() for x in raw.split(",") if x.strip()]
            try:
                vals = [(self.item or str)(x) for x in parts]
            except ValueError:
                raise ValueError("not a comma-separated list of the right kind") from None
            return self.check(vals)
        if self.kind is bool:
            low = raw.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if self.kind is int:
            try:
                v = int(raw)
            except ValueError:
                raise ValueError("not a whole number") from None
        elif self.kind is float:
            try:
                v = float(raw)
            except ValueError:
                raise ValueError("not a number") from None
            if not math.isfinite(v):
                raise ValueError("not a finite number")
            if self.step:
                v = round(round(v / self.step) * self.step, 6)
        else:
            v = raw
        return self.check(v)

    def check(self, v):
        if self.kind is list:
            if not isinstance(v, (list, tuple)):
                raise ValueError("expected a list")
            bad = [x for x in v if self.choices is not None and x not in self.choices]
            if bad:
                raise ValueError(f"{bad[0]} is not one of {', '.join(str(c) for c in self.choices[:12])}")
            if len(set(v)) != len(v):
                raise ValueError("repeated items")
            return list(v)
        if self.choices is not None and v not in self.choices:
            shown = ", ".join(str(c) for c in self.choices[:12])
            raise ValueError(f"expected one of {shown}")
        if self.lo is not None and v < self.lo:
            raise ValueError(f"below the minimum {self.lo:g}")
        if self.hi is not None and v > self.hi:
            raise ValueError(f"above the maximum {self.hi:g}")
        return v

    def dump(self, v) -> str:
        if self.kind is list:
            return ",".join(str(x) for x in v)
        if self.kind is bool:
            return "true" if v else "false"
        if self.kind is float:
            return f"{float(v):g}"
        return str(v)


def remembered() -> dict:
    return st.session_state.setdefault(_REMEMBER, {})


def init(params, defaults: dict | None = None) -> None:
    """Seed st.session_state[param.name] for controls about to be drawn (see module docstring for precedence).

    defaults: per-run defaults that override Param.default (e.g. a checkpoint's native patch size)."""
    defaults = defaults or {}
    store = remembered()
    notices = st.session_state.setdefault(_NOTICES, [])
    for p in params:
        default = defaults.get(p.name, p.default)
        wins = st.session_state.get(_URL_WINS) or set()
        if p.name in wins and st.query_params.get(p.name) is not None:
            wins.discard(p.name)
            raw = st.query_params.get(p.name)
            try:
                st.session_state[p.name] = store[p.name] = p.parse(raw)
                continue
            except ValueError as e:
                notices.append(f"URL parameter `{p.name}={raw}` ignored ({e}).")
        if p.name in st.session_state:
            try:
                # re-assigning makes the value survive a page switch (a widget of the same key on another page
                # is a different widget; Streamlit would otherwise reset it to its default)
                st.session_state[p.name] = p.check(st.session_state[p.name])
                continue
            except (ValueError, TypeError):
                pass  # e.g. a remembered choice that is no longer offered
        if p.name in store:
            try:
                st.session_state[p.name] = p.check(store[p.name])
                continue
            except (ValueError, TypeError):
                pass
        raw = st.query_params.get(p.name)
        if raw is not None:
            try:
                st.session_state[p.name] = p.parse(raw)
                continue
            except ValueError as e:
                notices.append(f"URL parameter `{p.name}={raw}` ignored ({e}); using the default `{p.dump(default)}`.")
        st.session_state[p.name] = default


def set_value(name: str, value) -> None:
    """Set a control's value from code (presets, resets); takes effect when the widget is drawn next."""
    st.session_state[name] = value
    remembered()[name] = value


def begin() -> None:
    """Start of a run (called by app.py before the page): no control published yet, no input error reported yet
    (ui.pickers.report records this run's); a followed link's values (`link=1`) are marked to win over the
    session's (see init)."""
    st.session_state[_PUBLISHED] = {}
    st.session_state["_input_errors"] = []
    st.session_state[_NOTICES] = []  # a notice belongs to the run whose URL caused it, never to a later one
    st.session_state[_ANSWERED] = False
    if st.query_params.get(LINK) is not None:
        st.session_state[_URL_WINS] = {k for k in st.query_params.keys() if k != LINK}
        del st.query_params[LINK]
    else:
        st.session_state.pop(_URL_WINS, None)  # only the run that follows the link


def mark_answered() -> None:
    """An input control has already told the user, in the main area, what it still needs (e.g. "press Download"),
    so the page must not also ask them to choose (ui.pickers.require); reset at the start of every run."""
    st.session_state[_ANSWERED] = True


def answered() -> bool:
    return bool(st.session_state.get(_ANSWERED))


def add_notice(text: str) -> None:
    """A URL value that could not be used, shown by the page's next show_notices() in this run."""
    st.session_state.setdefault(_NOTICES, []).append(text)


def link_params(values: dict) -> dict:
    """Query parameters for st.page_link that open a page in exactly this state, also within a session that
    already has other values (the target's Params parse them as if typed in the URL)."""
    out = {}
    for k, v in values.items():
        if isinstance(v, (list, tuple)):
            out[k] = ",".join(str(x) for x in v)
        elif isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, float):
            out[k] = f"{v:g}"
        else:
            out[k] = str(v)
    out[LINK] = "1"
    return out


def publish(params) -> None:
    """Remember the drawn controls' values and write them to the URL."""
    store = remembered()
    run = st.session_state.setdefault(_PUBLISHED, {})
    for p in params:
        if p.name in st.session_state:
            v = st.session_state[p.name]
            store[p.name] = v
            run[p.name] = p.dump(v)
            if st.query_params.get(p.name) != run[p.name]:
                st.query_params[p.name] = run[p.name]


def publish_value(name: str, text: str) -> None:
    """Write a value the page computed (not a widget's, e.g. the painted mask) to the URL, kept by end()."""
    st.session_state.setdefault(_PUBLISHED, {})[name] = text
    if st.query_params.get(name) != text:
        st.query_params[name] = text


def end() -> None:
    """End of a run (app.py, after the page): drop URL parameters no control of this page used."""
    run = st.session_state.get(_PUBLISHED, {})
    for k in list(st.query_params.keys()):
        if k not in run:
            del st.query_params[k]


def show_notices() -> None:
    """Show (once) the notices about URL parameters that were ignored."""
    notices = st.session_state.get(_NOTICES) or []
    if notices:
        st.warning("Some settings in the link could not be used:\n\n" + "\n".join(f"- {n}" for n in notices))
        st.session_state[_NOTICES] = []
