"""`python -m pakfashion.sites add URL` and `... check`: a brand added in one command is crawled by `dvc repro`,
`check` probes without crawling, refusals write nothing, and the profile edit keeps every other byte."""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
import shutil
import socket
import sys
from pathlib import Path

import pytest
import yaml

from pakfashion.common.files import read_json, read_jsonl
from pakfashion.config import CrawlConfig, PathsConfig
from pakfashion.contracts import CRAWL_REPORT_FILE, PRODUCTS_FILE
from pakfashion.demo import DemoServer
from pakfashion.sites.__main__ import main
from pakfashion.sites.files import (
    BadInput,
    append_to_site_list,
    derive_name,
    normalise_base_url,
    site_file_text,
    written_base_url,
)
from pakfashion.sites.probe import RobotsVerdict, SiteProbe, probe_table, table_row
from tests.helpers import configured
from tests.helpers.http import Reply, scripted_server
from tests.helpers.repo import copy_repo, run

pytestmark = pytest.mark.network

SHOPIFY_PAGE = Reply(200, json.dumps({"products": [{"id": 1, "title": "Lawn kurta", "handle": "kurta"}]}).encode(),
                     {"Content-Type": "application/json"})


# --- names, URLs, the site file -----------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "name"), [
    ("https://www.khaadi.com", "khaadi"),
    ("https://pk.sapphireonline.pk", "sapphireonline"),
    ("https://pk.khaadi.com/", "khaadi"),
    ("https://gulahmedshop.com.pk", "gulahmedshop"),
    ("https://www.sanasafinaz.com/pk", "sanasafinaz"),
    ("https://shop.zell-bury.co.uk", "zell_bury"),
    ("https://www.4seasons.pk", "site_4seasons"),
])
def test_the_name_comes_from_the_registered_label_of_the_host(url: str, name: str) -> None:
    assert derive_name(normalise_base_url(url)) == name


def test_an_ip_address_names_no_site() -> None:
    with pytest.raises(BadInput, match="--name"):
        derive_name("http://127.0.0.1:8765")


@pytest.mark.parametrize("url", ["www.khaadi.com", "ftp://khaadi.com", "https://", "khaadi", "https://u:p@khaadi.com"])
def test_what_is_not_a_site_url_is_bad_input(url: str) -> None:
    with pytest.raises(BadInput):
        normalise_base_url(url)


def test_a_base_url_loses_query_fragment_and_final_slash_but_keeps_its_market_path() -> None:
    assert normalise_base_url(" HTTPS://WWW.Example.com/pk/?utm=1#x ") == "https://www.example.com/pk"


def test_port_env_writes_the_demo_port_variable_and_is_for_loopback_only() -> None:
    assert written_base_url("http://127.0.0.2:8765", port_env=True) == "http://127.0.0.2:${oc.env:PAKFASHION_DEMO_PORT,8765}"
    assert written_base_url("https://www.khaadi.com", port_env=False) == "https://www.khaadi.com"
    with pytest.raises(BadInput, match="loopback"):
        written_base_url("https://www.khaadi.com", port_env=True)


def probe(**changes: object) -> SiteProbe:
    """A probe of a Shopify store with a Crawl-delay, as `add` and `check` record it."""
    found = {"site": "brand", "base_url": "https://brand.pk", "expected": "auto", "robots": RobotsVerdict.allows,
             "robots_url": "https://brand.pk/robots.txt", "robots_status": 200, "robots_sha256": "ab" * 32,
             "crawl_delay_s": 10.0, "content_signals": {"search": "yes"}, "sitemaps": ["https://brand.pk/sitemap.xml"],
             "platform": "shopify", "evidence": "products.json listing", "platform_probed": True}
    return SiteProbe(**{**found, **changes})  # type: ignore[arg-type]


