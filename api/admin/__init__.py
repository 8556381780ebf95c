"""Balrog's admin API (v1 and v2) on FastAPI: one module per resource."""
