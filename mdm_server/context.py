"""Everything a request may need, built once by `create_app(settings)`."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519

from mdm_server.appropriate_use import justification
from mdm_server.apps.storage import ApkStore, open_store
from mdm_server.audit import checkpoints, subjects
from mdm_server.audit.notes import NoteSigner
from mdm_server.audit.subjects import SubjectKeys
from mdm_server.auth import sealed
from mdm_server.auth.oidc import OidcClient
from mdm_server.auth.tokens import KEY_FILE as STAFF_TOKEN_KEY_FILE
from mdm_server.auth.tokens import StaffTokens
from mdm_server.clock import Clock, system_clock
from mdm_server.commands.wakeups import Wakeups
from mdm_server.config import Settings
from mdm_server.console import sessions as console_sessions
from mdm_server.crypto.ca import DeviceCA
from mdm_server.crypto.ca_rotation import RotatingDeviceCA
from mdm_server.crypto.command_rotation import RotatingCommandSigner
from mdm_server.crypto.keystore import KeyStore, KeyStoreError
from mdm_server.crypto.master import MasterKey
from mdm_server.crypto.passwords import PasswordHasher
from mdm_server.db import Database
from mdm_server.devices.authentication import DevicePublicKeys
from mdm_server.geo.maps import MapSource
from mdm_server.secure.connector import DemoConnector, RecordsConnector


@dataclass
class AppContext:
    settings: Settings
    database: Database
    clock: Clock
    keys: KeyStore
    cas: RotatingDeviceCA  # follows `tabard keys rotate device-ca`
    passwords: PasswordHasher
    staff_tokens: StaffTokens
    device_keys: DevicePublicKeys
    master_key: MasterKey
    records: RecordsConnector
    maps: MapSource
    command_signer: RotatingCommandSigner  # follows `tabard keys rotate command-signing`
    wakeups: Wakeups
    audit_signer: NoteSigner
    subject_keys: SubjectKeys
    justification_key: bytes
    console_csrf_key: bytes
    sealer: sealed.Sealer
    oidc: OidcClient | None  # the force's OpenID provider, when single sign-on is set up
    apks: ApkStore

    @property
    def ca(self) -> DeviceCA:
        """The device CA to issue from now: the newest generation in the data directory."""
        return self.cas.current()

    def checkpoint_signer(self) -> NoteSigner:
        """The checkpoint key as the data directory holds it now: `tabard keys rotate
        checkpoint` replaces it while the server runs, and every worker follows."""
        if self.keys.path(checkpoints.KEY_FILE).exists():  # never made anew here: if it went
            current = checkpoints.load_signer(self.keys, self.settings)  # missing, /ready says
            if current.key_id != self.audit_signer.key_id:
                self.audit_signer = current
        return self.audit_signer

    @classmethod
    def build(
        cls, settings: Settings, *, database: Database | None = None, clock: Clock = system_clock
    ) -> AppContext:
        """Open the database and load (or, on first start, create) the server's keys."""
        keys = KeyStore(settings.keys_dir)
        staff_key = keys.private_key(STAFF_TOKEN_KEY_FILE, ed25519.Ed25519PrivateKey.generate)
        if not isinstance(staff_key, ed25519.Ed25519PrivateKey):
            raise KeyStoreError(f"{keys.path(STAFF_TOKEN_KEY_FILE)} is not an Ed25519 key")
        database = database or Database.from_settings(settings)
        cas = RotatingDeviceCA.load_or_create(keys, now=clock())
        master_key = MasterKey.load_or_create(keys)
        maps = MapSource(settings.map_dir)
        return cls(
            settings=settings,
            database=database,
            clock=clock,
            keys=keys,
            cas=cas,
            passwords=PasswordHasher(settings),
            staff_tokens=StaffTokens(staff_key, settings),
            device_keys=DevicePublicKeys(settings.device_key_cache),
            master_key=master_key,
            records=DemoConnector(maps),
            maps=maps,
            command_signer=RotatingCommandSigner.load_or_create(
                keys, ca=cas, issuer=settings.public_url, now=clock()
            ),
            wakeups=Wakeups(postgres=database.dialect == "postgresql"),
            audit_signer=checkpoints.load_signer(keys, settings),
            subject_keys=SubjectKeys(master_key.derive(subjects.KEY_PURPOSE)),
            justification_key=master_key.derive(justification.KEY_PURPOSE),
            console_csrf_key=master_key.derive(console_sessions.CSRF_KEY_PURPOSE),
            sealer=sealed.Sealer(master_key.derive(sealed.KEY_PURPOSE)),
            oidc=OidcClient(settings) if settings.oidc_enabled else None,
            apks=open_store(settings),
        )
