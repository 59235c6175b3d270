"""Symbol tables (``phones.txt``, ``words.txt``): OpenFst's text format, one ``symbol id`` per line.

Kaldi's ``data/lang`` keeps ``<eps>`` at 0 and disambiguation symbols (``#0``,
``#1``, ...) in both tables. A symbol or an id that appears twice, a line that
is not ``symbol id``, or a negative id is an error naming the file and line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from blasr.utils.errors import MissingKeyError


@dataclass
class SymbolTable:
    """A bijection between symbols and non-negative integer ids, in file order."""

    ids: dict[str, int] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        self._symbols: dict[int, str] = {}
        for symbol, index in self.ids.items():
            self._check(symbol, index)
            self._symbols[index] = symbol

    def _check(self, symbol: str, index: int) -> None:
        where = f"{self.name}: " if self.name else ""
        if not symbol or any(c.isspace() for c in symbol):
            raise ValueError(f"{where}symbol {symbol!r} is empty or holds whitespace")
        if index < 0:
            raise ValueError(f"{where}symbol {symbol!r} has negative id {index}")
        if index in self._symbols and self._symbols[index] != symbol:
            raise ValueError(f"{where}id {index} is given to both {self._symbols[index]!r} and {symbol!r}")

    @classmethod
    def from_symbols(cls, symbols: Iterable[str], start: int = 0, name: str = "") -> "SymbolTable":
        """Consecutive ids from ``start`` in the given order (a duplicate symbol is an error)."""
        ids: dict[str, int] = {}
        for symbol in symbols:
            if symbol in ids:
                raise ValueError(f"{name + ': ' if name else ''}symbol {symbol!r} appears twice")
            ids[symbol] = start + len(ids)
        return cls(ids, name)

    def add(self, symbol: str, index: int | None = None) -> int:
        """Add a symbol (id: ``index``, or one past the largest); returns its id."""
        if symbol in self.ids:
            if index is not None and index != self.ids[symbol]:
                raise ValueError(f"symbol {symbol!r} already has id {self.ids[symbol]}, not {index}")
            return self.ids[symbol]
        index = self.next_id if index is None else index
        self._check(symbol, index)
        self.ids[symbol] = index
        self._symbols[index] = symbol
        return index

    @property
    def next_id(self) -> int:
        return max(self._symbols, default=-1) + 1

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item: object) -> bool:
        return item in self.ids if isinstance(item, str) else item in self._symbols

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self.ids.items())

    def id(self, symbol: str) -> int:
        try:
            return self.ids[symbol]
        except KeyError:
            raise MissingKeyError(f"{self.name + ': ' if self.name else ''}no symbol {symbol!r}") from None

    def symbol(self, index: int) -> str:
        try:
            return self._symbols[int(index)]
        except KeyError:
            raise MissingKeyError(f"{self.name + ': ' if self.name else ''}no id {index}") from None

    def to_ids(self, symbols: Iterable[str]) -> list[int]:
        return [self.id(s) for s in symbols]

    def to_symbols(self, ids: Iterable[int]) -> list[str]:
        return [self.symbol(i) for i in ids]

    def disambiguation_ids(self) -> list[int]:
        """Ids of the disambiguation symbols ``#0``, ``#1``, ... (Kaldi's ``phones/disambig.int``)."""
        return [i for s, i in self.ids.items() if s.startswith("#") and s[1:].isdigit()]

    def to_text(self) -> str:
        return "".join(f"{symbol} {index}\n" for symbol, index in self.ids.items())

    def as_dict(self) -> Mapping[str, int]:
        return dict(self.ids)


def read_symbol_table(path: str | os.PathLike) -> SymbolTable:
    """A text symbol table (``symbol id`` per line; blank lines are skipped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    table = SymbolTable(name=str(path))
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(f"{path}:{number}: expected 'symbol id', found {line.strip()!r}")
        symbol, index = fields
        try:
            value = int(index)
        except ValueError:
            raise ValueError(f"{path}:{number}: id {index!r} of {symbol!r} is not an integer") from None
        if symbol in table.ids:
            raise ValueError(f"{path}:{number}: symbol {symbol!r} appears twice (first with id {table.ids[symbol]})")
        try:
            table.add(symbol, value)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {str(error).removeprefix(str(path) + ': ')}") from None
    return table


def write_symbol_table(table: SymbolTable, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.write_text(table.to_text(), encoding="utf-8")
    return path
