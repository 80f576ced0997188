"""The command lines of ``python -m mae_core <command>``: argument parsing and printing, one module per command, over
the library modules that do the work (mae_core.cli lists them)."""
