"""Secret detection: rule files (``ruleset``) and gitleaks configs (``gitleaks``) compiled into one engine
(``engine``: Hyperscan candidates from ``multipattern``, exact extraction, ``entropy``, ``allowlist``,
bounded ``decode``), the scanner that feeds it files, and baselines.

The package imports nothing eagerly, so importing one module does not load Hyperscan.
"""
