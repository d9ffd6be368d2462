"""Settings page: validated like the CLI, written to appliance.yaml, audited, applied."""

from __future__ import annotations

from pathlib import Path

import yaml
from flask import Flask

from tests.webui.conftest import WebClient
from webui.tls import self_signed


def _save(client: WebClient, section: str, **fields: str) -> str:
    response = client.post_form("/settings/", {"section": section, **fields},
                                follow_redirects=True)  # fmt: skip
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_settings_page_shows_the_configuration(admin_client: WebClient) -> None:
    page = admin_client.get("/settings/").get_data(as_text=True)
    for text in ("10.0.0.0/8", "Asia/Ho_Chi_Minh", "max_days", "certificate"):
        assert text in page


def test_saving_networks_writes_the_file_keeps_comments_and_audits(
    app: Flask, admin_client: WebClient, appliance_config: Path
) -> None:
    appliance_config.write_text("# Our data center, do not remove this note.\n"
                                + appliance_config.read_text())  # fmt: skip
    _save(admin_client, "networks", home="10.20.0.0/16\n192.0.2.0/24\n", external="")
    text = appliance_config.read_text()
    assert text.startswith("# Our data center, do not remove this note.")
    assert yaml.safe_load(text)["networks"]["home"] == ["10.20.0.0/16", "192.0.2.0/24"]
    entry = app.extensions["spanwatch"].service.audit.list(action="settings").items[0]
    assert entry.actor == "admin1" and entry.target == "networks"
    assert entry.detail["changes"]["networks.home"]["after"] == ["10.20.0.0/16", "192.0.2.0/24"]
    assert app.extensions["spanwatch"].cfg.networks.home == ["10.20.0.0/16", "192.0.2.0/24"]


def test_invalid_values_are_refused_with_the_field_named_and_the_file_untouched(
    admin_client: WebClient, appliance_config: Path
) -> None:
    before = appliance_config.read_text()
    admin_client.get("/language/en")
    page = _save(admin_client, "networks", home="10.0.0.0/33\n")
    assert "networks.home.0" in page and "CIDR" in page
    page = _save(admin_client, "retention", alerts_max_days="0", alerts_max_mb="100",
                 metadata_max_days="30", metadata_max_mb="x", pcap_max_days="1",
                 pcap_max_mb="1")  # fmt: skip
    assert "retention.alerts.max_days" in page and "retention.metadata.max_mb" in page
    page = _save(admin_client, "display", timezone="Mars/Olympus", language="vi")
    assert "not a known time zone" in page
    assert appliance_config.read_text() == before


def test_time_zone_and_language_apply_at_once(admin_client: WebClient,
                                              appliance_config: Path) -> None:  # fmt: skip
    _save(admin_client, "display", timezone="UTC", language="en")
    saved = yaml.safe_load(appliance_config.read_text())
    assert saved["timezone"] == "UTC" and saved["web"]["language"] == "en"
    page = admin_client.get("/account").get_data(as_text=True)
    assert "Times in UTC" in page


def test_interfaces_keep_their_options(admin_client: WebClient, appliance_config: Path) -> None:
    data = yaml.safe_load(appliance_config.read_text())
    data["interfaces"] = [{"name": "eth1", "bpf_filter": "not port 22"}]
    appliance_config.write_text(yaml.safe_dump(data))
    _save(admin_client, "interfaces", interfaces="eth1\neth2\n")
    saved = yaml.safe_load(appliance_config.read_text())["interfaces"]
    assert saved == [{"name": "eth1", "bpf_filter": "not port 22"}, {"name": "eth2"}]


def test_uploaded_certificate_must_match_its_key(app: Flask, admin_client: WebClient) -> None:
    cert, key = self_signed("spanwatch.example.com", ("spanwatch.example.com",))
    _, other_key = self_signed("other.example.com", ())
    import io

    def upload(c: bytes, k: bytes) -> str:
        data = {"csrf_token": admin_client.csrf_token(), "cert": (io.BytesIO(c), "c.pem"),
                "key": (io.BytesIO(k), "k.pem")}
        return admin_client.post("/settings/certificate", data=data, follow_redirects=True,
                                 content_type="multipart/form-data").get_data(as_text=True)

    admin_client.get("/language/en")
    assert "does not belong" in upload(cert, other_key)
    assert "Certificate saved" in upload(cert, key)
    web_dir = app.extensions["spanwatch"].cfg.data_dir / "web"
    assert (web_dir / "tls.crt").read_bytes() == cert
    assert (web_dir / "tls.key").stat().st_mode & 0o077 == 0


def test_notifications_are_saved_for_the_core(admin_client: WebClient,
                                              appliance_config: Path) -> None:  # fmt: skip
    data = yaml.safe_load(appliance_config.read_text())
    data["core"] = {"notify": {"webhooks": [{"url": "https://hooks.example.com/a",
                                             "timeout_seconds": 3.0}]}}  # fmt: skip
    appliance_config.write_text(yaml.safe_dump(data))
    _save(admin_client, "notifications", min_severity="medium", email_enabled="on",
          email_host="smtp.example.com", email_port="587", email_starttls="on",
          email_username="", email_sender="soc@example.com",
          email_recipients="a@example.com\nb@example.com", syslog_host="192.0.2.10",
          syslog_port="514", syslog_protocol="tcp", syslog_format="cef",
          webhooks="https://hooks.example.com/a\ntelegram https://api.example.com/bot1 -100",
          report_recipients="boss@example.com")  # fmt: skip
    core = yaml.safe_load(appliance_config.read_text())["core"]
    assert core["notify"]["min_severity"] == "medium"
    assert core["notify"]["email"]["enabled"] is True
    assert core["notify"]["email"]["recipients"] == ["a@example.com", "b@example.com"]
    assert core["notify"]["syslog"] == {"enabled": False, "host": "192.0.2.10", "port": 514,
                                        "protocol": "tcp", "format": "cef"}  # fmt: skip
    assert core["notify"]["webhooks"] == [
        {"url": "https://hooks.example.com/a", "timeout_seconds": 3.0, "kind": "json"},
        {"url": "https://api.example.com/bot1", "kind": "telegram", "chat_id": "-100"},
    ]
    assert core["report"]["recipients"] == ["boss@example.com"]
    assert "username" not in core["notify"]["email"]
