"""A real, throwaway PostgreSQL server for the store tests and benchmarks.

The distribution's server binaries (``/usr/lib/postgresql/<version>/bin``, Debian's ``postgresql``
package, listed in ``.ci/apt-packages``) initialise a cluster in a temporary folder and listen on
127.0.0.1 on a free port. PostgreSQL refuses to run as root, so as root the cluster belongs to the
``postgres`` user (or ``nobody``) and the folder is made theirs. Anything that stops this from
working raises ``PostgresUnavailable`` saying what: a store test that needs PostgreSQL fails, it
never skips.

    with PostgresServer.start() as pg:
        url = pg.url("tollhouse_test")   # a fresh database of that name

Run ``python -m tests.pgserver`` to start one by hand; it prints its URL and stops on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "tollhouse"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why and what to install."""


def server_bin() -> Path:
    """The newest installed server's bin folder (``initdb``, ``pg_ctl``, ``postgres``)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if not found:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).parent
        raise PostgresUnavailable(
            "no PostgreSQL server binaries (initdb) found in /usr/lib/postgresql/*/bin or on PATH; "
            "install the distribution's package (apt-get install postgresql; it is in .ci/apt-packages)"
        )
    return Path(found[-1]).parent


def _run_as() -> str | None:
    """The unprivileged user to run the server as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    root: Path
    port: int
    user: str | None
    bin: Path
    _made: set[str] = field(default_factory=set)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else list(args)

    @classmethod
    def start(cls, *, fsync: bool = True, extra: tuple[str, ...] = ()) -> PostgresServer:
        """initdb + pg_ctl start; raises PostgresUnavailable with the server's own words."""
        bin_dir = server_bin()
        user = _run_as()
        root = Path(tempfile.mkdtemp(prefix="tollhouse-pg-"))
        server = cls(root, _free_port(), user, bin_dir)
        if user:
            info = pwd.getpwnam(user)
            os.chown(root, info.pw_uid, info.pw_gid)
        try:
            server._initdb()
            server._pg_ctl_start(fsync, extra)
        except BaseException:
            server.stop()
            raise
        return server

    def _check(self, args: list[str], what: str, timeout: float = 60) -> None:
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{what} could not run: {exc}") from exc
        if done.returncode != 0:
            raise PostgresUnavailable(f"{what} failed ({done.returncode}): {done.stderr.strip()[-800:]}")

    def _initdb(self) -> None:
        self._check(
            self._cmd(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                "-E", "UTF8", "--locale=C", "--no-instructions", "--no-sync",
            ),
            "initdb",
        )  # fmt: skip

    def _pg_ctl_start(self, fsync: bool, extra: tuple[str, ...]) -> None:
        # Loopback only, its socket in its own folder, and durable commits unless told otherwise.
        opts = [
            f"-c listen_addresses=127.0.0.1 -c port={self.port}",
            f"-c unix_socket_directories={self.root}",
            "-c max_connections=200 -c shared_buffers=64MB",
            f"-c fsync={'on' if fsync else 'off'}",
            *extra,
        ]
        self._check(
            self._cmd(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                "-o", " ".join(opts), "-w", "-t", "60", "start",
            ),
            "pg_ctl start",
            timeout=90,
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        """A connection URL; a database other than ``postgres`` is created on first use."""
        if database != "postgres" and database not in self._made:
            self.create_database(database)
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self._made.add(name)

    def running(self) -> bool:
        done = subprocess.run(
            self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "status"),
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def stop(self, mode: str = "fast", *, remove: bool = True) -> None:
        if self.data.exists():
            subprocess.run(
                self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"),
                capture_output=True,
                check=False,
                timeout=60,
            )
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        """Start a stopped server again on the same port and data."""
        self._pg_ctl_start(True, ())

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def postgres(**kwargs: object) -> Iterator[PostgresServer]:
    server = PostgresServer.start(**kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    with postgres() as pg:
        print(pg.url(), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
