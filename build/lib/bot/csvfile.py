"""A CSV export as people really have them, read one row at a time.

Excel in Denmark saves "CSV" with semicolons in Windows-1252; Google Sheets and most CRMs
write commas in UTF-8, some with a byte-order mark; Excel's "Unicode text" is tab-separated
UTF-16. Headers come as `E-mail`, `Company Name`, `buying stage`. So the encoding is found by
reading the bytes, the delimiter by which one turns the header into columns Baton knows
(`csv.Sniffer` breaks a tie), and headers match without regard to case, spaces, `_` or `-`.

Every row keeps the physical line it starts on, so a message names the line an editor
shows. A quote left open makes the csv module read the following lines as part of one value;
such a row is named with the lines it swallowed instead of being imported as a strange lead.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bot.schemas import LeadIn

FIELDS = tuple(LeadIn.model_fields)
REQUIRED = tuple(name for name, info in LeadIn.model_fields.items() if info.is_required())
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
SAMPLE = 64 * 1024
SNIFFED_LINES = 20
LONGEST = 1_000_000  # bytes in one value: the intake API's whole body may be no more
_TOO_LONG = "field larger than field limit"
_SEPARATORS = re.compile(r"[\s_\-]+")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_WORKBOOK = b"PK\x03\x04"  # a zip file's first bytes: what .xlsx and .ods are


class CsvError(Exception):
    """The file cannot be imported at all; the message is one line that says why and what to do."""


class NothingToImport(CsvError):
    """The file is empty, or has a header and no rows: worth a warning, not a failure."""


@dataclass(frozen=True)
class Row:
    line: int
    """The physical line the row starts on, as an editor numbers it (the header is line 1)."""
    fields: dict[str, str]
    """The row's non-empty values by the intake field their column means."""
    problem: str | None = None
    """Why the row could not be read as one row; then `fields` is empty."""


@dataclass
class CsvFile:
    path: Path
    encoding: str
    delimiter: str
    columns: dict[int, str]
    """The position of each column Baton uses, and the intake field it means."""
    header: list[str]
    notes: list[str] = field(default_factory=list)
    size: int = 0
    _raw: BinaryIO | None = None

    @property
    def position(self) -> int:
        """Bytes read so far, for a progress bar over a file too large to count rows in first."""
        return self._raw.tell() if self._raw and not self._raw.closed else self.size

    def rows(self) -> Iterator[Row]:
        """The data rows, streamed: memory holds one row at a time, whatever the file's size."""
        with self.path.open("rb") as raw:
            self._raw = raw
            text = io.TextIOWrapper(raw, encoding=self.encoding, newline="")
            reader = csv.reader(text, delimiter=self.delimiter)
            width = len(self.header)
            try:
                next(reader)  # the header, read already
                while True:
                    start = reader.line_num + 1
                    try:
                        values = next(reader)
                    except StopIteration:
                        return
                    except csv.Error as error:
                        yield Row(start, {}, self._unreadable(error))
                        if _TOO_LONG in str(error):
                            return  # what follows is inside that quote: no rows to trust
                        continue
                    except UnicodeDecodeError:
                        raise CsvError(
                            f"{self.path.name}: line {start} is not {self.encoding} text; give "
                            f"the file's encoding with --encoding"
                        ) from None
                    if not any(value.strip() for value in values):
                        continue  # a blank line, or Excel's row of empty cells
                    yield self._row(start, reader.line_num, values, width)
            finally:
                self._raw = None

    def _row(self, start: int, end: int, values: list[str], width: int) -> Row:
        if end > start and self._swallowed(values, width):
            return Row(
                start,
                {},
                f"a quote opened on line {start} is not closed until line {end}, so lines "
                f"{start}–{end} were read as one row: close the quote (or double a quote "
                f'inside a value, "")',
            )
        extra = [value for value in values[width:] if value.strip()]
        if extra:
            name = DELIMITERS.get(self.delimiter, repr(self.delimiter))
            return Row(
                start,
                {},
                f"{len(values)} values where the header has {width} columns: is there a {name} "
                f"in a value that is not in quotes?",
            )
        fields = {}
        for position, name in self.columns.items():
            if position < len(values) and (value := values[position].strip()):
                fields[name] = value
        return Row(start, fields)

    def _swallowed(self, values: list[str], width: int) -> bool:
        """Whether a row that spans lines holds what looks like further rows of the file."""
        if len(values) != width:
            return True
        return any(
            line.count(self.delimiter) >= width - 1
            for value in values
            for line in value.splitlines()[1:]
        )

    def _unreadable(self, error: csv.Error) -> str:
        if _TOO_LONG in str(error):
            return (
                f"a value longer than {LONGEST:,} characters: is a quote opened on this line "
                f"and never closed? The rest of the file was not read"
            )
        return f"cannot be read as CSV: {error}"


