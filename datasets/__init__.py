"""Pro-player logs: generation, the Parquet log format, import, validation, dataset cards.

This package is the project's own ``datasets`` (not Hugging Face's): it is used from the checkout
and never installed into site-packages, so both can live in one environment (see setup.cfg).
"""
