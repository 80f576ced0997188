"""Command-line commands that combine several library modules (``python -m mae_core <command>``)."""