def open_csv(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> CsvFile:
    """Find how `path` is written (encoding, delimiter, which column is which) from its bytes
    and its header; raise CsvError with one line when it cannot be imported at all."""
    csv.field_size_limit(LONGEST)
    try:
        size = path.stat().st_size
        with path.open("rb") as raw:
            start = raw.read(len(_WORKBOOK))
    except OSError as error:
        raise CsvError(f"cannot read {path}: {error.strerror or error}") from None
    if size == 0:
        raise NothingToImport(f"{path.name} is empty: nothing to import")
    if start == _WORKBOOK:
        raise CsvError(
            f'{path.name} is a workbook (.xlsx), not CSV: in Excel, Save As "CSV UTF-8" and '
            f"import that"
        )
    notes: list[str] = []
    chosen = _encoding(path, encoding, notes)
    with path.open("rb") as raw:
        sample = raw.read(SAMPLE).decode(chosen, errors="replace")
    if size > SAMPLE and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]  # whole lines only
    sample = sample.removeprefix("\ufeff")
    if not sample.strip():
        raise NothingToImport(f"{path.name} has no header and no rows: nothing to import")
    separator = _delimiter(sample, delimiter)
    header = next(csv.reader(io.StringIO(sample, newline=""), delimiter=separator))
    columns = _columns(path, header, notes)
    return CsvFile(path, chosen, separator, columns, header, notes, size)


def _encoding(path: Path, given: str | None, notes: list[str]) -> str:
    """UTF-8 (with or without a byte-order mark), UTF-16 with one, else Windows-1252: the
    first whose every line decodes. A given encoding is checked the same way."""
    if given:
        try:
            name = codecs.lookup(given).name
        except LookupError:
            raise CsvError(
                f'"{given}" is not an encoding Python knows: try utf-8, cp1252 or latin-1'
            ) from None
        bad = _first_bad_line(path, name)
        if bad:
            raise CsvError(f"{path.name}: line {bad} is not {given} text")
        return "utf-8-sig" if name == "utf-8" else name
    with path.open("rb") as raw:
        start = raw.read(4)
    if start.startswith(codecs.BOM_UTF8):
        bad = _first_bad_line(path, "utf-8")
        if bad:
            raise CsvError(
                f"{path.name} starts as UTF-8 but line {bad} is not: give its encoding with "
                f"--encoding"
            )
        return "utf-8-sig"
    if start.startswith(_UTF16_BOMS):
        return "utf-16"
    bad = _first_bad_line(path, "utf-8")
    if not bad:
        return "utf-8-sig"
    worse = _first_bad_line(path, "cp1252")
    if worse:
        raise CsvError(
            f"{path.name} is neither UTF-8 (line {bad}) nor Windows-1252 (line {worse}): give "
            f'its encoding with --encoding, or save it from Excel as "CSV UTF-8"'
        )
    notes.append(
        f"{path.name} is not UTF-8 (line {bad}), so it was read as Windows-1252 (cp1252), as "
        f"Excel saves CSV; --encoding chooses another"
    )
    return "cp1252"


def _first_bad_line(path: Path, encoding: str) -> int | None:
    """The first line that does not decode, reading line by line (never the whole file)."""
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return None  # lines are not split on a single byte; decoding errors show when read
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError:
                return number
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return number
    return None


def _delimiter(sample: str, given: str | None) -> str:
    if given is not None:
        named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}
        value = named.get(given.lower(), given)
        if len(value) != 1 or value in '"\r\n' or value.isalnum():
            raise CsvError(
                f'--delimiter "{given}" is not one character like , ; or tab that separates '
                f"the columns"
            )
        return value
    lines = sample.splitlines()
    try:  # a few lines are enough, and the Sniffer's patterns are slow on many
        head = "\n".join(lines[:SNIFFED_LINES])
        sniffed = csv.Sniffer().sniff(head, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = ","
    first = lines[0] if lines else ""

    def known(candidate: str) -> int:
        header = next(csv.reader([first], delimiter=candidate), [])
        return len({_field(name) for name in header} & set(FIELDS))

    return max(DELIMITERS, key=lambda candidate: (known(candidate), candidate == sniffed))


def _normal(name: str) -> str:
    return _SEPARATORS.sub("", name.strip().strip('"').removeprefix("\ufeff")).casefold()


_BY_NORMAL = {_normal(name): name for name in FIELDS}


def _field(name: str) -> str | None:
    return _BY_NORMAL.get(_normal(name))


def _columns(path: Path, header: list[str], notes: list[str]) -> dict[int, str]:
    columns: dict[int, str] = {}
    seen: dict[str, str] = {}
    unknown = []
    for position, name in enumerate(header):
        meant = _field(name)
        if meant is None:
            if name.strip():
                unknown.append(name.strip())
            continue
        if meant in seen:
            raise CsvError(
                f'{path.name}: the columns "{seen[meant]}" and "{name}" both mean {meant}: keep one'
            )
        seen[meant] = name
        columns[position] = meant
    missing = [name for name in REQUIRED if name not in seen]
    if missing:
        shown = ", ".join(name.strip() for name in header if name.strip())[:300]
        raise CsvError(
            f"{path.name} has no {' or '.join(missing)} column (its header: {shown}): the "
            f"required columns are {', '.join(REQUIRED)}; the others are "
            f"{', '.join(name for name in FIELDS if name not in REQUIRED)}"
        )
    if unknown:
        notes.append(
            f"{path.name}: columns Baton does not use were left out: {', '.join(unknown)[:300]}"
        )
    return columns
