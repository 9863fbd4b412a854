"""A rich table that never cuts an id: at a narrow width its fields stack instead.

Wide, the table has one column a field. When that does not fit the width, the fields stack in
the table's ``narrow`` groups, one field a line within a cell, with a rule between rows. Either
way an id column is never wrapped or cut (its width is its longest id) and the other columns
fold into what is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.table import Table
from rich.text import Text

Groups = Sequence[Sequence[int]]


@dataclass(frozen=True)
class Field:
    """A column of a :class:`FittedTable`. An id's cell may hold several ids, one a line."""

    header: str
    is_id: bool = False
    numeric: bool = False


class FittedTable:
    """Rows of plain strings (never read as markup) under ``fields``, laid out to the width."""

    def __init__(
        self, title: str, fields: Sequence[Field], narrow: Groups, rows: Iterable[Sequence[str]]
    ) -> None:
        self.title = title
        self.fields = tuple(fields)
        self.narrow = tuple(tuple(group) for group in narrow)
        self.rows = [tuple(row) for row in rows]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = [(index,) for index in range(len(self.fields))]
        yield self.table(wide if self.width(wide) <= options.max_width else self.narrow)

    def width(self, groups: Groups) -> int:
        """How wide the table is in these groups with nothing folded."""
        return 1 + sum(3 + max(self._widest(index) for index in group) for group in groups)

    def table(self, groups: Groups) -> Table:
        depth = max(len(group) for group in groups)
        table = Table(title=self.title, show_lines=depth > 1)  # a rule between stacked rows
        for group in groups:
            fields = [self.fields[index] for index in group]
            lines = [field.header for field in fields] + [""] * (depth - len(fields))
            # each header on the line of its value; a header may wrap, even over an id
            header = Text("\n".join(lines), no_wrap=False)
            justify: JustifyMethod = "right" if all(f.numeric for f in fields) else "left"
            ids = [index for index in group if self.fields[index].is_id]
            if ids:
                widest = max(self._widest(index) for index in ids)
                table.add_column(
                    header,
                    justify=justify,
                    vertical="top",
                    no_wrap=True,
                    min_width=widest,
                    max_width=widest,
                )
            else:
                table.add_column(header, justify=justify, vertical="top", overflow="fold")
        for row in self.rows:
            table.add_row(*(Text("\n".join(row[index] for index in group)) for group in groups))
        return table

    def _widest(self, index: int) -> int:
        field = self.fields[index]
        headers = field.header.split() if field.is_id else [field.header]
        cells = [*headers, *(line for row in self.rows for line in row[index].split("\n"))]
        return max(cell_len(cell) for cell in cells)
