"""Record real virsh output on libvirt's test driver: `python3 tests/golden/virsh/record_virsh.py`.

Each case runs in a fresh `virsh` process (state needed by a later command is built in the same
invocation with `;`-separated commands) and is stored in virsh.json as
{"argv", "files", "normalise", "status", "stdout", "stderr"}: argv[0] is the program ("virsh"),
stdout/stderr are the exact text except where a named rule in `normalise` masked a volatile part.
`replay(record, ["virtkernel"])` runs another program the same way (argv[1:], a fresh {tmp}
directory holding the case's `files`, the same normalisation) for a direct comparison.
`--check` re-records into memory and fails if virsh.json differs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTS_DIR = os.path.join(os.path.dirname(HERE), "hosts")
GOLDEN_FILE = os.path.join(HERE, "virsh.json")
URI = "test:///default"
# virsh 9.0 sometimes hangs for ever after an asynchronous job (save, managedsave) has finished
# (one run in 10 to 40 here, sometimes several in a row): such a run is killed after VIRSH_HANG_SECONDS (a
# normal run takes 0.03 s) and started again. HANG_SECONDS bounds a replay through virtkernel's CLI.
HANG_SECONDS = 12
VIRSH_HANG_SECONDS = 4
VIRSH_RETRIES = 12

DOMAIN_XML = (
    "<domain type='test'><name>fresh</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
    "<memory unit='KiB'>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>\n"
)
BROKEN_XML = "<domain type='test'><name>broken</name>\n"
DEVICE_XML = (
    "<disk type='file' device='disk'><source file='/guest/extra.img'/>"
    "<target dev='vdb' bus='virtio'/></disk>\n"
)

# Volatile parts of virsh output: rule name -> (pattern, replacement).
RULES: dict[str, tuple[str, str]] = {
    # Counters the test driver derives from the clock (domblkstat, domifstat).
    "counters": (r"^(\S+ (?:rd|wr|rx|tx|errs|flush)\S*) \d+$", r"\1 <int>"),
    "cpu_time": (r"^(CPU time: +)[0-9.]+s$", r"\1<time>"),
    "stats_times": (r"^(  (?:cpu|vcpu\.\d+|block\.\d+\.\w+|net\.\d+\.\w+)\.\w+=)\d+$", r"\1<int>"),
    "versions": (r"\b\d+\.\d+\.\d+\b", "<version>"),
    "creation_time": (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}", "<time>"),
    "snapshot_name": (r"^(Domain snapshot )\d+( created)$", r"\1<name>\2"),
    # The machine's name (the whole first line of `virsh hostname`).
    "hostname": (r"\A[^\n]+", "<hostname>"),
}


def normalise_output(text: str, rules: list[str] | tuple[str, ...], tmpdir: str) -> str:
    """Replace the temp and host-file directories by {tmp} and {hosts}, then apply the named rules."""
    text = text.replace(HOSTS_DIR, "{hosts}")
    if tmpdir:
        text = text.replace(tmpdir, "{tmp}")
    for rule in rules:
        pattern, replacement = RULES[rule]
        text = re.sub(pattern, replacement, text, flags=re.M)
    return text


@dataclass(frozen=True)
class Case:
    """One virsh invocation: arguments after the program name, files to create in {tmp}, rules to apply."""

    args: tuple[str, ...]
    normalise: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)


def on_host(host: str, *commands: str, normalise: tuple[str, ...] = ()) -> Case:
    """virsh -c test:///{hosts}/HOST "CMD1; ..." on a host file of tests/golden/hosts/."""
    uri = "test://{hosts}/" + host
    args = ("-c", uri, *commands[0].split()) if len(commands) == 1 else ("-c", uri, "; ".join(commands))
    return Case(args, normalise)


def on_default(*commands: str, normalise: tuple[str, ...] = (), files: dict[str, str] | None = None) -> Case:
    """virsh -c test:///default "CMD1; CMD2; ..." (a single command is passed as separate words)."""
    if len(commands) == 1:
        args = ("-c", URI, *commands[0].split())
    else:
        args = ("-c", URI, "; ".join(commands))
    return Case(args, normalise, files or {})


