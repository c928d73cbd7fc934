"""The command line's own behaviour: global options, parsing, errors, help — what a user sees."""

from __future__ import annotations

import pytest

from virtkernel import __version__
from virtkernel.cli.parse import split_line
from virtkernel.cli.table import COMMANDS, OptType


def test_version_prints_the_version(cli):
    result = cli("--version")
    assert (result.status, result.out, result.err) == (0, f"{__version__}\n", "")
    assert cli("-v").out == f"{__version__}\n"


@pytest.mark.parametrize("argv, message", [
    (["-c"], "error: option '-c'/'--connect' requires an argument\n"),
    (["--connect"], "error: option '-c'/'--connect' requires an argument\n"),
    (["-d"], "error: option '-d'/'--debug' requires an argument\n"),
    (["-x"], "error: unsupported option '-x'. See --help.\n"),
    (["--bogus", "list"], "error: unsupported option '--bogus'. See --help.\n"),
    (["-d", "abc", "list"], "error: option -d takes a numeric argument\n"),
])
def test_global_option_errors(cli, argv, message):
    result = cli(*argv)
    assert (result.status, result.out, result.err) == (1, "", message)


def test_help_lists_groups_and_commands(cli):
    result = cli("help")
    assert result.status == 0
    assert result.out.startswith("Grouping of commands:\n\n Domain Management (help keyword 'domain'):\n")
    for name in ("list", "migrate", "snapshot-list", "nodeinfo", "console", "completion"):
        assert f"\n    {name:<30} " in result.out


def test_help_for_one_command_comes_from_the_table(cli):
    result = cli("help", "setmem")
    assert result.status == 0
    assert "    setmem - change memory allocation\n" in result.out
    assert "    setmem <domain> <size> [--config] [--live] [--current]\n" in result.out
    assert "    [--domain] <string>  domain name, id or uuid\n" in result.out
    assert "    [--size] <number>  new memory size, as scaled integer (default KiB)\n" in result.out
    assert "    --live           affect running domain\n" in result.out


def test_help_for_a_group(cli):
    out = cli("help", "snapshot").out
    assert out.startswith(" Snapshot (help keyword 'snapshot'):\n")
    assert "snapshot-revert" in out and "dominfo" not in out


def test_unknown_command_names_the_closest_real_one(cli):
    result = cli("lsit")
    assert (result.status, result.out) == (1, "")
    assert result.err == "error: unknown command: 'lsit'\nhint: did you mean 'list'?\n"
    far = cli("nosuchcommand")
    assert far.err == "error: unknown command: 'nosuchcommand'\n"


def test_unknown_option_names_the_closest_real_one(cli):
    result = cli("list", "--tilte")
    assert result.status == 1
    assert result.err == "error: command 'list' doesn't support option --tilte\nhint: did you mean --title?\n"


@pytest.mark.parametrize("argv, message", [
    (["dominfo"], "error: command 'dominfo' requires <domain> option\n"),
    (["setmem", "--domain", "x"], "error: command 'setmem' requires --size option\n"),
    (["dominfo", "--domain"], "error: expected syntax: --domain <string>\n"),
    (["dominfo", "a", "--domain", "b"], "error: option --domain already seen\n"),
    (["dominfo", "a", "extra"], "error: unexpected data 'extra'\n"),
    (["list", "-all"], "error: unexpected data '-all'\n"),
    (["list", "--all=yes"], "error: option --all does not take a value\n"),
])
def test_argument_errors_name_what_is_wrong_and_run_nothing(cli, argv, message):
    result = cli(*argv)
    assert (result.status, result.out, result.err) == (1, "", message)


def test_a_usage_error_anywhere_in_a_line_runs_nothing(cli, slow):
    result = cli("suspend slow; lsit", opener=slow.opener())
    assert result.status == 1 and result.out == ""
    assert slow.running


def test_bad_values_name_the_option_and_the_value(cli, slow):
    opener = slow.opener()
    result = cli("setvcpus", "slow", "abc", opener=opener)
    assert result.status == 1
    assert result.err == "error: Numeric value 'abc' for <count> option is malformed or out of range\n"
    result = cli("setmem", "slow", "-5", opener=opener)
    assert result.err == "error: Scaled numeric value '-5' for <size> option is malformed or out of range\n"
    result = cli("setmem", "slow", "5x", opener=opener)
    assert result.err == ("error: Scaled numeric value '5x' for <size> option is malformed or out of range\n"
                          "error: invalid argument: unknown suffix 'x'\n")


def test_kernel_errors_print_as_error_lines_without_traceback(cli, slow):
    # the fake driver has no domain_suspend: the kernel's "not supported" VirtError is what the user sees
    result = cli("suspend", "slow", opener=slow.opener())
    assert result.status == 1
    assert result.err.startswith("error: Failed to suspend domain 'slow'\n"
                                 "error: this function is not supported by the connection driver")
    assert "Traceback" not in result.err
    assert result.out == "\n"


def test_unknown_domain(cli, slow):
    result = cli("dominfo", "nosuch", opener=slow.opener())
    assert (result.status, result.out, result.err) == (1, "\n", "error: failed to get domain 'nosuch'\n")


