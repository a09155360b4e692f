"""The one rule for errors while a series is fitted or retrained: what is expected is recorded
for that series (and the others go on), a bug is not.

Expected: figures a model cannot use (``ValueError``: too short, unsuitable, invalid; numpy's
``LinAlgError``), numbers that overflow (``ArithmeticError``), the disk or the network
(``OSError``: a full disk, a timeout), the figure store and the tracking server. Anything else
(``TypeError``, ``AttributeError``, ``KeyError``...) is a bug in fraudcast: it is logged with
its traceback and recorded as an internal error so one series cannot stop a night's retrain,
and raised instead where ``FRAUDCAST_STRICT_ERRORS`` is set, as the tests set it, so a bug
inside a model fails a test rather than becoming a note on a model card.
"""

from __future__ import annotations

import logging
import os
import sys

from data.errors import FraudcastDataError

log = logging.getLogger(__name__)

#: Set (to anything) to raise bugs instead of recording them (the test suite sets it).
STRICT_ENV = "FRAUDCAST_STRICT_ERRORS"

_ALWAYS_EXPECTED: tuple[type[BaseException], ...] = (
    ValueError,
    ArithmeticError,
    OSError,
    FraudcastDataError,
)
#: Errors of libraries that are expected once the library is in use (an error of a library
#: that was never imported cannot have been raised, so neither is imported here).
_LIBRARY_ERRORS = (("mlflow.exceptions", "MlflowException"), ("sqlalchemy.exc", "SQLAlchemyError"))


def is_expected(error: BaseException) -> bool:
    """Whether ``error`` is something a retrain expects to meet (see the module's doc)."""
    if isinstance(error, _ALWAYS_EXPECTED):
        return True
    for module, name in _LIBRARY_ERRORS:
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(error, getattr(loaded, name)):
            return True
    return False


def is_bug_to_raise(error: BaseException) -> bool:
    """Whether ``error`` is a bug and ``FRAUDCAST_STRICT_ERRORS`` is set (raise it, then)."""
    return bool(os.environ.get(STRICT_ENV)) and not is_expected(error)


def failure_reason(error: Exception, context: str) -> str:
    """The reason to record for a failure while ``context`` (e.g. "fitting jp_cases"): the
    error in one line when expected; for a bug, raised under ``FRAUDCAST_STRICT_ERRORS``, else
    logged with its traceback and recorded as an internal error."""
    if is_expected(error):
        return f"{type(error).__name__}: {error}"
    if is_bug_to_raise(error):
        raise error
    log.error("internal error while %s", context, exc_info=error)
    return f"internal error (a bug in fraudcast, please report it): {type(error).__name__}: {error}"