CASES: list[Case] = [
    # Listing and identity.
    on_default("list"), on_default("list --all"), on_default("list --inactive"), on_default("list --name"),
    on_default("list --uuid"), on_default("list --title"), on_default("list --all --name"),
    on_default("list --state-paused"), on_default("list --table --all"), on_default("dominfo test", normalise=("cpu_time",)),
    on_default("dominfo 1", normalise=("cpu_time",)),
    on_default("dominfo 6695eb01-f6a4-8304-79aa-97f2502e193f", normalise=("cpu_time",)),
    on_default("domstate test"), on_default("domstate test --reason"), on_default("domid test"),
    on_default("domname 1"), on_default("domuuid test"), on_default("domname 6695eb01-f6a4-8304-79aa-97f2502e193f"),
    # CPUs and tuning.
    on_default("vcpuinfo test", normalise=("cpu_time",)), on_default("vcpupin test"), on_default("vcpucount test"),
    on_default("vcpucount test --maximum --config"), on_default("emulatorpin test"), on_default("schedinfo test"),
    on_default("blkiotune test"), on_default("memtune test"), on_default("numatune test"), on_default("maxvcpus"),
    # Statistics and devices.
    on_default("domblkstat test vda", normalise=("counters",)), on_default("domifstat test testnet0", normalise=("counters",)),
    on_default("dommemstat test"), on_default("domstats", normalise=("stats_times",)),
    on_default("domstats test", normalise=("stats_times",)), on_default("domstats --state --list-active"),
    on_default("domjobinfo test"), on_default("domblklist test"), on_default("domblklist test --details"),
    on_default("domiflist test"), on_default("domblkinfo test vda"), on_default("domblkinfo test /guest/diskimage1"),
    on_default("domcontrol test"), on_default("domtime test"), on_default("domhostname test"),
    on_default("domifaddr test"),
    # Host.
    on_default("nodeinfo"), on_default("freecell --all"), on_default("version", normalise=("versions",)),
    on_default("uri"), on_default("hostname", normalise=("hostname",)), on_default("capabilities"),
    on_default("sysinfo"), on_default("dumpxml test"), on_default("dumpxml test --inactive"),
    Case(("--version",), ("versions",)),
    # State changes observed within one invocation.
    on_default("suspend test", "domstate test --reason"),
    on_default("suspend test", "resume test", "domstate test --reason"),
    on_default("destroy test", "list --all"),
    on_default("destroy test", "dommemstat test"),
    on_default("destroy test", "start test", "list"),
    on_default("shutdown test", "domstate test --reason"),
    on_default("reboot test", "domstate test --reason"),
    on_default("reset test", "domstate test --reason"),
    on_default("setmem test 512000", "dominfo test", normalise=("cpu_time",)),
    on_default("setmaxmem test 4194304 --config", "dominfo test", "dumpxml test --inactive", normalise=("cpu_time",)),
    on_default("setvcpus test 1 --live", "vcpucount test"),
    on_default("setvcpus test 1 --config", "vcpucount test"),
    on_default("vcpupin test 0 1", "vcpupin test"),
    on_default("emulatorpin test 2-3", "emulatorpin test"),
    on_default("schedinfo test --set weight=100", "schedinfo test"),
    on_default("blkiotune test --weight 500", "blkiotune test"),
    on_default("memtune test --hard-limit 4194304", "memtune test"),
    on_default("autostart test", "dominfo test", normalise=("cpu_time",)),
    on_default("desc test --title 'My title'", "list --title", "desc test --title"),
    on_default("desc test 'A longer description'", "desc test"),
    on_default("save test {tmp}/test.img", "list --all", "restore {tmp}/test.img", "domstate test --reason"),
    on_default("managedsave test", "domstate test --reason", "list --all --managed-save", "start test",
               "domstate test --reason"),
    on_default("undefine test", "list --all", "destroy test", "list --all"),
    on_default("define {tmp}/fresh.xml", "list --all", "start fresh", "domstate fresh --reason",
               files={"fresh.xml": DOMAIN_XML}),
    on_default("create {tmp}/fresh.xml", "list --all", "dominfo fresh", normalise=("cpu_time",),
               files={"fresh.xml": DOMAIN_XML}),
    on_default("define {tmp}/fresh.xml", "domrename fresh renamed", "list --all", files={"fresh.xml": DOMAIN_XML}),
    on_default("snapshot-create-as test s1", "snapshot-create-as test s2", "snapshot-list test",
               "snapshot-list test --tree", "snapshot-current test --name", "snapshot-revert test s1",
               "snapshot-delete test s1 --children", "snapshot-list test --name", normalise=("creation_time",)),
    on_default("attach-device test {tmp}/disk.xml", files={"disk.xml": DEVICE_XML}),
    on_default("metadata test http://example.org/app --key app --set '<info tier=\"gold\"/>'",
               "metadata test http://example.org/app"),
    # Errors: unknown domain, command, options, values.
    on_default("dominfo nosuch"), on_default("domstate 42"), on_default("domuuid nosuch"),
    on_default("nosuchcommand"), on_default("dominfo"), on_default("domblkstat test"),
    on_default("dominfo test extra-arg"), on_default("list --bogus"),
    on_default("setvcpus test abc"), on_default("setmem test -5"), on_default("setvcpus test 5 --live"),
    on_default("setmem test 99999999"), on_default("domblkstat test vdz"), on_default("domifstat test nosuch0"),
    on_default("start test"), on_default("resume test"), on_default("destroy test", "destroy test"),
    on_default("destroy test", "suspend test"), on_default("domjobabort test"),
    on_default("define {tmp}/broken.xml", files={"broken.xml": BROKEN_XML}),
    on_default("define {tmp}/missing.xml"), on_default("restore {tmp}/missing.img"),
    on_default("dominfo nosuch", "domstate test"),
    # Host files: several domains in several states, snapshots with fixed times.
    *[on_host("mixed.xml", command, normalise=("cpu_time",) if command.startswith("dominfo") else ())
      for command in (
        "list --all", "list --all --title", "list --inactive", "list --all --managed-save", "list --transient",
        "list --persistent --all", "list --state-shutoff", "list --state-other", "list --state-running",
        "list --all --uuid", "list --with-managed-save --all --name", "dominfo db", "dominfo parked",
        "domstate db --reason", "nodeinfo", "domblklist web", "domiflist web", "desc web --title",
    )],
    *[on_host("states.xml", f"domstate {state} --reason") for state in (
        "nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended")],
    on_host("states.xml", "list --all"), on_host("states.xml", "list --state-other --all"),
    on_host("snapshots.xml", "snapshot-list vault"), on_host("snapshots.xml", "snapshot-list vault --tree"),
    on_host("snapshots.xml", "snapshot-list vault --parent"), on_host("snapshots.xml", "snapshot-info vault base"),
    on_host("snapshots.xml", "snapshot-current vault --name"), on_host("snapshots.xml", "list --all --with-snapshot"),
    on_host("snapshots.xml", "snapshot-revert vault patched", "domstate vault --reason", "dominfo vault",
            normalise=("cpu_time",)),
    on_host("bad_runstate.xml", "list"),
    Case(("-c",)), Case(("-x",)), Case(("-c", "test:///no/such/host.xml", "list")),
    Case(("-c", URI, "-r", "destroy test")), Case(("-c", URI, "--readonly", "list")),
]


