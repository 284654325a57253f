"""The device profiles Tabard models: build properties, ADB banner and protocol limits.

Sources: ../shared/reference/android-adb.md (device identities, banners, maxdata) and AOSP
for the SDK levels."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeviceProfile:
    key: str
    model: str
    marketing_name: str
    product_name: str
    product_device: str
    android_version: str
    sdk: int
    build_id: str
    incremental: str
    security_patch: str
    knox_version: str
    has_telephony: bool
    adb_maxdata: int
    adb_features: tuple[str, ...] = field(default_factory=tuple)
    # 0x01000001 from Android 9: checksums are neither sent nor checked.
    adb_version: int = 0x01000000

    @property
    def fingerprint(self) -> str:
        return (
            f"samsung/{self.product_name}/{self.product_device}:{self.android_version}/"
            f"{self.build_id}/{self.incremental}:user/release-keys"
        )

    @property
    def banner(self) -> bytes:
        """The CNXN banner adbd sends: Android 7+ advertises features, 6.x does not."""
        text = (
            f"device::ro.product.name={self.product_name};ro.product.model={self.model};"
            f"ro.product.device={self.product_device};"
        )
        if self.adb_features:
            return (text + "features=" + ",".join(self.adb_features)).encode()
        return text.encode() + b"\0"

    def props(self) -> dict[str, str]:
        """Build properties as `getprop` reports them on a factory-fresh device."""
        return {
            "ro.product.manufacturer": "samsung",
            "ro.product.brand": "samsung",
            "ro.product.model": self.model,
            "ro.product.name": self.product_name,
            "ro.product.device": self.product_device,
            "ro.build.version.release": self.android_version,
            "ro.build.version.sdk": str(self.sdk),
            "ro.build.version.security_patch": self.security_patch,
            "ro.build.id": self.build_id,
            "ro.build.version.incremental": self.incremental,
            "ro.build.fingerprint": self.fingerprint,
            "ro.build.type": "user",
            "ro.build.tags": "release-keys",
            "ro.secure": "1",
            "ro.debuggable": "0",
            "ro.adb.secure": "1",
            "ro.crypto.state": "encrypted",
            "ro.boot.warranty_bit": "0",
            "ro.warranty_bit": "0",
            "ro.config.knox": "v30",
            "ro.config.tima": "1",
            "net.knoxscep.version": "2.0.1",
            "sys.knox.exists": "0",
        }


_N_FEATURES = ("cmd", "shell_v2")

PROFILES: dict[str, DeviceProfile] = {
    "SM-J510FN": DeviceProfile(
        key="SM-J510FN",
        model="SM-J510FN",
        marketing_name="Galaxy J5 (2016)",
        product_name="j5xnltexx",
        product_device="j5xnlte",
        android_version="7.1.1",
        sdk=25,
        build_id="NMF26X",
        incremental="J510FNXXS2BRA2",
        security_patch="2018-01-01",
        knox_version="2.8",
        has_telephony=True,
        adb_maxdata=262144,
        adb_features=_N_FEATURES,
    ),
    "SM-J530F": DeviceProfile(
        key="SM-J530F",
        model="SM-J530F",
        marketing_name="Galaxy J5 (2017)",
        product_name="j5y17ltexx",
        product_device="j5y17lte",
        android_version="7.0",
        sdk=24,
        build_id="NRD90M",
        incremental="J530FXXU1AQF7",
        security_patch="2017-06-01",
        knox_version="2.8",
        has_telephony=True,
        adb_maxdata=262144,
        adb_features=_N_FEATURES,
    ),
    "SM-J530F@9": DeviceProfile(
        key="SM-J530F@9",
        model="SM-J530F",
        marketing_name="Galaxy J5 (2017), Android 9 update",
        product_name="j5y17ltexx",
        product_device="j5y17lte",
        android_version="9",
        sdk=28,
        build_id="PPR1.180610.011",
        incremental="J530FXXU5CSL2",
        security_patch="2019-12-01",
        knox_version="3.3",
        has_telephony=True,
        adb_maxdata=1048576,
        adb_features=(*_N_FEATURES, "stat_v2"),
        adb_version=0x01000001,
    ),
    "SM-T580": DeviceProfile(
        key="SM-T580",
        model="SM-T580",
        marketing_name="Galaxy Tab A 10.1 (Wi-Fi)",
        product_name="gtaxlwifixx",
        product_device="gtaxlwifi",
        android_version="8.1.0",
        sdk=27,
        build_id="M1AJQ",
        incremental="T580XXU4CRK5",
        security_patch="2018-11-01",
        knox_version="3.2",
        has_telephony=False,
        adb_maxdata=262144,
        adb_features=(*_N_FEATURES, "stat_v2"),
    ),
}

_ALIASES = {"SM-J530F@7.0": "SM-J530F", "SM-J530F@9.0": "SM-J530F@9"}


def profile_for(model: str, android: str | None = None) -> DeviceProfile:
    """The profile for a model and optional Android version (`SM-J530F`, `SM-J530F@9`)."""
    key = f"{model}@{android}" if android else model
    key = _ALIASES.get(key, key)
    if key not in PROFILES:
        for profile in PROFILES.values():
            if profile.model == model and android and profile.android_version.startswith(android):
                return profile
        known = ", ".join(sorted(PROFILES))
        raise KeyError(f"no virtual device profile {key!r}; known: {known}")
    return PROFILES[key]