def test_domain_by_id_uuid_and_name(cli, slow):
    opener = slow.opener()
    assert cli("domname", "7", opener=opener).out == "slow\n\n"
    assert cli("domid", "slow", opener=opener).out == "7\n\n"
    assert cli("domname", "0b5bf8f4-27f1-4cc9-a6a8-6f0bdb0a3f10", opener=opener).out == "slow\n\n"
    assert cli("domuuid", "slow", opener=opener).out == "0b5bf8f4-27f1-4cc9-a6a8-6f0bdb0a3f10\n\n"


def test_semicolons_run_several_commands_and_the_last_status_counts(cli, slow):
    opener = slow.opener()
    result = cli("dominfo nosuch; domstate slow --reason", opener=opener)
    assert (result.status, result.out) == (0, "\nrunning (booted)\n\n")
    assert result.err == "error: failed to get domain 'nosuch'\n"
    result = cli("domstate", "slow", ";", "domid", "slow", opener=opener)
    assert (result.status, result.out) == (0, "running\n\n7\n\n")


def test_quiet_drops_the_blank_lines_and_table_headers(cli, slow):
    result = cli("-q", "list; domstate slow", opener=slow.opener())
    assert result.out == " 7    slow   running\nrunning\n"


def test_timing(cli, slow):
    out = cli("-t", "domid", "slow", opener=slow.opener()).out
    assert out.startswith("7\n\n(Time: ") and out.endswith(" ms)\n\n")


def test_failed_connection_stops_the_run(cli):
    result = cli("-c", "nosuchscheme:///x", "uri")
    assert (result.status, result.out) == (1, "")
    assert result.err.startswith("error: failed to connect to the hypervisor\nerror: ")


def test_default_uri_comes_from_the_environment(cli, monkeypatch):
    monkeypatch.setenv("VIRTKERNEL_DEFAULT_URI", "nosuchscheme:///from-env")
    result = cli("uri")
    assert "nosuchscheme" in result.err


def test_read_only_is_passed_to_the_connection(cli, slow):
    seen = []
    opener = slow.opener()

    def recording(uri, read_only):
        seen.append((uri, read_only))
        return opener(uri, read_only)

    cli("-r", "-c", "fake:///x", "domid", "slow", opener=recording)
    assert seen == [("fake:///x", True)]


def test_an_unexpected_exception_is_reported_not_raised(cli, slow, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("virtkernel.cli.session.Session.line", explode)
    result = cli("uri", opener=slow.opener())
    assert result.status == 1
    assert result.err == "error: internal error: RuntimeError: boom\n"


@pytest.mark.parametrize("line, commands", [
    ("list --all", [["list", "--all"]]),
    ("desc test 'My title'; list", [["desc", "test", "My title"], ["list"]]),
    ('metadata x --set "<a b=\\"c\\"/>"', [["metadata", "x", "--set", '<a b="c"/>']]),
    ("a 'semi;colon' ; b # comment ; c", [["a", "semi;colon"], ["b"]]),
    ("a\\ b", [["a b"]]),
])
def test_line_splitting(line, commands):
    assert split_line(line) == commands


def test_every_command_is_documented_and_well_formed():
    for name, definition in COMMANDS.items():
        assert definition.help, name
        assert definition.handler.__doc__ or definition.description, name
        argv = [o for o in definition.options if o.type is OptType.ARGV]
        assert len(argv) <= 1, name
        for option in definition.options:
            assert option.help, f"{name} --{option.name}"


def test_issue_commands_exist():
    wanted = """list dominfo domstate domid domname domuuid dumpxml define undefine create start destroy shutdown
    reboot reset suspend resume save restore managedsave managedsave-remove dump setmem setmaxmem memtune setvcpus
    vcpucount vcpuinfo vcpupin emulatorpin schedinfo blkiotune domblklist domblkstat domiflist domifstat dommemstat
    domblkinfo attach-device detach-device update-device autostart domrename desc metadata domhostname domtime
    domfsfreeze domfsthaw domifaddr snapshot-create-as snapshot-list snapshot-revert snapshot-delete
    snapshot-current domjobinfo domjobabort migrate migrate-setmaxdowntime migrate-getmaxdowntime migrate-setspeed
    migrate-getspeed migrate-compcache migrate-postcopy event domstats capabilities domcapabilities version uri
    hostname nodeinfo sysinfo plugins console""".split()
    assert [name for name in wanted if name not in COMMANDS] == []
    migrate = COMMANDS["migrate"]
    for option in ("live", "p2p", "tunnelled", "persistent", "undefinesource", "copy-storage-all",
                   "copy-storage-inc", "postcopy", "offline", "verbose", "migrateuri", "listen-address", "bandwidth",
                   "parallel", "compressed", "timeout", "auto-converge", "dry-run"):
        assert migrate.option(option) is not None, option


def test_a_bad_console_escape_is_refused_before_anything_runs(cli):
    result = cli("-e", "xx", "-c", "nosuchscheme:///", "uri")
    assert (result.status, result.out, result.err) == (1, "", "error: Invalid string 'xx' for escape sequence\n")
