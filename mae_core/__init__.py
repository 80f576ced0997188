"""mae_core: the engine of the long-sequence MAE explorer (no Streamlit here; usable from notebooks and the CLI)."""
__version__ = "0.1.0"
