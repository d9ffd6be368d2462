"""E-mail over SMTP: STARTTLS before authentication, the password from a file."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from appliance.config_core import EmailConfig
from appliance.errors import ApplianceError

logger = logging.getLogger(__name__)


class NotifyError(ApplianceError):
    """A notification could not be delivered."""


def build_email(
    cfg: EmailConfig, recipients: list[str], subject: str, body: str,
    attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
) -> EmailMessage:  # fmt: skip
    """The message: plain-text body, attachments as (filename, data, mime type)."""
    msg = EmailMessage()
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject.replace("\r", " ").replace("\n", " ")
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="spanwatch")
    msg.set_content(body)
    for filename, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def send_email(cfg: EmailConfig, msg: EmailMessage) -> None:
    """Deliver ``msg``; NotifyError says what failed (never the password)."""
    password = None
    if cfg.username:
        if cfg.password_file is None:
            raise NotifyError("SMTP user set but no password_file for it.")
        try:
            password = cfg.password_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise NotifyError(f"Cannot read the SMTP password file: {err}") from err
    try:
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds) as smtp:
            smtp.ehlo()
            if cfg.starttls:
                context = ssl.create_default_context(
                    cafile=str(cfg.ca_file) if cfg.ca_file else None
                )
                smtp.starttls(context=context)
                smtp.ehlo()
            if cfg.username and password is not None:
                smtp.login(cfg.username, password)
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as err:
        raise NotifyError(f"SMTP to {cfg.host}:{cfg.port} failed: {err}") from err


def send_report(
    cfg: EmailConfig, recipients: list[str], pdf: Path, day: dt.date, lang: str
) -> int:
    """E-mail the report PDF to ``recipients``; returns how many (0 when off or none)."""
    if not cfg.enabled or not recipients:
        logger.info("Report not e-mailed: e-mail off or no recipients.")
        return 0
    if lang == "vi":
        subject = f"[spanwatch] Báo cáo rủi ro ngày {day:%d/%m/%Y}"
        body = (f"Kính gửi quý anh/chị,\n\nĐính kèm là báo cáo rủi ro an ninh mạng ngày "
                f"{day:%d/%m/%Y}.\n\nspanwatch\n")  # fmt: skip
    else:
        subject = f"[spanwatch] Risk report for {day.isoformat()}"
        body = (f"Hello,\n\nAttached is the network risk report for {day.isoformat()}."
                "\n\nspanwatch\n")
    msg = build_email(cfg, recipients, subject, body, [(pdf.name, pdf.read_bytes(),
                                                        "application/pdf")])  # fmt: skip
    send_email(cfg, msg)
    logger.info("Report for %s e-mailed to %d recipient(s).", day, len(recipients))
    return len(recipients)
