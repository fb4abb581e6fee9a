"""Request ids (lib/ids.py): distinct version-4 UUIDs, and none shared with a forked child."""

import os
import uuid

from squall.lib.ids import new_request_id


def test_request_ids_are_distinct_version_4_uuids() -> None:
    made = [new_request_id() for _ in range(2000)]  # crosses several refills of the pool
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    new_request_id()  # the pool now holds unused random bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != new_request_id()
