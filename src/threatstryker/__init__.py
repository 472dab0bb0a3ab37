"""ThreatStryker: hunts hidden threats in production platforms and ranks them by risk of exploit."""

__version__ = "0.1.0"
