"""The host's runtime files: status files written only when they change, domain ids unique across processes."""

from __future__ import annotations

from pathlib import Path

from virtkernel.uri import parse_uri
from virtkernel_qemu.paths import QemuPaths
from virtkernel_qemu.state import ID_BLOCK, DomainStore, GuestStatus


def store_at(root: Path) -> DomainStore:
    paths = QemuPaths.for_uri(parse_uri(f"qemu:///embed?root={root}"))
    paths.create()
    return DomainStore(paths)


def status(state: int, name: str = "web1") -> GuestStatus:
    return GuestStatus(name=name, uuid="c7a5fdbd-cdaf-9455-926a-d65c16db1809", id=3, state=state, reason=1,
                       live_xml="<domain/>", persistent=False, qmp="/run/x.qmp", extra={"pause_reason": 2})


def test_a_status_file_is_rewritten_only_when_its_text_changes(workdir):
    store = store_at(workdir)
    path = store.files("web1").status
    store.write_status(status(1))
    assert GuestStatus.from_json(path.read_text()) == status(1)
    path.write_text("left alone")  # stands in for "not written again"
    store.write_status(status(1))
    assert path.read_text() == "left alone"
    store.write_status(status(3))
    assert GuestStatus.from_json(path.read_text()) == status(3)
    store.remove_status("web1")
    assert not path.exists()
    store.write_status(status(3))  # removed: written again even with the same text
    assert GuestStatus.from_json(path.read_text()) == status(3)


def test_domain_ids_stay_unique_when_another_process_takes_the_host_over(workdir):
    first = store_at(workdir)
    ids = [first.next_id() for _ in range(ID_BLOCK + 3)]
    assert ids == list(range(1, ID_BLOCK + 4))
    later = store_at(workdir)  # a new process: continues after everything the first one reserved
    assert later.next_id() > max(ids)
    assert len({later.next_id() for _ in range(ID_BLOCK * 2)}) == ID_BLOCK * 2


def test_blocks_of_ids_two_processes_reserve_in_turn_never_overlap(workdir):
    first, second = store_at(workdir), store_at(workdir)
    seen = [first.next_id(), second.next_id()]  # each reserves a block
    seen += [first.next_id() for _ in range(ID_BLOCK)]  # the first runs out and reserves again
    seen += [second.next_id() for _ in range(ID_BLOCK)]
    assert len(seen) == len(set(seen))
