"""The precision control: one sidebar choice (auto | fp32 | tf32 | bf16) beside the checkpoint settings, mirrored in
the URL as ``precision``; its default is the server's MAE_PRECISION (auto when unset). Every result records the
precision it was computed in (mae_core.precision.resolve_precision: auto is fp32 on a CPU)."""
from __future__ import annotations

import streamlit as st

from mae_core.errors import MAEError
from mae_core.precision import PRECISIONS, precision_from_env, resolve_precision

from . import state
from .state import Param

KEY = "precision"
LABELS = {"auto": "auto (tf32 on a GPU, fp32 on a CPU)", "fp32": "fp32", "tf32": "tf32 (GPU tensor cores)", "bf16": "bf16"}


def env_problem() -> str | None:
    """The one-line error for a bad MAE_PRECISION, or None."""
    try:
        precision_from_env()
    except MAEError as e:
        return str(e)
    return None


def param() -> Param:
    """The control's Param; its default is MAE_PRECISION (auto when unset or not valid: pick() says so)."""
    return Param(KEY, str, "auto" if env_problem() else precision_from_env(), choices=PRECISIONS)


def device_of(model):
    return next(model.parameters()).device


def pick(model) -> str:
    """Draw the control in the sidebar (once per run) and return the resolved precision for ``model``'s device."""
    p = param()
    state.init([p])
    st.sidebar.selectbox("Precision", PRECISIONS, key=KEY, format_func=LABELS.get,
                         help="The precision of the model's linear layers. auto: tf32 on a GPU, fp32 on a CPU. "
                              "Softmax, maps, distances, rollout and reconstruction errors are always float32. "
                              "Results say which precision they were computed in.")
    state.publish([p])
    problem = env_problem()
    if problem:  # the operator's setting is wrong: say so where the control is, and run in the chosen precision
        st.sidebar.warning(f"{problem}; the default here is auto.", icon=":material/warning:")
    resolved = resolve_precision(st.session_state[KEY], device_of(model))
    if resolved != st.session_state[KEY]:
        st.sidebar.caption(f"Runs in {resolved} on {device_of(model).type}.")
    return resolved


def current(model) -> str:
    """The resolved precision of this session's choice (for a second checkpoint on the same page)."""
    choice = st.session_state.get(KEY) or param().default
    return resolve_precision(choice, device_of(model))
