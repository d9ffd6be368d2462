"""E-mail through a real SMTP server on loopback: STARTTLS, login, attachment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from appliance.config_core import EmailConfig
from appliance.notify.email import NotifyError, build_email, send_email, send_report
from tests.helpers.smtp import PASSWORD, USER, smtp_server


def email_config(tmp_path: Path, port: int, cert: Path, **kw: object) -> EmailConfig:
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n")
    base = dict(enabled=True, host="127.0.0.1", port=port, username=USER,
                password_file=secret, ca_file=cert, sender="spanwatch@example.com",
                recipients=["soc@example.com"])  # fmt: skip
    return EmailConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_the_report_arrives_with_its_pdf_over_starttls(tmp_path: Path) -> None:
    pdf = tmp_path / "spanwatch-report-2026-11-23-vi.pdf"
    pdf.write_bytes(b"%PDF-1.7\n% test\n")
    with smtp_server(tmp_path) as inbox:
        cfg = email_config(tmp_path, inbox.port, inbox.cert)
        sent = send_report(cfg, ["manager@example.com"], pdf, dt.date(2026, 11, 23), "vi")
    assert sent == 1
    (msg,) = inbox.messages
    assert msg["Subject"] == "[spanwatch] Báo cáo rủi ro ngày 23/11/2026"
    assert inbox.envelopes[0].rcpt_tos == ["manager@example.com"]
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == pdf.name
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf.read_bytes()


def test_a_wrong_password_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as inbox:
        cfg = email_config(tmp_path, inbox.port, inbox.cert, timeout_seconds=3)
        (tmp_path / "smtp-password").write_text("wrong-password")
        with pytest.raises(NotifyError) as err:
            send_email(cfg, build_email(cfg, cfg.recipients, "s", "b"))
    assert "127.0.0.1" in str(err.value) and "wrong-password" not in str(err.value)
    assert inbox.messages == []


def test_an_untrusted_certificate_stops_before_the_login(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as inbox:
        cfg = email_config(tmp_path, inbox.port, inbox.cert, ca_file=None)
        with pytest.raises(NotifyError):
            send_email(cfg, build_email(cfg, cfg.recipients, "s", "b"))
    assert inbox.messages == []


def test_no_recipients_or_email_off_sends_nothing(tmp_path: Path) -> None:
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF")
    assert send_report(EmailConfig(enabled=False), ["a@example.com"], pdf,
                       dt.date(2026, 11, 23), "en") == 0  # fmt: skip
    assert send_report(EmailConfig(enabled=True), [], pdf, dt.date(2026, 11, 23), "en") == 0
