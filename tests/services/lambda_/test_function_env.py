"""The credentials cache of function execution environments (units)."""

from __future__ import annotations

import time
from pathlib import Path

from squall.services.lambda_.function_env import MARGIN_S, FunctionCredentials
from squall.services.lambda_.names import FunctionRef
from squall.services.sts.ports import StsRoleSessions
from squall.services.sts.sessions import SessionStore
from squall.storage import SQLiteStore

ROLE = "arn:aws:iam::123456789012:role/exec"


def ref(name: str = "fn") -> FunctionRef:
    return FunctionRef("123456789012", "us-east-1", name, None)


def sessions(store: SQLiteStore) -> StsRoleSessions:
    """STS's role sessions over `store`, as the composition root gives them to Lambda."""
    return StsRoleSessions(SessionStore(store))


def test_cached_per_version_and_generation(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    fc = FunctionCredentials(sessions(store), keep_alive_s=600)
    first = fc.for_function(ref(), "$LATEST", "rev-1", ROLE, 3)
    assert first is not None and first.access_key_id.startswith("ASIA")
    assert fc.for_function(ref(), "$LATEST", "rev-1", ROLE, 3) is first
    assert fc.for_function(ref(), "1", "rev-1", ROLE, 3) != first
    rotated = fc.for_function(ref(), "$LATEST", "rev-2", ROLE, 3)
    assert rotated is not None and rotated != first
    session = SessionStore(store).lookup(rotated.access_key_id)
    assert session is not None and session.principal_arn == "arn:aws:sts::123456789012:assumed-role/exec/fn"
    assert session.expiration - time.time() > 12 * 3600 - 60


def test_reissued_before_an_ee_could_outlive_them(tmp_path: Path) -> None:
    fc = FunctionCredentials(sessions(SQLiteStore(tmp_path / "state.db")), keep_alive_s=600, session_s=7200)
    now = time.time()
    first = fc.for_function(ref(), "$LATEST", "r", ROLE, 900, now=now)
    # still long enough for keep-alive + timeout + margin: kept
    ok = now + 7200 - (600 + 900 + MARGIN_S) - 10
    assert fc.for_function(ref(), "$LATEST", "r", ROLE, 900, now=ok) is first
    # not any more: fresh ones
    late = now + 7200 - (600 + 900 + MARGIN_S) + 10
    assert fc.for_function(ref(), "$LATEST", "r", ROLE, 900, now=late) != first


def test_no_credentials_without_a_usable_role_and_forget(tmp_path: Path) -> None:
    fc = FunctionCredentials(sessions(SQLiteStore(tmp_path / "state.db")), keep_alive_s=600)
    assert fc.for_function(ref(), "$LATEST", "r", "arn:aws:iam::999999999999:role/x", 3) is None
    assert fc.for_function(ref(), "$LATEST", "r", "not-an-arn", 3) is None
    kept = fc.for_function(ref("f"), "$LATEST", "r", ROLE, 3)
    fc.forget(ref("f"))
    assert fc.for_function(ref("f"), "$LATEST", "r", ROLE, 3) != kept
