"""The app factory: blueprints, the nav, the home page and the served front-end assets."""

from __future__ import annotations

from flask import Flask

from tests.webui.conftest import WebClient
from webui.app import BLUEPRINTS, VENDOR_FOLDERS


def test_every_listed_blueprint_is_registered(app: Flask) -> None:
    names = {spec.split(":")[0].rsplit(".", 1)[-1] for spec in BLUEPRINTS}
    assert {"auth", "users", "audit", "settings", "api"} <= set(app.blueprints) | names


def test_nav_shows_only_what_the_role_may_open(
    admin_client: WebClient, viewer_client: WebClient
) -> None:
    admin_page = admin_client.get("/account").get_data(as_text=True)
    viewer_page = viewer_client.get("/account").get_data(as_text=True)
    assert 'href="/users/"' in admin_page and 'href="/audit/"' in admin_page
    assert 'href="/users/"' not in viewer_page and 'href="/audit/"' not in viewer_page


def test_front_end_assets_are_served_locally_and_nothing_else(client: WebClient) -> None:
    css = client.get("/static/vendor/bootstrap/dist/css/bootstrap.min.css")
    assert css.status_code == 200 and b"Bootstrap" in css.data[:400]
    css.close()
    chart = client.get("/static/vendor/chart.js/dist/chart.umd.min.js")
    assert chart.status_code == 200
    chart.close()
    assert client.get("/static/vendor/bootstrap/package.json").status_code == 404
    assert client.get("/static/vendor/bootstrap/dist/../package.json").status_code == 404
    assert all(folder.endswith("/") for folder in VENDOR_FOLDERS)


def test_pages_reference_no_external_host(admin_client: WebClient) -> None:
    page = admin_client.get("/account").get_data(as_text=True)
    assert "http://" not in page and "https://" not in page.replace("https://localhost", "")
