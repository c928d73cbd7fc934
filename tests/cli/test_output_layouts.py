"""virsh's layouts rendered by the command line's formatters, and the --json additions (slow fake driver)."""

from __future__ import annotations

import json

from virtkernel.cli.cmd_snapshot import _print_tree
from virtkernel.cli.format import cpu_list, parse_cpu_list, print_table
from virtkernel.cli.session import GlobalOptions, Session


def test_table_layout_matches_virsh(capsys):
    session = Session(GlobalOptions())
    print_table(session, ["Id", "Name", "State", "Title"], [["1", "test", "running", ""]])
    assert capsys.readouterr().out == (" Id   Name   State     Title\n------------------------------\n"
                                       " 1    test   running   \n")
    quiet = Session(GlobalOptions(quiet=True))
    print_table(quiet, ["Id", "Name", "State"], [["-", "fresh", "shut off"]])
    assert capsys.readouterr().out == " -    fresh   shut off\n"


def test_snapshot_tree_layout(capsys):
    session = Session(GlobalOptions())
    _print_tree(session, ["a", "b", "c", "d"], {"a": None, "b": "a", "c": "a", "d": "b"})
    assert capsys.readouterr().out == ("a\n"
                                       "  |\n"
                                       "  +- b\n"
                                       "  |   |\n"
                                       "  |   +- d\n"
                                       "  |     \n"
                                       "  +- c\n"
                                       "    \n")


def test_cpu_lists():
    assert cpu_list([True] * 8) == "0-7"
    assert cpu_list([False, True, False, True, True, True, False, True]) == "1,3-5,7"
    assert parse_cpu_list("0-3,^2,6", 8) == [True, True, False, True, False, False, True, False]
    assert parse_cpu_list("r", 2) == [True, True]


def test_json_additions(cli, slow):
    opener = slow.opener()
    listed = json.loads(cli("list", "--json", opener=opener).out)
    assert listed == [{"id": 7, "name": "slow", "uuid": "0b5bf8f4-27f1-4cc9-a6a8-6f0bdb0a3f10", "state": "running",
                       "reason": "booted", "persistent": None}]
    info = json.loads(cli("dominfo", "slow", "--json", opener=opener).out)
    assert info["Name"] == "slow" and info["Id"] == 7 and info["Used memory"] == 1024
    job = json.loads(cli("domjobinfo", "slow", "--json", opener=opener).out)
    assert job == {"type": "None", "stats": {}}


def test_domjobinfo_layout(cli, slow):
    assert cli("domjobinfo", "slow", opener=slow.opener()).out == "Job type:         None        \n\n"
