"""The test guest boots on real QEMU, prints A then B after each pass, and its memory checker is strict."""

from __future__ import annotations

import pytest

from guest import (GUEST_MEMORY_MIB, PAGE_SIZE, TOUCH_END, TOUCH_START, TOUCHED_PAGES, PatternError,
                   boot_sector, check_memory_pattern, count_passes, wait_for_serial)


def guest_argv(qemu_binary, accel, disk_image, serial, machine="pc"):
    return [qemu_binary, "-nodefaults", "-machine", machine, "-accel", accel, "-m", str(GUEST_MEMORY_MIB),
            "-display", "none", "-blockdev",
            f'{{"driver":"file","filename":"{disk_image}","node-name":"disk0"}}',
            "-device", "ide-hd,drive=disk0,bus=ide.0", "-serial", f"file:{serial}"]


def test_boot_sector_is_one_bootable_sector():
    sector = boot_sector()
    assert len(sector) == 512
    assert sector[510:] == b"\x55\xaa"


@pytest.mark.timeout(90)
def test_guest_prints_a_then_b_under_kvm(qemu_binary, kvm, disk_image, workdir, launch):
    serial = workdir / "serial.log"
    process = launch(guest_argv(qemu_binary, kvm, disk_image, serial))
    text = wait_for_serial(serial, lambda t: count_passes(t) >= 3, timeout=60, process=process)
    assert text.startswith("AB"), text[:20]
    assert set(text[1:]) == {"B"}
    assert process.is_running()


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_guest_prints_a_then_b(qemu_binary, accel, disk_image, workdir, launch, machine):
    serial = workdir / "serial.log"
    process = launch(guest_argv(qemu_binary, accel, disk_image, serial, machine))
    text = wait_for_serial(serial, lambda t: count_passes(t) >= 5, timeout=60, process=process)
    assert text.startswith("ABBBBB")


def synthetic_dump(value: int, edge: int, base: int = 0) -> bytearray:
    dump = bytearray(TOUCH_END - base)
    for page in range(TOUCHED_PAGES):
        dump[TOUCH_START - base + page * PAGE_SIZE] = (value + 1) & 0xFF if page < edge else value
    return dump


@pytest.mark.parametrize("value,edge", [(7, 0), (7, 100), (255, 5000), (0, TOUCHED_PAGES - 1)])
def test_checker_accepts_the_pattern_with_one_edge(value, edge):
    result = check_memory_pattern(bytes(synthetic_dump(value, edge)))
    assert (result.value, result.edge_page) == (value, edge)
    assert result.edge_address == TOUCH_START + edge * PAGE_SIZE


def test_checker_accepts_a_dump_that_starts_at_one_mib():
    dump = synthetic_dump(3, 10, base=TOUCH_START)
    assert check_memory_pattern(bytes(dump), base=TOUCH_START).edge_page == 10


def test_checker_refuses_a_second_edge():
    dump = synthetic_dump(9, 100)
    dump[TOUCH_START + 50 * PAGE_SIZE] = 9
    with pytest.raises(PatternError, match="expected 10"):
        check_memory_pattern(bytes(dump))


def test_checker_refuses_an_edge_of_two():
    dump = synthetic_dump(9, 100)
    for page in range(100):
        dump[TOUCH_START + page * PAGE_SIZE] = 11
    with pytest.raises(PatternError):
        check_memory_pattern(bytes(dump))


def test_checker_refuses_a_short_dump():
    with pytest.raises(PatternError, match="does not cover"):
        check_memory_pattern(bytes(TOUCH_END - PAGE_SIZE))


def test_the_guest_survives_a_live_migration_with_its_memory(boot_guest, workdir):
    from guest import TOUCH_END
    source = boot_guest("source", wait_passes=2)
    target = boot_guest("target", "-incoming", "defer", wait_passes=0)
    channel = workdir / "migration.sock"
    for monitor in (source.monitor, target.monitor):
        monitor.execute("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    target.monitor.execute("migrate-incoming", {"uri": f"unix:{channel}"})
    source.monitor.execute("migrate-set-parameters", {"max-bandwidth": 1 << 40})
    with target.monitor.expect_event("RESUME") as resumed, source.monitor.expect_event(
            "MIGRATION", lambda e: e.data["status"] in ("completed", "failed")) as finished:
        source.monitor.execute("migrate", {"uri": f"unix:{channel}"})
        assert finished.wait(60).data["status"] == "completed"
        resumed.wait(30)
    target.monitor.execute("stop")
    source_dump, target_dump = workdir / "source.mem", workdir / "target.mem"
    source.monitor.execute("pmemsave", {"val": 0, "size": TOUCH_END, "filename": str(source_dump)})
    target.monitor.execute("pmemsave", {"val": 0, "size": TOUCH_END, "filename": str(target_dump)})
    source_pattern = check_memory_pattern(source_dump.read_bytes())
    target_pattern = check_memory_pattern(target_dump.read_bytes())
    # the target ran on after the switch-over: same pattern or further along, never behind
    progress = ((target_pattern.value - source_pattern.value) % 256) * TOUCHED_PAGES \
        + target_pattern.edge_page - source_pattern.edge_page
    assert 0 <= progress < 200 * TOUCHED_PAGES
    target.monitor.execute("cont")
    target.wait_passes(2)
