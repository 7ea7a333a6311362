"""SSH to a board (paramiko): host resolution, host-key checking, authentication, remote commands.

Hosts resolve through ``~/.ssh/config`` (Host aliases, HostName, User, Port, IdentityFile,
UserKnownHostsFile); flags override it. The user defaults to ``xilinx``, the PYNQ image's user.
Host keys are checked against known_hosts: an unknown key is refused unless
``accept_new_host_key`` (trust on first use, then stored); a changed key is always refused.
Passwords come only from an environment variable named by the user or an interactive prompt.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import select
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from bnntool.errors import UserError

# paramiko's transport thread logs its own failures (with a traceback) through the "paramiko"
# logger, which Python would print to stderr; bnntool reports each failure once, in one line.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False

DEFAULT_USER = "xilinx"  # the PYNQ image's user
CONNECT_TIMEOUT = 15.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class BoardError(UserError):
    """A board that cannot be reached, refuses us, or reports a failure."""


def check_name(value: str, what: str) -> str:
    """A single remote path component (dataset, overlay, folder name): letters, digits and
    ``._+-``, not starting with a dot or dash, no ``/`` and no ``..``."""
    if not _NAME.match(value or "") or ".." in value:
        raise UserError(
            f"{what} {value!r} is not a valid name on the board; use letters, digits and ._+- "
            "(no '/', no '..', not starting with '.' or '-')"
        )
    return value


def check_relpath(value: str, what: str) -> str:
    """A relative remote path (below the board user's home): components checked as names."""
    if not value or value.startswith("/") or value.startswith("~"):
        raise UserError(f"{what} {value!r} must be a relative path below the board's home folder")
    for part in value.strip("/").split("/"):
        check_name(part, what)
    return value.strip("/")


def quote(*args: str) -> str:
    """A remote command line with every argument quoted for the POSIX shell."""
    return " ".join(shlex.quote(str(a)) for a in args)


@dataclass(frozen=True)
class Target:
    """Where and as whom to connect, after ~/.ssh/config and flags."""

    name: str  # what the user typed (alias or address), used in messages and result rows
    hostname: str
    port: int
    user: str
    identities: tuple[str, ...] = ()
    known_hosts: str = "~/.ssh/known_hosts"
    password_env: str | None = None
    accept_new_host_key: bool = False
    options: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def where(self) -> str:
        port = f":{self.port}" if self.port != 22 else ""
        return f"{self.user}@{self.hostname}{port}"


def resolve(
    host: str,
    *,
    user: str | None = None,
    port: int | None = None,
    identity: str | None = None,
    password_env: str | None = None,
    accept_new_host_key: bool = False,
    ssh_config: str | os.PathLike[str] | None = None,
) -> Target:
    """A host alias or address, resolved through ``~/.ssh/config``; flags win over the config."""
    if not host or host.startswith("-") or any(c.isspace() for c in host):
        raise UserError(f"--host {host!r} is not a host name or address")
    config_path = Path(ssh_config or os.path.expanduser("~/.ssh/config"))
    found: dict[str, object] = {}
    if config_path.is_file():
        try:
            found = dict(paramiko.SSHConfig.from_path(str(config_path)).lookup(host))
        except (OSError, ValueError, paramiko.SSHException) as e:
            raise UserError(f"cannot read {config_path}: {e}; fix or move it") from None
    hostname = str(found.get("hostname", host))
    try:
        config_port = int(found.get("port", 22))  # type: ignore[arg-type]
    except ValueError:
        raise UserError(f"{config_path}: Port of host {host} is not a number") from None
    identities: tuple[str, ...]
    if identity:
        identities = (os.path.expanduser(identity),)
        if not Path(identities[0]).is_file():
            raise UserError(f"--identity {identity} does not exist; give a private key file")
        _check_private_key(Path(identities[0]), identity)
    else:
        configured = found.get("identityfile") or []
        identities = tuple(
            os.path.expanduser(str(p))
            for p in configured  # type: ignore[union-attr]
            if Path(os.path.expanduser(str(p))).is_file()
        )
    known = found.get("userknownhostsfile")
    known_hosts = str(known).split()[0] if known else "~/.ssh/known_hosts"
    if password_env is not None and password_env not in os.environ:
        raise UserError(
            f"--password-env {password_env}: that environment variable is not set; export it "
            "with the board's password (never put a password on the command line)"
        )
    return Target(
        name=host,
        hostname=hostname,
        port=port or config_port,
        user=user or str(found.get("user", DEFAULT_USER)),
        identities=identities,
        known_hosts=os.path.expanduser(known_hosts),
        password_env=password_env,
        accept_new_host_key=accept_new_host_key,
    )


_PUBLIC_KEY = re.compile(rb"^(ssh-|ecdsa-|sk-ssh-|sk-ecdsa-)[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]{20,}")


def _check_private_key(path: Path, given: str) -> None:
    """Refuse a public key (or a file that is no key) given as --identity, before connecting."""
    try:
        head = path.read_bytes()[:4096].lstrip()
    except OSError as e:
        raise UserError(f"--identity {given}: cannot read it ({e.strerror or e})") from None
    if _PUBLIC_KEY.match(head) or head.startswith(b"---- BEGIN SSH2 PUBLIC KEY"):
        private = given[:-4] if given.endswith(".pub") else "the file without .pub"
        raise UserError(
            f"--identity {given} is a public key; give the private key, e.g. --identity {private}"
        )
    if b"PRIVATE KEY-----" not in head:
        raise UserError(
            f"--identity {given} is not a private key file (no '-----BEGIN ... PRIVATE KEY-----' "
            "line); give the private key, e.g. ~/.ssh/id_ed25519"
        )


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Unknown keys: refused, or with trust on first use stored in known_hosts."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        t = self.target
        fingerprint = key.fingerprint if hasattr(key, "fingerprint") else key.get_name()
        if not t.accept_new_host_key:
            raise BoardError(
                f"{t.name}: unknown host key ({fingerprint}) not in {t.known_hosts}; if this is "
                "your board, run again with --accept-new-host-key to trust and store it"
            )
        client.get_host_keys().add(hostname, key.get_name(), key)
        _append_known_host(Path(t.known_hosts), hostname, key)


def _append_known_host(path: Path, hostname: str, key: paramiko.PKey) -> None:
    """Add one line to known_hosts, written whole (temporary name, then rename)."""
    line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        old = path.read_text() if path.is_file() else ""
        if old and not old.endswith("\n"):
            old += "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(old + line)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as e:
        raise BoardError(f"cannot store the host key in {path}: {e.strerror or e}") from None


class Connection:
    """One SSH connection to a board; remote commands run on exec channels."""

    def __init__(self, target: Target, client: paramiko.SSHClient) -> None:
        self.target = target
        self.client = client

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def run(
        self,
        command: str,
        stdin: bytes | None = None,
        *,
        chunks: object = None,
        timeout: float | None = None,
        reply: Callable[[bytes], Iterable[bytes]] | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Run ``command``; send ``stdin`` (or the byte chunks of an iterable) and close it;
        return exit status, stdout and stderr. With ``reply``, after ``stdin`` the first line
        the command writes to stdout goes to ``reply``, whose chunks are sent before closing
        (a dialog on one exec channel; the line is not part of the returned stdout)."""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise BoardError(f"{self.target.name}: the SSH connection was closed")
        try:
            channel = transport.open_session(timeout=CONNECT_TIMEOUT)
            channel.settimeout(timeout)
            channel.exec_command(command)
            out, err = bytearray(), bytearray()
            sources = [stdin] if stdin is not None else (chunks or [])
            try:
                _send(channel, sources, out, err)  # type: ignore[arg-type]
                if reply is not None:
                    while b"\n" not in out and not channel.exit_status_ready():
                        select.select([channel], [], [], 0.2)
                        _drain(channel, out, err)
                        if not transport.is_active():
                            raise OSError("connection lost")
                    if b"\n" in out:
                        line, _, rest = bytes(out).partition(b"\n")
                        out[:] = rest
                        _send(channel, reply(line), out, err)
                channel.shutdown_write()
            except OSError:
                # The remote command stopped reading (it failed, or the disk is full): its exit
                # status and stderr say why; a dead connection fails below.
                if channel.closed and not channel.exit_status_ready():
                    raise
            while not (channel.exit_status_ready() and channel.eof_received):
                select.select([channel], [], [], 0.2)
                _drain(channel, out, err)
                if not transport.is_active():
                    raise OSError("connection lost")
            _drain(channel, out, err)
            status = channel.recv_exit_status()
            channel.close()
        except (OSError, EOFError, paramiko.SSHException) as e:
            raise BoardError(
                f"{self.target.name}: the connection broke during a remote command ({e or type(e)})"
                "; check the network and run the command again"
            ) from None
        return status, bytes(out), bytes(err)


def _send(
    channel: paramiko.Channel, chunks: Iterable[bytes], out: bytearray, err: bytearray
) -> None:
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            _drain(channel, out, err)
            sent = channel.send(view[: 1 << 18])
            if sent <= 0:
                raise OSError("closed")
            view = view[sent:]


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray) -> None:
    while channel.recv_ready():
        out += channel.recv(1 << 20)
    while channel.recv_stderr_ready():
        err += channel.recv_stderr(1 << 20)


def connect(target: Target, *, interactive: bool | None = None) -> Connection:
    """Connect and authenticate (keys, then the --password-env password or a prompt)."""
    client = paramiko.SSHClient()
    known = Path(target.known_hosts)
    if known.is_file():
        try:
            client.load_host_keys(str(known))
        except (OSError, paramiko.SSHException) as e:
            raise BoardError(f"cannot read known hosts file {known}: {e}") from None
    client.set_missing_host_key_policy(_HostKeyPolicy(target))
    password = os.environ.get(target.password_env) if target.password_env else None
    if interactive is None:
        interactive = sys.stdin.isatty()
    for attempt in range(2):
        try:
            client.connect(
                target.hostname,
                port=target.port,
                username=target.user,
                password=password,
                key_filename=list(target.identities) or None,
                look_for_keys=not target.identities,
                allow_agent=not target.identities and password is None,
                timeout=CONNECT_TIMEOUT,
                banner_timeout=CONNECT_TIMEOUT,
                auth_timeout=CONNECT_TIMEOUT,
            )
            transport = client.get_transport()
            if transport is not None:
                transport.set_keepalive(15)
                transport.use_compression(False)  # the deploy stream is compressed already
            return Connection(target, client)
        except BoardError:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise BoardError(
                f"{target.name}: the host key changed ({e.key.get_name()} "
                f"{e.key.fingerprint if hasattr(e.key, 'fingerprint') else ''}, not the one in "
                f"{target.known_hosts}); refusing to connect. If the board was re-imaged, remove "
                f"the old key with: ssh-keygen -R {_known_name(target)}"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            if attempt == 0 and password is None and interactive:
                password = getpass.getpass(f"password for {target.where}: ")
                client = paramiko.SSHClient()
                if known.is_file():
                    client.load_host_keys(str(known))
                client.set_missing_host_key_policy(_HostKeyPolicy(target))
                continue
            how = (
                f"the password from ${target.password_env}"
                if target.password_env
                else (f"key {', '.join(target.identities)}" if target.identities else "your keys")
            )
            raise BoardError(
                f"{target.name}: authentication as {target.user} failed with {how}; give "
                "--identity KEY, --user NAME or --password-env VAR"
            ) from None
        except TimeoutError:
            client.close()
            raise BoardError(
                f"{target.name}: no answer from {target.hostname}:{target.port} within "
                f"{CONNECT_TIMEOUT:.0f} s; is the board on and on this network?"
            ) from None
        except (OSError, EOFError, paramiko.SSHException) as e:
            client.close()
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e)
            if "protocol banner" in str(e):
                raise BoardError(
                    f"{target.name}: {target.hostname}:{target.port} answers, but not as an SSH "
                    "server (no SSH banner); check --port (SSH is usually on 22) and --host"
                ) from None
            if (
                isinstance(e, paramiko.SSHException)
                and "key" in str(e).lower()
                and ("private" in str(e).lower() or "passphrase" in str(e).lower())
            ):
                raise BoardError(
                    f"{target.name}: the key {', '.join(target.identities) or 'given'} cannot be "
                    f"used ({reason}); give another --identity or load it into ssh-agent"
                ) from None
            raise BoardError(
                f"{target.name}: cannot connect to {target.hostname}:{target.port} ({reason}); "
                "check --host, --port and that the board's SSH server runs"
            ) from None
    raise AssertionError("unreachable")


def _known_name(target: Target) -> str:
    return target.hostname if target.port == 22 else f"'[{target.hostname}]:{target.port}'"
