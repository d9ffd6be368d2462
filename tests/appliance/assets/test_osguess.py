"""OS clues and the guess with its basis."""

from __future__ import annotations

from appliance.assets import osguess


def test_user_agents() -> None:
    win = osguess.from_user_agent("Mozilla/5.0 (Windows NT 6.1; WOW64) Gecko/20100101")
    assert win is not None and win.os == "Windows 7"
    ios = osguess.from_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)")
    assert ios is not None and ios.os == "iOS"
    assert osguess.from_user_agent("python-requests/2.31") is None


def test_ssh_versions() -> None:
    ubuntu = osguess.from_ssh("OpenSSH_8.9p1 Ubuntu-3ubuntu0.4")
    assert ubuntu is not None and (ubuntu.os, ubuntu.weight) == ("Linux (Ubuntu)", 0.7)
    bare = osguess.from_ssh("OpenSSH_6.7p1")
    assert bare is not None and bare.os == "Unix-like"
    win = osguess.from_ssh("OpenSSH_for_Windows_8.1")
    assert win is not None and win.os == "Windows"


def test_smb_native_os_names_the_product() -> None:
    hint = osguess.from_smb_native_os("Windows 7 Professional 7601 Service Pack 1")
    assert hint is not None and hint.os == "Windows 7 Professional"
    hint = osguess.from_smb_native_os("Windows Server 2003 3790 Service Pack 2")
    assert hint is not None and hint.os == "Windows Server 2003"


def test_the_guess_weighs_sources_not_repetitions() -> None:
    hints = [osguess.OsHint("http-user-agent", f"UA {i}", "Linux", 0.5) for i in range(5)]
    hints += [osguess.OsHint("dhcp-vendor-class", "MSFT 5.0", "Windows", 0.8)]
    os_name, basis = osguess.guess(hints)
    assert os_name == "Windows"
    assert basis == 'dhcp-vendor-class "MSFT 5.0" -> Windows'
    hints.append(osguess.OsHint("http-user-agent", "UA", "Windows 10/11", 0.5))
    assert osguess.guess(hints)[0] == "Windows"  # the heaviest clue of the family names it
    assert osguess.guess([]) == (None, "")
