"""A real syslog collector for the SIEM feed's tests: Debian's rsyslogd in the foreground,
listening on loopback over TCP (with TLS when given a certificate), writing each message it
receives, exactly as received, as one line of a file."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.daemons import ForegroundDaemon
from tests.factories.tls import Tls


class Rsyslog(ForegroundDaemon):
    """`start()` and `stop()` as often as a test likes; the port stays the same."""

    name = "rsyslogd"

    def __init__(self, root: Path, *, tls: Tls | None = None) -> None:
        super().__init__()
        self.root = root
        self.tls = tls
        self.received = root / "received.log"
        root.mkdir(parents=True, exist_ok=True)
        (root / "work").mkdir(exist_ok=True)
        self.config = root / "rsyslog.conf"
        self.config.write_text(self._config())

    def _config(self) -> str:
        lines = [f'global(workDirectory="{self.root / "work"}")']
        if self.tls:
            lines.append(
                "global("
                'defaultNetstreamDriver="gtls" '
                f'defaultNetstreamDriverCAFile="{self.tls.ca}" '
                f'defaultNetstreamDriverCertFile="{self.tls.certificate}" '
                f'defaultNetstreamDriverKeyFile="{self.tls.key}")'
            )
            lines.append(
                'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" '
                'streamDriver.authMode="anon")'
            )
        else:
            lines.append('module(load="imtcp")')
        lines += [
            f'input(type="imtcp" address="127.0.0.1" port="{self.port}")',
            'template(name="raw" type="string" string="%rawmsg%\\n")',
            f'*.* action(type="omfile" file="{self.received}" template="raw" '
            'flushOnTXEnd="on" asyncWriting="off")',
        ]
        return "\n".join(lines) + "\n"

    @property
    def url(self) -> str:
        scheme = "syslog+tls" if self.tls else "syslog+tcp"
        return f"{scheme}://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return ["rsyslogd", "-n", "-f", str(self.config), "-i", str(self.root / "rsyslogd.pid")]

    def messages(self) -> list[str]:
        if not self.received.exists():
            return []
        return self.received.read_text(encoding="utf-8").splitlines()
