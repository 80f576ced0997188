"""The long-sequence MAE explorer: `streamlit run app.py`.

This file is the router and frame (st.navigation + st.Page); pages live in app_pages/, shared UI helpers in ui/,
and all model logic in mae_core/ (importable without Streamlit).
"""
from pathlib import Path

import streamlit as st

from ui import gate, pages, state, warmup

# The tab icon ships with the app (inlined as a data: URL): a Material icon here would be fetched from a font CDN.
ICON = Path(__file__).parent / "assets" / "icon.svg"
st.set_page_config(page_title="Long-sequence MAE explorer", page_icon=str(ICON), layout="wide")

# URL paths come from the file names (/reconstruction, /sequence_grid, ...): a link opens that page directly.
PAGES = [st.Page(p.file, title=p.title, icon=p.icon, default=p.default) for p in pages.PAGES]  # ui/pages.py
# The page is resolved before the gate, so a shared link keeps its page and its settings (nothing touches the query
# parameters before the page runs) through the password form; the menu stays hidden until the password is given.
page = st.navigation(PAGES, position="sidebar" if gate.passed() else "hidden")
# A fresh server process imports and warms everything once, before any page code runs (ui/warmup.py says why);
# sessions arriving meanwhile wait here. `python -m ui.serve` does it before the server accepts connections.
models = warmup.needs_models(page)
if not warmup.is_warm(models):
    with st.spinner("Starting up: loading the libraries and models, once per server..."):
        warmup.ensure(models)
if not gate.check():
    st.stop()
state.begin()
page.run()
state.end()  # not reached after st.stop(): the URL then simply keeps its parameters
st.sidebar.divider()
st.sidebar.caption(":material/link: Every setting on this page is in its URL: copy the address to share this exact "
                   "view (uploaded files excepted).")
