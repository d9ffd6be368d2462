"""The service facade opens the store and the state database beside each other."""

from __future__ import annotations

from pathlib import Path

from appliance.config import AppConfig
from appliance.service import Service


def test_service_opens_both_databases_in_the_data_dir(tmp_path: Path) -> None:
    service = Service(AppConfig(data_dir=tmp_path))
    assert service.store.stats().total_events == 0
    assert service.state.query("SELECT count(*) FROM kv")[0][0] == 0
    service.close()
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["spanwatch.db", "state.db"]
