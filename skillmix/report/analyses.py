"""Sections of the report computed by other analysis commands: the report shows their rows, never recomputes.

The grader-agreement summary is plugged in here and only here: when `skillmix.agreement` provides
`agreement_rows(paths)` (a list of JSON-ready dicts), the report gets an "Grader agreement" section with
those rows as a table; without it the section is left out. A message the analysis raises as `InputError`
(for example: the records hold only one grader) is shown in the section instead of its table.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from skillmix.errors import InputError

logger = logging.getLogger(__name__)

AGREEMENT_MODULE, AGREEMENT_FUNCTION = "skillmix.agreement", "agreement_rows"


def agreement_rows_function() -> Callable[[Sequence[Path]], list[dict[str, Any]]] | None:
    """`skillmix.agreement.agreement_rows` when that analysis exists, else None."""
    try:
        module = importlib.import_module(AGREEMENT_MODULE)
    except ModuleNotFoundError as error:
        if error.name != AGREEMENT_MODULE:
            raise  # the module is there but one of its own imports is missing: a real error
        return None
    return getattr(module, AGREEMENT_FUNCTION, None)


def agreement_section(paths: Sequence[Path]) -> dict[str, Any] | None:
    """{"rows": [...]} or {"rows": [], "note": why there are none}; None when the analysis does not exist."""
    function = agreement_rows_function()
    if function is None:
        return None
    try:
        return {"rows": function(list(paths)), "note": None}
    except InputError as error:
        logger.info("grader agreement left out of the report: %s", error)
        return {"rows": [], "note": str(error)}
