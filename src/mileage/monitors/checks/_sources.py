"""Where reference data, scoring batches and labels come from: files, folders or SQL tables.

A source is written as one string:

* a file: ``ref.parquet``, ``batch.csv``, ``labels.jsonl`` (Parquet, CSV, JSON lines, JSON,
  Feather);
* a folder of such files, one batch per file, the file name without extension being the batch
  id (``batches/2026-11-20.parquet`` is batch ``2026-11-20``), in name order;
* a SQL table: ``<SQLAlchemy URL>#<table>``, e.g. ``sqlite:///scores.db#scores`` or
  ``postgresql://monitor@db/shop#scores``; batches are the rows sharing a value of the batch
  column (``batch_id`` unless configured). Tables are read with SQLAlchemy Core (no SQL text
  is built from the string).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mileage.platform.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

FILE_SUFFIXES = (".parquet", ".pq", ".csv", ".jsonl", ".json", ".feather")
_SQL_PREFIXES = ("sqlite:", "postgresql", "postgres:", "mysql", "duckdb:", "env:")


def is_sql(uri: str) -> bool:
    """Whether ``uri`` names a SQL table (``URL#table``, or ``env:VAR#table`` where the
    environment variable ``VAR`` holds the URL)."""
    return uri.startswith(_SQL_PREFIXES) and "#" in uri


def absolute_source(uri: str, base: Path | None = None) -> str:
    """``uri`` with a relative file or folder path (or a relative SQLite file in a SQL source)
    made absolute against ``base`` (the current directory by default).

    A daemon runs from wherever systemd or a container starts it, so a stored ``ref.parquet``
    must not depend on the directory ``monitor add`` ran in. URLs (``https://``, ``models:/``,
    ``postgresql://``) and absolute paths are returned unchanged.

    Example:
        >>> absolute_source("/data/ref.parquet")
        '/data/ref.parquet'
    """
    root = (base or Path.cwd()).resolve()
    if is_sql(uri):
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            rest = uri[len("sqlite:///") :]
            path, _, table = rest.rpartition("#")
            if path and not path.startswith(":memory:"):
                return f"sqlite:///{(root / Path(path).expanduser()).resolve()}#{table}"
        return uri
    if "://" in uri or (":" in uri.split("/", 1)[0] and not Path(uri).exists()):
        return uri  # a URL or a scheme such as models:/ or runs:/
    return str((root / Path(uri).expanduser()).resolve())


def _split_sql(uri: str) -> tuple[str, str]:
    url, _, table = uri.rpartition("#")
    if not url or not table:
        raise ConfigError(
            f"SQL source {uri!r} must be '<SQLAlchemy URL>#<table>', e.g. "
            "'sqlite:///scores.db#scores', or 'env:VAR#<table>'."
        )
    if url.startswith("env:"):
        # The URL (and its password) lives in the environment, never in the store.
        name = url[len("env:") :]
        value = os.environ.get(name, "")
        if not value:
            raise ConfigError(
                f"SQL source {uri!r}: environment variable {name!r} is not set; export it "
                "with the database URL (e.g. postgresql://user:password@host/db)."
            )
        url = value
    return url, table


def refuse_stored_password(uri: str | None, option: str) -> None:
    """Refuse a SQL source whose URL embeds a password: it would be stored in clear.

    Raises:
        ConfigError: The URL has a password; the message shows the ``env:`` form instead.
    """
    if not uri or not is_sql(uri) or uri.startswith("env:"):
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url, _, table = uri.rpartition("#")
    try:
        password = make_url(url).password
    except ArgumentError:
        return
    if password:
        shown = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(
            f"{option} {shown}#{table}: the URL holds a password, which would be stored in "
            f"clear; put the URL in an environment variable and pass {option} "
            f"env:VAR#{table} instead."
        )


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def redact_secret_url(text: str) -> str:
    """A URL cut to its scheme and host (``https://hooks.slack.com/…``): webhook URLs carry
    their secret in the path, database URLs in the password."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "(value not shown)"
    host = rest.split("/", 1)[0].rpartition("@")[2]
    return f"{scheme}://{host}/…"


def webhook_variable(value: str | None, option: str = "--webhook-env") -> str | None:
    """The environment variable named by a webhook reference (``SLACK_URL`` or
    ``env:SLACK_URL``); None or empty means no webhook.

    Raises:
        ConfigError: Not a variable name; a URL is refused without being echoed (it would be
            stored and printed in clear).
    """
    if not value:
        return None
    name = value[4:] if value.startswith("env:") else value
    if _ENV_NAME.fullmatch(name):
        return name
    if "://" in value:
        raise ConfigError(
            f"{option} {redact_secret_url(value)}: a webhook URL is a secret and is never "
            f"stored; put it in an environment variable (export SLACK_WEBHOOK_URL=...) and pass "
            f"{option} env:SLACK_WEBHOOK_URL."
        )
    raise ConfigError(
        f"{option} {value!r} is not an environment variable name (letters, digits and '_', "
        f"not starting with a digit); pass {option} env:NAME."
    )


def read_file(path: Path, *, what: str = "data") -> pd.DataFrame:
    """Read one data file by its extension.

    Raises:
        DataError: The file is missing, has an unknown extension or cannot be parsed.
    """
    import pandas as pd

    if not path.exists():
        raise DataError(f"{what} file {str(path)!r} does not exist; check the path.")
    if path.is_dir():
        raise DataError(
            f"{what} {str(path)!r} is a folder; give one file here (folders hold batches)."
        )
    if not path.is_file():  # a FIFO or a device would block the read for ever
        raise DataError(
            f"{what} {str(path)!r} is not a regular file (a pipe, socket or device); "
            "give a data file."
        )
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".csv":
            try:
                return pd.read_csv(path)
            except pd.errors.EmptyDataError:
                return pd.DataFrame()
        if suffix == ".jsonl":
            return pd.read_json(path, lines=True)
        if suffix == ".json":
            return pd.read_json(path)
        if suffix == ".feather":
            return pd.read_feather(path)
    except Exception as exc:  # pyarrow, parser and OS errors all mean "unreadable"
        raise DataError(
            f"{what} file {str(path)!r} cannot be read as {suffix[1:]}: "
            f"{type(exc).__name__}: {str(exc)[:300]}; check that the file is complete and "
            "written in that format (re-export it, e.g. with DataFrame.to_parquet)."
        ) from None
    raise DataError(
        f"{what} file {str(path)!r} has the extension {suffix!r}; supported: "
        f"{', '.join(FILE_SUFFIXES)}."
    )


def _read_table(uri: str, *, where: tuple[str, Any] | None = None) -> pd.DataFrame:
    import pandas as pd
    from sqlalchemy import MetaData, Table, create_engine, select
    from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

    from mileage.platform.store import normalize_url, redact_url

    url, table_name = _split_sql(uri)
    engine = create_engine(normalize_url(url))
    try:
        table = Table(table_name, MetaData(), autoload_with=engine)
        query = select(table)
        if where is not None:
            column, value = where
            if column not in table.c:
                raise DataError(
                    f"table {table_name!r} in {redact_url(url)!r} has no column {column!r}; "
                    f"columns: {', '.join(table.c.keys())}. Set the batch column with "
                    "--batch-column."
                )
            query = query.where(table.c[column] == value)
        with engine.connect() as conn:
            result = conn.execute(query)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    except NoSuchTableError:
        raise DataError(
            f"table {table_name!r} does not exist in {redact_url(url)!r}; check the name after '#'."
        ) from None
    except SQLAlchemyError as exc:
        raise DataError(
            f"cannot read table {table_name!r} from {redact_url(url)!r}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        ) from None
    finally:
        engine.dispose()


def read_frame(uri: str, *, what: str = "data") -> pd.DataFrame:
    """Read a whole source (a file or a SQL table) into a DataFrame.

    Raises:
        DataError: The source cannot be read.
    """
    if is_sql(uri):
        return _read_table(uri)
    return read_file(Path(uri).expanduser(), what=what)


class BatchNotFoundError(DataError, LookupError):
    """A batch id that the batch source does not hold (a typo, most likely)."""


def _batch_file(path: Path) -> bool:
    """Not a pipe, socket or device (a folder is kept: reading it reports the mistake)."""
    try:
        return path.is_file() or path.is_dir()
    except OSError:
        return False


@dataclass(frozen=True)
class BatchSource:
    """Scoring batches: a folder of files (one per batch) or a SQL table with a batch column.

    Example:
        >>> src = BatchSource("batches/")  # doctest: +SKIP
        >>> src.ids()  # doctest: +SKIP
        ['2026-11-19', '2026-11-20']
    """

    uri: str
    batch_column: str = "batch_id"

    def _folder(self) -> Path:
        path = Path(self.uri).expanduser()
        if not path.exists():
            raise DataError(f"batch source {self.uri!r} does not exist; check --batches.")
        if not path.is_dir() and not path.is_file():
            raise DataError(
                f"batch source {self.uri!r} is neither a folder of batch files nor a file (a "
                "pipe, socket or device); point --batches at the folder the batches land in."
            )
        return path

    def _files(self) -> dict[str, Path]:
        path = self._folder()
        if path.is_file():
            return {path.stem: path}
        try:
            entries = list(path.iterdir())
        except OSError as exc:  # replaced or made unreadable while the daemon runs
            raise DataError(
                f"batch source {self.uri!r} cannot be listed ({type(exc).__name__}: "
                f"{exc.strerror or exc}); check --batches and its permissions."
            ) from None
        # only regular files (or links to them) are batches: opening a FIFO would block the
        # check for ever, and a half-made entry is no batch yet
        files = sorted(p for p in entries if p.suffix.lower() in FILE_SUFFIXES and _batch_file(p))
        return {p.stem: p for p in files}

    def ids(self) -> list[str]:
        """Batch ids in order."""
        if is_sql(self.uri):
            from sqlalchemy import MetaData, Table, create_engine, select
            from sqlalchemy.exc import SQLAlchemyError

            from mileage.platform.store import normalize_url, redact_url

            url, table_name = _split_sql(self.uri)
            engine = create_engine(normalize_url(url))
            try:
                table = Table(table_name, MetaData(), autoload_with=engine)
                if self.batch_column not in table.c:
                    raise DataError(
                        f"table {table_name!r} has no batch column {self.batch_column!r}; "
                        f"columns: {', '.join(table.c.keys())}. Set it with --batch-column."
                    )
                with engine.connect() as conn:
                    values = conn.execute(select(table.c[self.batch_column]).distinct()).scalars()
                    return sorted(str(v) for v in values if v is not None)
            except SQLAlchemyError as exc:
                raise DataError(
                    f"cannot list batches of {redact_url(url)!r}#{table_name}: {exc}"
                ) from None
            finally:
                engine.dispose()
        return list(self._files())

    def require(self, batch_id: str) -> None:
        """Check that ``batch_id`` exists before any work is done on it.

        Raises:
            BatchNotFoundError: It does not; the message lists the nearest ids.
        """
        import difflib

        ids = self.ids()
        if batch_id in ids:
            return
        near = difflib.get_close_matches(batch_id, ids, n=5, cutoff=0.5) or ids[-5:]
        where = self.uri.rpartition("#")[2] if is_sql(self.uri) else self.uri
        raise BatchNotFoundError(
            f"batch {batch_id!r} is not in {where!r} ({len(ids)} batches); "
            f"nearest ids: {', '.join(near) or 'none'}. Give one of those to --batch."
        )

    def parquet_path(self, batch_id: str) -> Path | None:
        """The file of ``batch_id`` when it is a Parquet file (which can be read in parts)."""
        if is_sql(self.uri):
            return None
        path = self._files().get(batch_id)
        return path if path is not None and path.suffix.lower() in (".parquet", ".pq") else None

    def read(self, batch_id: str) -> pd.DataFrame:
        """The rows of one batch.

        Raises:
            DataError: No such batch, or it cannot be read.
        """
        if is_sql(self.uri):
            frame = _read_table(self.uri, where=(self.batch_column, batch_id))
            if frame.empty and batch_id not in self.ids():
                raise DataError(
                    f"batch {batch_id!r} is not in {self.uri.rpartition('#')[2]!r}; "
                    "list the batches with 'mileage monitor show NAME'."
                )
            return frame.drop(columns=[self.batch_column])
        files = self._files()
        if batch_id not in files:
            known = ", ".join(list(files)[-5:]) or "none"
            raise DataError(
                f"batch {batch_id!r} is not in {self.uri!r} (latest batches: {known}); "
                "give a file name without its extension."
            )
        return read_file(files[batch_id], what=f"batch {batch_id!r}")
