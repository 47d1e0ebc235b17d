"""rrr: sample several candidate programs, run them, and pick the best with a learned reranker."""

__version__ = "0.1.0"