def test_the_site_file_records_the_probe_and_reads_back_as_the_site() -> None:
    text = site_file_text("brand", "Brand: Pakistan", "http://127.0.0.1:${oc.env:PAKFASHION_DEMO_PORT,8765}", probe())
    assert yaml.safe_load(text) == {"defaults": ["/site_base@_here_", "_self_"], "name": "brand",
                                    "brand": "Brand: Pakistan", "platform_hint": "shopify",
                                    "base_url": "http://127.0.0.1:${oc.env:PAKFASHION_DEMO_PORT,8765}"}
    comments = [line for line in text.splitlines() if line.startswith("#")]
    for fact in ("https://brand.pk/robots.txt HTTP 200, sha256 abababababab: allows us", "Crawl-delay: 10 s",
                 "Content-Signal: search=yes", "https://brand.pk/sitemap.xml", "Platform: shopify (products.json"):
        assert any(fact in line for line in comments), fact


def test_a_forced_site_file_says_why() -> None:
    text = site_file_text("brand", "Brand", "https://brand.pk", probe(content_signals={"ai-train": "no"}),
                          forced="robots.txt declares Content-Signal ai-train=no")
    assert "# Added with --force although robots.txt declares Content-Signal ai-train=no" in text
    assert "Content-Signal: ai-train=no" in text


def test_the_table_says_when_detection_differs_from_the_hint() -> None:
    row = table_row(probe(expected="sfcc", platform="sitemap"))
    assert row == ("brand", "sitemap", "sfcc (differs)", "yes", "allows us", "10s", "search=yes")
    assert table_row(probe(expected="shopify"))[2] == "shopify (confirmed)"
    unreachable = probe(robots=RobotsVerdict.unreachable, platform="", crawl_delay_s=None, content_signals={},
                        problem="https://brand.pk is unreachable")
    assert table_row(unreachable)[1:] == ("-", "auto", "no", "not read", "-", "-")
    assert probe_table([unreachable]).splitlines()[-1] == "brand: https://brand.pk is unreachable"


# --- the profile's site list --------------------------------------------------------------------------------

