"""The probes on real files and the live host's procfs: each format's parsing rules, precedence between
files, what missing and unreadable mean, and the evidence they give."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from threatstryker.posture.context import Context
from threatstryker.posture.engine import CheckFileError, evaluate, load_check_file, run_probe
from threatstryker.posture.model import ERROR, FAIL, MANUAL, NOT_APPLICABLE, PASS, Check
from threatstryker.sources.dirtree import DirTree

from .rootfs import build, context

SSHD = {"type": "config_value", "format": "sshd", "key": "PermitRootLogin", "expect": {"equals": "no"},
        "paths": ["/etc/ssh/sshd_config.d/*.conf", "/etc/ssh/sshd_config"], "default": "prohibit-password"}


def status(root: Path, spec: dict[str, Any], live: bool = False) -> tuple[str, str]:
    r = run_probe(Context(DirTree(str(root)), live=live), spec)
    return r.status, r.reason


def test_sshd_first_value_wins_dropins_first_and_match_blocks_ignored(tmp_path: Path) -> None:
    main = "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\n"
    root = build(tmp_path / "a", {"/etc/ssh/sshd_config.d/10-hard.conf": "PermitRootLogin no\n",
                                  "/etc/ssh/sshd_config": main})
    assert status(root, SSHD)[0] == PASS
    root = build(tmp_path / "b", {"/etc/ssh/sshd_config": "# PermitRootLogin no\npermitrootlogin=yes\n"
                                                          "PermitRootLogin no\n"})
    assert status(root, SSHD) == (FAIL, "PermitRootLogin is 'yes'")
    root = build(tmp_path / "c", {"/etc/ssh/sshd_config": "Port 22\nMatch User admin\n  PermitRootLogin no\n"})
    assert status(root, SSHD) == (FAIL, "PermitRootLogin is 'prohibit-password'")  # the default, Match ignored
    without_default = {k: v for k, v in SSHD.items() if k != "default"}
    assert status(root, without_default) == (FAIL, "PermitRootLogin not set")


def test_keyvalue_login_defs_ini_and_numbers(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {
        "/etc/login.defs": "PASS_MAX_DAYS\t99999\nPASS_MIN_DAYS 1 # comment\nUMASK 027\n",
        "/etc/default/ufw": 'DEFAULT_INPUT_POLICY="DROP"\n',
        "/etc/systemd/journald.conf": "[Journal]\nStorage=persistent\n",
    })
    login = {"type": "config_value", "format": "login_defs", "paths": ["/etc/login.defs"]}
    assert status(root, {**login, "key": "PASS_MAX_DAYS", "expect": {"max": 365}}) == (FAIL, "PASS_MAX_DAYS is 99999")
    assert status(root, {**login, "key": "pass_min_days", "expect": {"min": 1}})[0] == PASS
    assert status(root, {**login, "key": "UMASK", "expect": {"regex": "0?[0-7]27"}})[0] == PASS
    assert status(root, {"type": "config_value", "format": "keyvalue", "paths": ["/etc/default/ufw"],
                         "key": "DEFAULT_INPUT_POLICY", "expect": {"equals": "drop"}})[0] == PASS
    assert status(root, {"type": "config_value", "format": "ini", "paths": ["/etc/systemd/journald.conf"],
                         "key": "Journal.Storage", "expect": {"equals": "persistent"}})[0] == PASS
    assert status(root, {**login, "key": "UMASK", "expect": {"max": 0o27}})[0] == PASS  # 027 is octal
    assert status(root, {**login, "key": "UMASK", "expect": {"max": 0o22}}) == (FAIL, "UMASK is 027")


def test_sysctl_offline_precedence_and_live_value(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {
        "/usr/lib/sysctl.d/50-default.conf": "net.ipv4.ip_forward = 1\nkernel.randomize_va_space = 2\n",
        "/etc/sysctl.d/50-default.conf": "net.ipv4.ip_forward = 0\n",  # same name: replaces the /usr/lib one
        "/etc/sysctl.d/99-late.conf": "net/ipv4/conf/all/accept_redirects=1\n",
        "/etc/sysctl.conf": "net.ipv4.conf.all.accept_redirects = 0\n",  # read last, wins
    })
    spec = {"type": "sysctl", "expect": {"equals": 0}}
    assert status(root, {**spec, "key": "net.ipv4.ip_forward"})[0] == PASS
    # /etc/sysctl.d/50-default.conf replaces /usr/lib/sysctl.d/50-default.conf whole, as systemd-sysctl does
    assert status(root, {**spec, "key": "kernel.randomize_va_space"}) == (FAIL, "kernel.randomize_va_space not set")
    assert status(root, {**spec, "key": "net.ipv4.conf.all.accept_redirects"})[0] == PASS
    assert status(root, {**spec, "key": "net.ipv4.tcp_syncookies"}) == (FAIL, "net.ipv4.tcp_syncookies not set")
    # the live host: the running value from /proc/sys wins over what the files say
    with open("/proc/sys/kernel/randomize_va_space") as fh:
        running = fh.read().strip()
    r = run_probe(Context(DirTree(str(root)), live=True),
                  {"type": "sysctl", "key": "kernel.randomize_va_space", "expect": {"equals": running}})
    assert r.status == PASS and r.evidence[0].source.startswith("/proc/sys")


def test_file_mode_owner_and_missing(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {"/etc/shadow": {"content": "root:*:1::::::\n", "mode": "0640", "uid": 0, "gid": 42},
                                  "/etc/group": "root:x:0:\nshadow:x:42:\n",
                                  "/etc/crontab": {"content": "", "mode": "0644"}})
    spec = {"type": "file_mode", "path": "/etc/shadow", "max_mode": "0640", "owner": "root", "group": "shadow"}
    assert status(root, spec)[0] == PASS
    assert status(root, {**spec, "max_mode": "0600"}) == (FAIL, "mode 0640 allows more than 0600")
    assert status(root, {"type": "file_mode", "path": "/etc/crontab", "max_mode": "0600"})[0] == FAIL
    assert status(root, {"type": "file_mode", "path": "/etc/nope", "max_mode": "0600"}) == (FAIL, "/etc/nope not found")
    assert status(root, {"type": "file_mode", "path": "/etc/nope", "max_mode": "0600", "missing": "pass"})[0] == PASS


def test_file_content_globs_comments_and_unreadable(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {"/etc/modprobe.d/a.conf": "# install cramfs /bin/false\n",
                                  "/etc/modprobe.d/b.conf": "install cramfs /bin/true\nblacklist cramfs\n",
                                  "/etc/audit/audit.rules": {"dir": True}})
    spec = {"type": "file_content", "paths": ["/etc/modprobe.d/*.conf"], "regex": r"^\s*install\s+cramfs\s+/bin/false"}
    assert status(root, spec)[0] == FAIL  # only in a comment
    assert status(root, {**spec, "regex": r"^\s*blacklist\s+cramfs"})[0] == PASS
    assert status(root, {**spec, "regex": r"^\s*install\s+cramfs\s+/bin/true", "expect": "absent"})[0] == FAIL
    assert status(root, {"type": "file_content", "path": "/etc/audit/audit.rules", "regex": "-e 2"}) == (
        ERROR, "/etc/audit/audit.rules: not a regular file")


def test_packages_from_the_dpkg_database(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {"/var/lib/dpkg/status": "Package: auditd\nStatus: install ok installed\n"
                                  "Version: 1:3.0.9-1\nArchitecture: amd64\n\nPackage: telnetd\n"
                                  "Status: deinstall ok config-files\nVersion: 0.17\nArchitecture: amd64\n\n"})
    assert status(root, {"type": "package", "names": ["auditd"]})[0] == PASS
    assert status(root, {"type": "package", "names": ["telnetd"], "expect": "absent"})[0] == PASS  # removed
    assert status(root, {"type": "package", "names": ["nftables", "ufw"]}) == (FAIL, "nftables / ufw not installed")
    empty = build(tmp_path / "e", {})
    assert status(empty, {"type": "package", "names": ["auditd"]}) == (
        ERROR, "no package database (dpkg, rpm or apk) in the target")
    # a chroot's database inside the tree is not the system's
    chroot = build(tmp_path / "c", {"/var/lib/dpkg/status": "Package: bash\nStatus: install ok installed\n"
                                    "Version: 5\nArchitecture: amd64\n\n",
                                    "/srv/chroot/var/lib/dpkg/status": "Package: telnetd\nStatus: install ok "
                                    "installed\nVersion: 0.17\nArchitecture: amd64\n\n"})
    assert status(chroot, {"type": "package", "names": ["telnetd"], "expect": "absent"})[0] == PASS


def test_systemd_states(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {
        "/lib/systemd/system/cups.service": "[Unit]\n", "/lib/systemd/system/avahi-daemon.service": "[Unit]\n",
        "/lib/systemd/system/rsync.service": "[Unit]\n",
        "/etc/systemd/system/multi-user.target.wants/cups.service": {"symlink": "/lib/systemd/system/cups.service"},
        "/etc/systemd/system/avahi-daemon.service": {"symlink": "/dev/null"},
    })
    spec = {"type": "systemd_unit", "expect": "not_enabled"}
    assert status(root, {**spec, "unit": "cups.service"}) == (FAIL, "cups.service is enabled")
    assert status(root, {**spec, "unit": "avahi-daemon.service"})[0] == PASS
    assert status(root, {"type": "systemd_unit", "unit": "avahi-daemon.service", "expect": "masked"})[0] == PASS
    assert status(root, {"type": "systemd_unit", "unit": "rsync.service", "expect": "disabled"})[0] == PASS
    assert status(root, {**spec, "unit": "nope.service"})[0] == PASS


def test_mount_options_fstab_and_live(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {"/etc/fstab": "UUID=1 / ext4 defaults 0 1\ntmpfs /dev/shm tmpfs "
                                                "defaults,nodev,nosuid 0 0\n# /tmp x y noexec\n"})
    spec = {"type": "mount_option", "mount_point": "/dev/shm", "option": "nodev"}
    assert status(root, spec)[0] == PASS
    assert status(root, {**spec, "option": "noexec"}) == (FAIL, "/dev/shm: noexec missing")
    assert status(root, {**spec, "mount_point": "/tmp"}) == (NOT_APPLICABLE, "/tmp is not a separate file system")
    with open("/proc/self/mounts") as fh:
        proc_root = next(line.split() for line in fh if line.split()[1] == "/")
    live = run_probe(Context(DirTree(str(root)), live=True),
                     {"type": "mount_option", "mount_point": "/", "option": proc_root[3].split(",")[0]})
    assert live.status == PASS and live.evidence[0].source == "/proc/self/mounts"


def test_json_and_yaml_keys(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {"/etc/docker/daemon.json": '{"icc": false, "log-driver": "journald"}',
                                  "/var/lib/kubelet/config.yaml": "authentication:\n  anonymous:\n    enabled: true\n",
                                  "/etc/bad.json": "{not json"})
    assert status(root, {"type": "json_key", "path": "/etc/docker/daemon.json", "key": "icc",
                         "expect": {"equals": "false"}})[0] == PASS
    assert status(root, {"type": "json_key", "path": "/etc/docker/daemon.json", "key": "userns-remap",
                         "expect": {"present": True}}) == (FAIL, "userns-remap not set")
    assert status(root, {"type": "yaml_key", "path": "/var/lib/kubelet/config.yaml",
                         "key": "authentication.anonymous.enabled", "expect": {"equals": "false"}}) == (
        FAIL, "authentication.anonymous.enabled is 'true'")
    assert status(root, {"type": "json_key", "path": "/etc/bad.json", "key": "x", "expect": {"present": True}})[0] \
        == ERROR


def test_process_flags_on_the_live_host(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {})
    spec = {"type": "process_flag", "process": "ts-kubelet-test", "flag": "--anonymous-auth",
            "expect": {"equals": "false"}}
    assert status(root, spec)[0] == NOT_APPLICABLE  # offline
    assert status(root, spec, live=True) == (NOT_APPLICABLE, "no ts-kubelet-test process is running")
    code = "import time; time.sleep(60)"
    proc = subprocess.Popen(["bash", "-c", f'exec -a ts-kubelet-test {sys.executable} -c "{code}" '
                                           "--anonymous-auth=true --port 10250"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and status(root, spec, live=True)[0] == NOT_APPLICABLE:
            time.sleep(0.05)
        assert status(root, spec, live=True) == (FAIL, f"ts-kubelet-test (pid {proc.pid}): --anonymous-auth is 'true'")
        assert status(root, {**spec, "flag": "--port", "expect": {"equals": "10250"}}, live=True)[0] == PASS
    finally:
        proc.kill()
        proc.wait()


def test_all_any_manual_and_applies_if(tmp_path: Path) -> None:
    root = build(tmp_path / "r", {"/etc/a": "x\n"})
    yes = {"type": "file_exists", "path": "/etc/a"}
    no = {"type": "file_exists", "path": "/etc/b"}
    broken = {"type": "file_content", "path": "/etc", "regex": "x"}
    assert status(root, {"type": "all", "probes": [yes, no]})[0] == FAIL
    assert status(root, {"type": "any", "probes": [no, yes]})[0] == PASS
    assert status(root, {"type": "any", "probes": [no, broken]})[0] == ERROR
    assert status(root, {"type": "manual", "reason": "look at the BIOS"}) == (MANUAL, "look at the BIOS")
    not_here = {"type": "mount_option", "mount_point": "/tmp", "option": "nodev"}  # no separate /tmp: N/A
    assert status(root, {"type": "all", "probes": [yes, not_here]})[0] == PASS
    assert status(root, {"type": "any", "probes": [no, not_here]})[0] == FAIL
    assert status(root, {"type": "all", "probes": [not_here, not_here]})[0] == NOT_APPLICABLE
    check = Check("t-1", "t", "linux", "a", "d", "r", "fix", "low", 1, yes, applies_if=no)
    assert evaluate(check, context(root)).status == NOT_APPLICABLE
    check = Check("t-2", "t", "linux", "a", "d", "r", "fix", "low", 1, yes, applies_if=broken)
    assert evaluate(check, context(root)).status == ERROR


@pytest.mark.parametrize(("text", "message"), [
    ("benchmark: linux\narea: x\nchecks:\n  - id: a\n", "missing title"),
    ("benchmark: windows\narea: x\nchecks: []\n", "benchmark must be one of"),
    ("benchmark: linux\narea: x\nchecks:\n  - {id: a, title: t, description: d, rationale: r, remediation: f, "
     "severity: high, level: 1, probe: {type: sysctl, key: k, expect: {approx: 1}}}\n", "expect must be one of"),
    ("benchmark: linux\narea: x\nchecks:\n  - {id: a, title: t, description: d, rationale: r, remediation: f, "
     "severity: high, level: 1, probe: {type: teleport}}\n", "unknown probe type 'teleport'"),
])
def test_bad_check_files_name_file_and_check(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CheckFileError, match=message) as exc:
        load_check_file(path)
    assert str(path) in str(exc.value)


def test_probes_stay_inside_the_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside.conf"
    outside.write_text("PermitRootLogin no\n")
    root = build(tmp_path / "r", {"/etc/ssh/sshd_config": {"symlink": str(outside)}})
    assert os.path.islink(root / "etc/ssh/sshd_config")
    assert status(root, SSHD)[0] == FAIL  # the absolute link resolves inside the target, where nothing is


def test_packages_from_an_rpm_database_only_the_systems_own(tmp_path: Path) -> None:
    import lzma

    db = lzma.decompress((Path(__file__).parent.parent / "sbom/catalogers/data/rpm/rpmdb.sqlite.xz").read_bytes())
    root = tmp_path / "r"
    (root / "var/lib/rpm").mkdir(parents=True)
    (root / "var/lib/rpm/rpmdb.sqlite").write_bytes(db)  # written by rpm itself (make_fixtures.sh)
    assert status(root, {"type": "package", "names": ["libfoo"]})[0] == PASS
    assert status(root, {"type": "package", "names": ["telnet-server"], "expect": "absent"})[0] == PASS
    # the same database elsewhere in the tree (a backup, a chroot) is not the system's
    other = tmp_path / "o"
    (other / "srv/backup/var/lib/rpm").mkdir(parents=True)
    (other / "srv/backup/var/lib/rpm/rpmdb.sqlite").write_bytes(db)
    assert status(other, {"type": "package", "names": ["libfoo"]})[0] == ERROR
    # a damaged database is an error naming it, never "absent"
    broken = tmp_path / "b"
    (broken / "var/lib/rpm").mkdir(parents=True)
    (broken / "var/lib/rpm/rpmdb.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    got = status(broken, {"type": "package", "names": ["telnet-server"], "expect": "absent"})
    assert got[0] == ERROR and "/var/lib/rpm/rpmdb.sqlite" in got[1], got
