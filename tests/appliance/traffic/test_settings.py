"""Rollup settings come from the configuration before the first batch is written."""

from __future__ import annotations

from pathlib import Path

from appliance.config import AppConfig
from appliance.store import open_store
from appliance.traffic.settings import load_settings, sync_settings


def test_a_writer_stores_the_configured_home_net_and_day_start(tmp_path: Path) -> None:
    cfg = AppConfig.model_validate({"data_dir": str(tmp_path),
                                    "networks": {"home": ["192.0.2.0/24"]},
                                    "timezone": "Asia/Ho_Chi_Minh"})  # fmt: skip
    store = open_store(cfg.store_path)
    try:
        assert load_settings(store.connection).home != ("192.0.2.0/24",)  # type: ignore[attr-defined]
        sync_settings(store, cfg)
        settings = load_settings(store.connection)  # type: ignore[attr-defined]
    finally:
        store.close()
    assert settings.home == ("192.0.2.0/24",)
    assert settings.day_offset_us == 7 * 3600 * 1_000_000