def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines of a diff."""
    diff = list(difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)))
    return [line[2:] for line in diff if line.startswith("- ")], [line[2:] for line in diff if line.startswith("+ ")]


def test_appending_to_the_full_profile_changes_only_the_lists_last_line(repo_root: Path) -> None:
    text = (repo_root / "conf/profile/full.yaml").read_text()
    last = next(line for line in text.splitlines(keepends=True) if line.rstrip().endswith("edenrobe]"))
    edited = append_to_site_list(text, "newbrand")
    assert changed_lines(text, edited) == ([last], [last.replace("edenrobe]", "edenrobe, newbrand]")])
    assert edited.startswith("# @package _global_\n")
    assert yaml.safe_load(edited)["crawl"]["sites"][-2:] == ["edenrobe", "newbrand"]


@pytest.mark.parametrize(("before", "after"), [
    ("crawl:\n  sites: []  # none yet\n", "crawl:\n  sites: [newbrand]  # none yet\n"),
    ("crawl:\n  sites: [a, 'b']  # two\n  x: 1\n", "crawl:\n  sites: [a, 'b', newbrand]  # two\n  x: 1\n"),
    ("# top\ncrawl:\n  # the list\n  sites:\n    - a  # first\n    - b\n  # after\n  x: 1\n",
     "# top\ncrawl:\n  # the list\n  sites:\n    - a  # first\n    - b\n    - newbrand\n  # after\n  x: 1\n"),
    ("crawl:\n  sites:\n  - a", "crawl:\n  sites:\n  - a\n  - newbrand\n"),
    (f"crawl:\n  sites: [{', '.join(['site_name_x'] * 8)}]\n",
     f"crawl:\n  sites: [{', '.join(['site_name_x'] * 8)},\n    newbrand]\n"),
])
def test_appending_keeps_each_layout_and_its_comments(before: str, after: str) -> None:
    assert append_to_site_list(before, "newbrand") == after


def test_a_profile_without_a_site_list_is_refused() -> None:
    with pytest.raises(BadInput, match="no crawl.sites list"):
        append_to_site_list("crawl:\n  snapshot: x\n", "newbrand")


# --- the command --------------------------------------------------------------------------------------------

def conf_copy(repo_root: Path, dest: Path) -> Path:
    """What `add` reads and writes: conf/ and params.yaml (a repository copy without the rest)."""
    shutil.copytree(repo_root / "conf", dest / "conf")
    shutil.copy2(repo_root / "params.yaml", dest / "params.yaml")
    return dest


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the sha256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_add_then_dvc_repro_crawls_the_added_site(demo_store: DemoServer, repo_root: Path, tmp_path: Path) -> None:
    work = copy_repo(repo_root, tmp_path / "repo", with_git=True)
    demo_profile = work / "conf/profile/demo.yaml"
    listed = "sites: [demo_shop, demo_boutique, demo_atelier]"
    assert listed in demo_profile.read_text()
    # Only one other site beside the new one, so the crawl stays quick.
    demo_profile.write_text(demo_profile.read_text().replace(listed, "sites: [demo_boutique]"))
    env = {"PAKFASHION_DEMO_PORT": str(demo_store.port), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1",
           "DVC_NO_ANALYTICS": "1"}
    out = run([sys.executable, "-m", "pakfashion.sites", "add", demo_store.base_url("demo_shop"), "--name",
               "demo_added", "--profile", "demo", "--port-env"], work, stdout_only=True, env=env)
    assert out.strip() == str(Path("conf/site/demo_added.yaml"))
    site_text = (work / "conf/site/demo_added.yaml").read_text()
    assert yaml.safe_load(site_text)["platform_hint"] == "shopify"
    assert f"base_url: http://127.0.0.1:${{oc.env:PAKFASHION_DEMO_PORT,{demo_store.port}}}\n" in site_text
    assert re.search(r"^# .*robots\.txt: http://127\.0\.0\.1:\d+/robots\.txt HTTP 200.*: allows us$", site_text, re.M)
    assert "\n#   Crawl-delay: 0.05 s for our agent" in site_text
    assert "sites: [demo_boutique, demo_added]" in demo_profile.read_text()
    assert yaml.safe_load((work / "params.yaml").read_text())["crawl"]["sites"] == ["demo_boutique", "demo_added"]

    run(["dvc", "repro", "crawl"], work, env=env)
    raw = work / configured(PathsConfig).raw
    rows = list(read_jsonl(raw / "demo_added" / PRODUCTS_FILE))
    assert {row["product_id"] for row in rows} == {str(p.id) for p in demo_store.world.products("demo_shop")}
    assert {row["site"] for row in rows} == {"demo_added"}
    report = read_json(raw / "demo_added" / CRAWL_REPORT_FILE)
    assert (report["platform"], report["platform_hint"], report["hint_confirmed"]) == ("shopify", "shopify", True)


def test_check_prints_a_row_per_site_and_crawls_nothing(platform_store: DemoServer, repo_root: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAKFASHION_DEMO_PORT", str(platform_store.port))
    platform_store.clear_log()
    assert main(["check", "--profile", "demo", "--repo", str(repo_root)]) == 0
    table = capsys.readouterr().out.split("\n\n")[0].splitlines()  # notes, if any, follow a blank line
    header, rows = re.split(r"\s{2,}", table[0]), {line.split()[0]: re.split(r"\s{2,}", line) for line in table[1:]}
    assert header == ["site", "platform", "hint", "reachable", "robots", "crawl-delay", "content-signal"]
    sites = configured(CrawlConfig).sites
    assert sorted(rows) == sorted(sites)
    found = {name: rows[name][1] for name in sites}
    assert found["demo_shop"] == found["demo_boutique"] == "shopify"
    assert found["demo_atelier"] in {"sfcc", "sitemap"}
    assert all(rows[name][3:6] == ["yes", "allows us", "0.05s"] for name in sites), rows
    log = platform_store.request_log
    assert log and {entry.site for entry in log} == set(sites)
    assert not [entry for entry in log if "page=2" in entry.query]
    product_page = re.compile(r"^/products/[^/]+$|-[A-Z]{2}\d{4}\.html$")
    assert not [entry.path for entry in log if product_page.search(entry.path)]


def test_check_confirms_each_platform_demo_store(platform_store: DemoServer, repo_root: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The SFCC, WooCommerce and Magento demo stores are each recognised as the platform their file hints."""
    monkeypatch.setenv("PAKFASHION_DEMO_PORT", str(platform_store.port))
    names = ["demo_sfcc", "demo_woo", "demo_magento"]
    assert main(["check", *names, "--repo", str(repo_root)]) == 0
    table = capsys.readouterr().out.split("\n\n")[0].splitlines()
    rows = {line.split()[0]: re.split(r"\s{2,}", line) for line in table[1:]}
    assert {name: rows[name][1:3] for name in names} == {
        "demo_sfcc": ["sfcc", "sfcc (confirmed)"], "demo_woo": ["woocommerce", "woocommerce (confirmed)"],
        "demo_magento": ["magento", "magento (confirmed)"]}
    assert not [entry.path for entry in platform_store.request_log if entry.path.endswith(".html")]


