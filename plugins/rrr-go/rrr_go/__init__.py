"""rrr-go: the Go language for rrr.

The language is data: `go.toml` beside this file, found through the `rrr.languages` entry point `go`
that this package's pyproject.toml declares. There is no code to run here.
"""