def run_program(argv: list[str], env: dict[str, str], retries: int,
                timeout: float = HANG_SECONDS) -> subprocess.CompletedProcess:
    """Run a program with stdin closed; a run that hangs is killed and started again `retries` times."""
    for _ in range(retries + 1):
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            continue
    raise RuntimeError(f"{argv[0]} hung {retries + 1} times in a row ({timeout:g} s each): {' '.join(argv[1:])}")


def replay(record: dict, program: list[str], retries: int = 0, timeout: float = HANG_SECONDS) -> dict:
    """Run `program` (e.g. ["virtkernel"]) with a recorded case's arguments; same shape as the record.

    A CLI test asserts `replay(record, ["virtkernel"]) == record` for each record of virsh.json.
    """
    with tempfile.TemporaryDirectory(prefix="golden-virsh-") as tmpdir:
        for name, content in record["files"].items():
            with open(os.path.join(tmpdir, name), "w", encoding="utf-8") as handle:
                handle.write(content)
        argv = [*program, *(arg.replace("{tmp}", tmpdir).replace("{hosts}", HOSTS_DIR) for arg in record["argv"][1:])]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC", "HOME": tmpdir}
        done = run_program(argv, env, retries, timeout)
        rules = record["normalise"]
        return {
            "argv": record["argv"],
            "files": record["files"],
            "normalise": rules,
            "status": done.returncode,
            "stderr": normalise_output(done.stderr.decode("utf-8"), rules, tmpdir),
            "stdout": normalise_output(done.stdout.decode("utf-8"), rules, tmpdir),
        }


def run_case(case: Case) -> dict:
    """Run one case with real virsh in a clean environment and record its normalised output."""
    template = {"argv": ["virsh", *case.args], "files": case.files, "normalise": list(case.normalise)}
    return replay(template, ["virsh"], retries=VIRSH_RETRIES, timeout=VIRSH_HANG_SECONDS)


def dump(records: list[dict]) -> str:
    """virsh.json's exact text: one case per line."""
    return "[\n" + ",\n".join(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records) + "\n]\n"


def main() -> int:
    """Record (or with --check, verify) virsh.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the existing file instead of writing")
    options = parser.parse_args()
    text = dump([run_case(case) for case in CASES])
    if options.check:
        with open(GOLDEN_FILE, encoding="utf-8") as handle:
            if handle.read() != text:
                print(f"{GOLDEN_FILE} is stale or the recording is not deterministic", file=sys.stderr)
                return 1
        print(f"{len(CASES)} virsh cases match {GOLDEN_FILE}")
        return 0
    with open(GOLDEN_FILE, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"recorded {len(CASES)} virsh cases into {GOLDEN_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
