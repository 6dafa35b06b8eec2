"""Context-manager support for objects that own a native resource and can close it."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closeable:
    """`with obj:` closes `obj` on the way out; `close()` must be safe to call twice."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
