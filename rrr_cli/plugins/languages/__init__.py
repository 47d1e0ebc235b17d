"""rrr's built-in language definitions, one `<name>.toml` each (see `rrr_cli/execution/languages.py`).

Each is registered in rrr's `pyproject.toml` under the `rrr.languages` entry-point group, the same way a
plugin package registers its own language."""
