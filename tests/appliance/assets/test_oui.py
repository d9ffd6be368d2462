"""MAC vendors from Debian's ieee-data registries (offline)."""

from __future__ import annotations

import random
from pathlib import Path

from appliance.assets.oui import LOCAL_VENDOR, OuiRegistry, normalize_mac
from appliance.config_assets import AssetsConfig

REGISTRY = OuiRegistry(AssetsConfig().oui_files)


def test_vendors_of_the_three_block_sizes() -> None:
    assert REGISTRY.vendor("00:11:32:17:49:f0") == "Synology Incorporated"
    assert REGISTRY.vendor("00-0C-29-AA-BB-CC") == "VMware, Inc."
    # 28-bit (MA-M) and 36-bit (MA-S) blocks win over the 24-bit block they sit in.
    assert REGISTRY.vendor("20:85:93:b0:00:01") == "IOG Products LLC"
    assert REGISTRY.vendor("70:b3:d5:f2:f0:01") == "TELEPLATFORMS"


def test_addresses_without_a_vendor() -> None:
    assert REGISTRY.vendor("da:a1:19:00:00:01") == LOCAL_VENDOR  # randomised by a phone
    assert REGISTRY.vendor("01:00:5e:00:00:fb") is None  # multicast
    assert REGISTRY.vendor("not a mac") is None
    assert normalize_mac("FF:FF:FF:FF:FF:FF") is None
    assert normalize_mac("0011.3217.49f0") is None


def test_missing_registry_files_mean_no_vendor(tmp_path: Path) -> None:
    assert OuiRegistry([tmp_path / "absent.csv"]).vendor("00:11:32:17:49:f0") is None


def test_searching_the_text_and_the_built_table_agree() -> None:
    searched = OuiRegistry(AssetsConfig().oui_files, index_after=1_000_000)
    indexed = OuiRegistry(AssetsConfig().oui_files, index_after=0)
    for mac in ("00:11:32:17:49:f0", "20:85:93:b0:00:01", "70:b3:d5:f2:f0:01",
                "00:50:c2:7d:50:01", "08:00:30:00:00:01", "fc:ff:ff:00:00:01"):  # fmt: skip
        assert searched.vendor(mac) == indexed.vendor(mac), mac
    assert indexed.vendor("00:50:c2:7d:50:01") == "DEUTA-WERKE GmbH"  # IAB, 36 bits


def test_searching_agrees_with_the_table_over_every_block_size() -> None:
    # Addresses in blocks of each size (and beside them), from the registries themselves:
    # one scan per registry must find the longest block, as the table's lookup does.
    files = AssetsConfig().oui_files
    rng = random.Random(7)
    blocks = [line.split(",")[1] for path in files if path.exists()
              for line in path.read_text(errors="replace").splitlines()[1:]
              if line.count(",") >= 2]  # fmt: skip
    assert {len(b) for b in blocks} >= {6, 7, 9}
    searched = OuiRegistry(files, index_after=1_000_000)
    indexed = OuiRegistry(files, index_after=0)
    for block in rng.sample(blocks, 300):
        digits = (block + "".join(rng.choice("0123456789ABCDEF") for _ in range(12)))[:12]
        digits = "0" + digits[1] + digits[2:] if int(digits[:2], 16) & 2 else digits
        mac = ":".join(digits[i:i + 2] for i in range(0, 12, 2))
        assert searched.vendor(mac) == indexed.vendor(mac), mac
