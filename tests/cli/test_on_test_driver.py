"""Commands on test:///default beyond the virsh recordings: long jobs, JSON, errors, completion."""

from __future__ import annotations

import json

from virtkernel.cli.completion import complete
from virtkernel.cli.session import open_connection

URI = "test:///default"


def test_long_jobs_with_verbose(cli, tmp_path):
    core, image = tmp_path / "test.core", tmp_path / "test.img"
    result = cli("-c", URI, f"dump test {core} --verbose; save test {image} --verbose; "
                            f"restore {image} --verbose; managedsave test --verbose; domstate test --reason")
    assert result.status == 0, result.err
    assert result.out == (f"\nDomain 'test' dumped to {core}\n\n"
                          f"\nDomain 'test' saved to {image}\n\n"
                          f"\nDomain restored from {image}\n\n"
                          "\nDomain 'test' state saved by libvirt\n\n"
                          "shut off (saved)\n\n")
    assert result.err == "\rDump: [100 %]\rSave: [100 %]\rRestore: [100 %]\rManagedsave: [100 %]"
    assert core.exists() and image.exists()


def test_json_outputs(cli):
    listed = json.loads(cli("-c", URI, "list", "--all", "--json", "--title").out)
    assert listed == [{"id": 1, "name": "test", "uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f", "state": "running",
                       "reason": "unknown", "persistent": True, "title": ""}]
    info = json.loads(cli("-c", URI, "dominfo", "test", "--json").out)
    assert info["Security label"] == {"label": "libvirt-test", "mode": "enforcing"}
    assert info["Max memory"] == 8388608 and info["Persistent"] is True
    stats = json.loads(cli("-c", URI, "domstats", "--state", "--json").out)
    assert stats == [{"domain": "test", "stats": {"state.state": 1, "state.reason": 0}}]


def test_cpu_list_errors_name_the_cpu(cli):
    assert cli("-c", URI, "vcpupin", "test", "0", "9").err == "error: CPU 9 in cpulist '9' exceed the maxcpu 8\n"
    result = cli("-c", URI, "emulatorpin", "test", "x")
    assert result.err == "error: Invalid cpulist 'x'\nerror: invalid argument: Failed to parse bitmap 'x'\n"


def test_vcpucount_single_values(cli):
    assert cli("-c", URI, "vcpucount", "test", "--live").out == "2\n\n"
    assert cli("-c", URI, "vcpucount", "test", "--maximum").out == "2\n\n"
    result = cli("-c", URI, "vcpucount", "test", "--maximum", "--active")
    assert result.err == "error: Options --maximum and --active are mutually exclusive\n"


def test_domain_names_complete_from_the_uri_on_the_line():
    assert complete(["-c", URI, "dominfo", ""], open_connection) == ["test"]
    assert complete(["-c", URI, "snapshot-list", "--domain", "t"], open_connection) == ["test"]
    assert complete(["--connect=" + URI, "start", "te"], open_connection) == ["test"]


def test_snapshot_names_complete(cli):
    words = ["-c", URI, "snapshot-revert", "test", ""]
    # every connection to test:///default in this process shares one state while one stays open
    with open_connection(URI, False) as keep:
        keep.lookup_by_name("test").snapshot_create_xml("<domainsnapshot><name>before</name></domainsnapshot>")
        assert complete(words, open_connection) == ["before"]


def test_undefine_refuses_storage_removal(cli):
    result = cli("-c", URI, "undefine", "test", "--remove-all-storage")
    assert result.status == 1
    assert result.err.startswith("error: --remove-all-storage is not supported: virtkernel has no storage volume")


def test_plugins_lists_the_installed_test_driver(cli):
    result = cli("plugins")
    assert result.status == 0
    assert any(line.split()[:3] == ["driver", "test", "virtkernel-test"] for line in result.out.splitlines())


def test_help_for_an_unknown_command(cli):
    result = cli("help", "lsit")
    assert (result.status, result.err) == (1, "error: command or command group 'lsit' doesn't exist\n"
                                              "hint: did you mean 'list'?\n")


def test_snapshot_tree_from_a_snapshot(cli):
    from pathlib import Path
    host = Path(__file__).resolve().parent.parent / "golden" / "hosts" / "snapshots.xml"
    result = cli("-c", f"test://{host}", "snapshot-list vault --tree --from base; snapshot-list vault --from base")
    assert result.status == 0, result.err
    assert result.out.startswith("base\n  |\n  +- patched\n    \n\n")
    assert " patched   " in result.out and " base " not in result.out.split("\n\n", 1)[1]


def test_schedinfo_reads_like_virsh_legacy_getter_plain_flagged_getter_with_current(cli) -> None:
    plain = cli("-c", "test:///default", "schedinfo", "test")
    assert plain.status == 0 and plain.out == "Scheduler      : fair\nweight         : 50\n\n"
    current = cli("-c", "test:///default", "schedinfo", "test", "--current")
    assert current.status == 1 and current.out == "Scheduler      : fair\n\n"
    assert current.err == "error: unsupported flags (0x4) in function testDomainGetSchedulerParametersFlags\n"
