"""Suricata argv builders: exact command lines, no shell."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.suricata import command

BIN = Path("/usr/bin/suricata")
CONF = Path("/etc/spanwatch/suricata-eth1.yaml")


def test_test_argv_uses_config_rule_files_without_rule_files() -> None:
    assert command.test_argv(BIN, CONF) == ["/usr/bin/suricata", "-T", "-c", str(CONF)]


def test_test_argv_loads_one_rule_file_exclusively() -> None:
    argv = command.test_argv(BIN, CONF, [Path("/tmp/x/candidate.rules")])
    assert argv == ["/usr/bin/suricata", "-T", "-c", str(CONF), "-S", "/tmp/x/candidate.rules"]


def test_test_argv_rejects_several_rule_files() -> None:
    with pytest.raises(ValueError, match="one -S"):
        command.test_argv(BIN, CONF, [Path("/a.rules"), Path("/b.rules")])


def test_offline_argv_reads_pcap_with_runmode_and_sets() -> None:
    argv = command.offline_argv(
        BIN,
        CONF,
        Path("/data/case.pcap"),
        Path("/tmp/out"),
        extra_sets=["stream.midstream=true", "vars.address-groups.EXTERNAL_NET=any"],
    )
    assert argv == [
        "/usr/bin/suricata", "-c", str(CONF), "-r", "/data/case.pcap", "-l", "/tmp/out",
        "--runmode", "autofp",
        "--set", "stream.midstream=true",
        "--set", "vars.address-groups.EXTERNAL_NET=any",
    ]  # fmt: skip


def test_offline_argv_single_runmode_and_no_checksum_override() -> None:
    argv = command.offline_argv(BIN, CONF, "a.pcap", "out", runmode="single")
    assert argv == ["/usr/bin/suricata", "-c", str(CONF), "-r", "a.pcap", "-l", "out",
                    "--runmode", "single"]  # fmt: skip
    assert "-k" not in argv


@pytest.mark.parametrize("bad", ["novalue", "=x", "--foo=bar"])
def test_offline_argv_rejects_malformed_set(bad: str) -> None:
    with pytest.raises(ValueError, match="name=value"):
        command.offline_argv(BIN, CONF, "a.pcap", "out", extra_sets=[bad])


def test_live_argv_captures_with_af_packet_and_pidfile() -> None:
    argv = command.live_argv(BIN, CONF, "eth1", Path("/var/lib/spanwatch/eve/eth1"),
                             Path("/run/spanwatch/suricata-eth1.pid"))  # fmt: skip
    assert argv == [
        "/usr/bin/suricata", "-c", str(CONF), "--af-packet=eth1",
        "-l", "/var/lib/spanwatch/eve/eth1", "--pidfile", "/run/spanwatch/suricata-eth1.pid",
    ]  # fmt: skip


@pytest.mark.parametrize("bad", ["", "-eth1"])
def test_live_argv_rejects_option_like_interface(bad: str) -> None:
    with pytest.raises(ValueError):
        command.live_argv(BIN, CONF, bad, "/tmp/l", "/tmp/p.pid")


def test_unix_socket_argv_passes_socket_in_option() -> None:
    argv = command.unix_socket_argv(BIN, CONF, Path("/run/spanwatch/pcap.sock"), Path("/tmp/l"))
    assert argv == [
        "/usr/bin/suricata", "-c", str(CONF), "--unix-socket=/run/spanwatch/pcap.sock",
        "-l", "/tmp/l",
    ]  # fmt: skip


def test_argv_items_are_all_strings() -> None:
    argv = command.offline_argv(BIN, CONF, Path("p.pcap"), Path("o"), extra_sets=["a=b"])
    assert all(type(item) is str for item in argv)
