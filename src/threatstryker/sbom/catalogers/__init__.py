"""One module per ecosystem; each defines ``CATALOGER``, a Cataloger declaring the paths it reads."""

from __future__ import annotations

import importlib
import pkgutil

from threatstryker.sbom.cataloger import Cataloger


def all_catalogers() -> list[Cataloger]:
    """Every cataloger of this package, OS package catalogers first, then by name."""
    found: list[Cataloger] = []
    for mod in pkgutil.iter_modules(__path__):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        cat = getattr(module, "CATALOGER", None)
        if isinstance(cat, Cataloger):
            found.append(cat)
    return sorted(found, key=lambda c: (not c.os_packages, c.name))


def select_catalogers(names: list[str] | None) -> list[Cataloger]:
    """The catalogers named (all when ``names`` is empty); unknown names raise ValueError."""
    cats = all_catalogers()
    if not names:
        return cats
    known = {c.name: c for c in cats}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown cataloger(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [known[n] for n in names]
