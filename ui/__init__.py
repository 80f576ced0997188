"""Streamlit-side helpers of the dashboard (pages stay thin; all model logic lives in mae_core).

state     - every control mirrored in st.query_params (shareable URLs), remembered across pages
resources - cached checkpoints (st.cache_resource, keyed by path + sha256) and cached results (st.cache_data)
limits    - the hosted-demo guards: concurrent-inference semaphore, memory estimate and budget
pickers   - the shared sidebar controls (checkpoint, image, geometry, presets)
render    - panels, PNG encoding, figures, downloads, the error boundary
"""
