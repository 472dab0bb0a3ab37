"""Posture and compliance: configuration checks as data (``posture/checks``), evaluated by typed probes
against a FileTree (and, on the live host, procfs), each with a status and the evidence behind it."""
