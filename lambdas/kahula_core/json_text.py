"""JSON text from a producer, parsed with every refusal as one error type and a reason.

``json.loads`` refuses hostile text in three ways, and only the first is a JSONDecodeError:
malformed text; an integer literal of more digits than Python converts (ValueError, the
``sys.int_info`` limit of 4,300 digits by default); nesting deeper than the interpreter's
recursion limit (RecursionError). A front door that caught only the first would treat the
other two as transient, retry the record until its source gives up, and lose the reason.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .errors import MalformedEventError


class UnparsableJsonError(MalformedEventError):
    """The text is not JSON this runtime can parse; the message says why and where."""


def parse_json(text: str | bytes) -> Any:
    """``json.loads(text)``, raising UnparsableJsonError with the reason for anything refused."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnparsableJsonError(f"{exc.msg} at {exc.pos}") from None
    except UnicodeDecodeError:
        raise UnparsableJsonError("the text is not valid UTF-8") from None
    except RecursionError:
        raise UnparsableJsonError("nested too deeply to parse") from None
    except ValueError:
        # The only other ValueError json.loads raises: an integer literal over the limit.
        raise UnparsableJsonError(
            f"an integer of more than {sys.get_int_max_str_digits()} digits"
        ) from None