def test_add_refuses_an_opted_out_site_and_writes_nothing_unless_forced(repo_root: Path, tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    work = conf_copy(repo_root, tmp_path)
    robots = b"User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n"
    routes = {"/robots.txt": [Reply(200, robots)], "/products.json": [SHOPIFY_PAGE]}
    with scripted_server(routes) as (base, script), caplog.at_level(logging.INFO):  # type: ignore[arg-type]
        before = tree_digest(work)
        assert main(["add", base, "--name", "optout_shop", "--profile", "demo", "--repo", str(work)]) == 1
        assert tree_digest(work) == before
        assert "optout_shop not added: robots.txt declares Content-Signal ai-train=no" in caplog.text
        assert script.paths() == ["/robots.txt"]  # an opted-out site's platform is not even probed

        assert main(["add", base, "--name", "optout_shop", "--profile", "demo", "--repo", str(work), "--force"]) == 0
    text = (work / "conf/site/optout_shop.yaml").read_text()
    assert "# Added with --force although robots.txt declares Content-Signal ai-train=no" in text
    assert yaml.safe_load(text)["platform_hint"] == "shopify"
    assert "optout_shop" in yaml.safe_load((work / "params.yaml").read_text())["crawl"]["sites"]


@pytest.mark.parametrize(("robots", "why"), [
    (Reply(200, b"User-agent: *\nDisallow: /\n"), "robots.txt disallows"),
    (Reply(503, b"down"), "answered HTTP 503: RFC 9309"),
    (Reply(200, b"User-agent: *\nAllow: /\n"), "platform not recognised"),  # and nothing else answers
])
def test_add_refuses_a_site_that_shuts_us_out_or_is_not_recognised(robots: Reply, why: str, repo_root: Path,
                                                                   tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    work = conf_copy(repo_root, tmp_path)
    with scripted_server({"/robots.txt": [robots]}) as (base, script):
        before = tree_digest(work)
        assert main(["add", base, "--name", "closed_shop", "--profile", "demo", "--repo", str(work)]) == 1
    assert tree_digest(work) == before
    assert "closed_shop not added: " in caplog.text and why in caplog.text
    if why != "platform not recognised":
        assert script.paths() == ["/robots.txt"]


@pytest.mark.parametrize("args", [
    ["https://www.khaadi.com"],  # khaadi exists
    ["https://www.example.com", "--name", "demo_shop"],
    ["https://www.example.com", "--name", "generic"],
    ["https://www.example.com", "--name", "Bad-Name"],
    ["www.example.com"],
    ["http://127.0.0.1:8765"],  # no name from an address
    ["https://www.example.com", "--profile", "nosuchprofile"],
])
def test_bad_input_exits_2_before_any_request_and_writes_nothing(args: list[str], repo_root: Path, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    work = conf_copy(repo_root, tmp_path)
    before = tree_digest(work)
    assert main(["add", *args, "--repo", str(work)]) == 2
    assert tree_digest(work) == before
    assert caplog.records[-1].levelno == logging.ERROR and caplog.records[-1].getMessage()


def test_an_unreachable_host_exits_2_and_writes_nothing(repo_root: Path, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    work = conf_copy(repo_root, tmp_path)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    before = tree_digest(work)
    assert main(["add", f"http://127.0.0.1:{port}", "--name", "gone", "--profile", "demo", "--repo", str(work)]) == 2
    assert tree_digest(work) == before
    assert "unreachable" in caplog.text
