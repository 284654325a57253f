"""Queries a provisioning run's check needs: the officers and the groups its manifest names."""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session, col, select

from mdm_server.auth.models import StaffUser
from mdm_server.devices.models import Device, DeviceState
from mdm_server.enrolment.models import EnrolmentToken
from mdm_server.policies.models import PolicyAssignment, Scope


def staff_by_collar(session: Session, collars: Collection[str]) -> dict[str, StaffUser]:
    """The staff accounts holding these collar numbers, by collar number."""
    if not collars:
        return {}
    users = session.exec(select(StaffUser).where(col(StaffUser.collar_number).in_(collars))).all()
    return {user.collar_number: user for user in users if user.collar_number}


def known_groups(session: Session, names: Collection[str]) -> set[str]:
    """Those of `names` that an enrolment token, a device still in service or a group policy
    names: the groups Tabard knows."""
    if not names:
        return set()
    queries = (
        select(EnrolmentToken.group_name).where(col(EnrolmentToken.group_name).in_(names)),
        select(Device.group_name).where(
            col(Device.group_name).in_(names), col(Device.state) != DeviceState.retired
        ),
        select(PolicyAssignment.target).where(
            col(PolicyAssignment.scope) == Scope.group, col(PolicyAssignment.target).in_(names)
        ),
    )
    return {str(name) for query in queries for name in session.exec(query.distinct()).all()}
