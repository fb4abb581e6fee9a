"""Role sessions and their store: ARNs, identities, expiry and the purge."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from squall.services.sts.roles import InvalidRoleArn, RoleArn, RoleNotInAccount, issue_role_session
from squall.services.sts.sessions import NAMESPACE, SessionStore
from squall.storage import SQLiteStore


@pytest.fixture
def sessions(tmp_path: Path) -> SessionStore:
    return SessionStore(SQLiteStore(tmp_path / "state.db"))


def test_role_arn_forms() -> None:
    role = RoleArn.parse("arn:aws:iam::123456789012:role/service-role/team/exec")
    assert (role.account_id, role.path, role.name) == ("123456789012", "/service-role/team/", "exec")
    assert role.assumed_role_arn("s") == "arn:aws:sts::123456789012:assumed-role/exec/s"
    assert (
        RoleArn.parse("arn:aws-cn:iam::123456789012:role/x")
        .assumed_role_arn("s")
        .startswith("arn:aws-cn:sts::")
    )
    assert len(role.role_id) == 21 and role.role_id.startswith("AROA")
    assert role.role_id == RoleArn.parse("arn:aws:iam::123456789012:role/service-role/team/exec").role_id
    assert role.role_id != RoleArn.parse("arn:aws:iam::123456789012:role/exec").role_id
    for bad in (
        "arn:aws:iam::123456789012:user/u",
        "arn:aws:iam::12345:role/r",
        "arn:aws:sts::123456789012:role/r",
        "arn:aws:iam::123456789012:role/",
        "role/r",
    ):
        with pytest.raises(InvalidRoleArn):
            RoleArn.parse(bad)


def test_issue_role_session(sessions: SessionStore) -> None:
    got = issue_role_session(sessions, "123456789012", "arn:aws:iam::123456789012:role/r", "fn", 900)
    creds = got.credentials
    assert creds.access_key_id.startswith("ASIA") and creds.principal_arn == got.arn
    assert got.arn == "arn:aws:sts::123456789012:assumed-role/r/fn"
    assert got.assumed_role_id == RoleArn.parse("arn:aws:iam::123456789012:role/r").role_id + ":fn"
    assert 890 < creds.expiration - time.time() <= 900
    assert sessions.lookup(creds.access_key_id) == creds
    with pytest.raises(RoleNotInAccount):
        issue_role_session(sessions, "000000000000", "arn:aws:iam::123456789012:role/r", "fn", 900)
    for name, duration in (("has space", 900), ("ok", 899), ("ok", 43201), ("x" * 65, 900)):
        with pytest.raises(ValueError):
            issue_role_session(sessions, "123456789012", "arn:aws:iam::123456789012:role/r", name, duration)


def test_expired_sessions_are_refused_and_purged(sessions: SessionStore) -> None:
    live = sessions.issue("123456789012", "arn:aws:iam::123456789012:root", 3600)
    dead = sessions.issue("123456789012", "arn:aws:iam::123456789012:root", 900)
    later = dead.expiration + 1
    assert dead.expired(later) and not live.expired(later)
    assert sessions.purge_expired(now=later) == 1
    assert sessions.lookup(dead.access_key_id) is None
    assert sessions.lookup(live.access_key_id) == live
    assert sessions.purge_expired(now=later) == 0


def test_sessions_from_before_user_id_still_load(sessions: SessionStore, tmp_path: Path) -> None:
    import orjson

    from squall.storage import keys

    store = SQLiteStore(tmp_path / "old.db")
    old = {
        "access_key_id": "ASIAOLDOLDOLDOLDOLD1",
        "secret_access_key": "s",
        "session_token": "t",
        "account_id": "123456789012",
        "principal_arn": "arn:aws:iam::123456789012:root",
        "expiration": time.time() + 60,
    }
    with store.write() as w:
        w.put(NAMESPACE, keys.pack(old["access_key_id"]), orjson.dumps(old))
    found = SessionStore(store).lookup("ASIAOLDOLDOLDOLDOLD1")
    assert found is not None and found.user_id == ""
