"""bgs.report.browser: the page as headless Chromium renders it, and checks that can fail."""

import pytest

from bgs.cli import main
from bgs.report.browser import check_page, find_chromium

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed "
                                "(`make test` installs it with apt-get as root; or set BGS_CHROMIUM)")

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEklEQVR42mP8z8Dwn4EIwDiqEAAz6QP/"
       "yC0eLQAAAABJRU5ErkJggg==")


def _page(tmp_path, body):
    page = tmp_path / "page.html"
    page.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>")
    return page


def test_a_clean_page_passes(tmp_path):
    page = check_page(_page(tmp_path, f'<h1>Title</h1><h2>1. Data</h2><p>score 0.512</p>'
                                      f'<img alt="fig" src="data:image/png;base64,{PNG}">'))
    assert page.errors == [] and page.broken_images == []
    assert [(h["text"], h["visible"]) for h in page.headings] == [("Title", True), ("1. Data", True)]
    assert (page.images[0]["width"], page.images[0]["height"]) == (2, 3)
    assert "score 0.512" in page.text and page.title == "t"


def test_broken_images_errors_hidden_headings_and_the_network_are_caught(tmp_path):
    page = check_page(_page(tmp_path, '<h2 style="display:none">Hidden</h2>'
                                      '<img alt="bad" src="data:image/png;base64,AAAA">'
                                      '<img alt="net" src="http://example.com/x.png">'
                                      '<script>console.error("boom"); undefinedCall();</script>'))
    assert page.headings == [{"tag": "h2", "text": "Hidden", "visible": False}]
    assert [im["alt"] for im in page.broken_images] == ["bad", "net"]
    assert "console.error: boom" in page.errors
    assert any("undefinedCall" in e for e in page.errors)
    assert any("failed to load img http://example.com" in e for e in page.errors)


def test_report_screenshot_from_the_cli(tmp_path, capsys):
    import json

    from bgs.report.rundir import RunHeader

    run = tmp_path / "run"
    run.mkdir()
    header = RunHeader("evaluate", "A run", ["bgs", "evaluate"], {})
    (run / "metrics.json").write_text(json.dumps(header.to_dict()))
    png = tmp_path / "shot.png"
    assert main(["report", str(run), "--screenshot", str(png), "--width", "900", "--height", "700"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import struct

    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    assert (width, height) == (900, 700)
    assert str(png) in capsys.readouterr().out
