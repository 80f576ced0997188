"""Streamlit-side helpers of the dashboard (pages stay thin; all model logic lives in mae_core).

state     - every control mirrored in st.query_params (shareable URLs), remembered across pages
resources - cached checkpoints (st.cache_resource, keyed by path + sha256) and cached results (st.cache_data)
limits    - the hosted-demo guards: the concurrent-inference queue (positions, estimates), memory estimate and budget
pickers   - the shared sidebar controls (checkpoint, image, geometry, presets)
render    - panels, PNG encoding, figures, downloads (slide-ready: title, checkpoint, image, values), the error boundary
presets   - one-click recipes: the trained models of the embedded family, and the papers' geometries
receptive - mean attention distance against uniform attention, and the gradient effective receptive field
quotes    - quoted claims beside their charts (paper words and third-party summaries told apart)
lesson    - the Lesson page's precomputed data and step figures (no torch on its first paint)
views     - what a page draws from a result (PNGs, figures), built once per result and shared (st.cache_resource)
progress  - the spinner and the queue notice around a computation
warmup    - import and warm everything once per process, before any page code runs (the cold-start race)
serve     - `python -m ui.serve`: streamlit run app.py, warmed up before it listens
"""
