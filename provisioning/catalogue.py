"""The APKs a run installs, from the app catalogue of the server the devices will enrol with,
where no file was given: the Tabard agent, and the police apps (those the run's policy allows
on the secure side, or else every app in the catalogue). Each is the newest available version,
and its bytes must have the SHA-256 the catalogue gives, or the run does not start."""

from __future__ import annotations

import hashlib
from typing import Any

from device_agent.handover import AGENT_PACKAGE
from provisioning.fleet import FleetError
from provisioning.inputs import RunFiles, check_agent_apk, read_apk_facts
from provisioning.server import Server


def from_catalogue(server: Server, files: RunFiles, *, agent: bool, apps: bool) -> list[str]:
    """Fill in the agent's APK (if `agent`) and the police apps' (if `apps`) from the
    catalogue; the packages taken from it, in the order fetched."""
    if not (agent or apps):
        return []
    try:
        listed: list[dict[str, Any]] = server.call("GET", "/api/v1/apps")
    except FleetError as exc:
        files.problems.append(f"could not read the app catalogue: {exc}")
        return []
    catalogue = {app["package"]: app for app in listed if app["latest_version_code"]}
    taken = []
    # What the catalogue lacks is left for the plan, which says per device what is missing.
    if agent and AGENT_PACKAGE in catalogue and _take_agent(server, catalogue, files):
        taken.append(AGENT_PACKAGE)
    if apps:
        for package in _police_apps(files, catalogue):
            if (data := _fetch(server, catalogue[package], files)) is not None:
                files.app_apks[package] = data
                taken.append(package)
    return taken


def _take_agent(server: Server, catalogue: dict[str, dict[str, Any]], files: RunFiles) -> bool:
    data = _fetch(server, catalogue[AGENT_PACKAGE], files)
    return data is not None and check_agent_apk(
        data, read_apk_facts(data), "the catalogue's agent", files
    )


def _police_apps(files: RunFiles, catalogue: dict[str, dict[str, Any]]) -> list[str]:
    """The apps to take: those the policy allows on the secure side that the catalogue holds
    (the rest may already be on the device), or every app but the agent."""
    if files.policy is not None:
        allowed = (files.policy.get("secure_side") or {}).get("allowed_apps") or []
        return [app["package"] for app in allowed if app.get("package") in catalogue]
    return sorted(package for package in catalogue if package != AGENT_PACKAGE)


def _fetch(server: Server, app: dict[str, Any], files: RunFiles) -> bytes | None:
    package, version = app["package"], app["latest_version_code"]
    try:
        shown = server.call("GET", f"/api/v1/apps/{package}")
        (entry,) = [v for v in shown["version_list"] if v["version_code"] == version]
        data = server.download(f"/api/v1/apps/{package}/versions/{version}/apk")
    except FleetError as exc:
        files.problems.append(f"could not fetch {package} {version} from the catalogue: {exc}")
        return None
    if hashlib.sha256(data).hexdigest() != entry["sha256"] or len(data) != entry["size"]:
        files.problems.append(
            f"{package} {version} from the catalogue is not the file the catalogue describes "
            "(its SHA-256 or size differs); the run stops rather than install it"
        )
        return None
    return data
