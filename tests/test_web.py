"""The politeness seams: throttle, Retry-After, robots.txt (RFC 9309), retries, blocks, caps."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from pakfashion.config import WebConfig
from pakfashion.web import (
    FetchError,
    HostBlockedError,
    HostThrottle,
    PoliteClient,
    RobotsDisallowedError,
)
from pakfashion.web.http import retry_after_s
from pakfashion.web.optout import forbids_ai_use
from pakfashion.web.robots import parse_content_signals
from tests.helpers import configured, quick_web
from tests.helpers.http import Reply, scripted_server

ROBOTS = Reply(200, b"User-agent: *\nDisallow: /private\nCrawl-delay: 0.2\n\nUser-agent: otherbot\nDisallow: /\n")
# RFC 9309: a group naming our agent replaces the `*` group entirely.
OWN_GROUP_ROBOTS = Reply(200, b"User-agent: *\nDisallow: /\n\nUser-agent: pakfashion-bot\nDisallow: /nobots\n")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def client(**overrides: float) -> tuple[PoliteClient, list[float]]:
    """The shipped web client with two retries and short waits; the sleeps it asked for."""
    sleeps: list[float] = []
    settings = quick_web(**{"max_retries": 2, "backoff_base_s": 0.01, **overrides})
    return PoliteClient(settings, min_delay_s=0.0, pool_size=1, sleep=lambda s: sleeps.append(s)), sleeps


def test_throttle_spaces_requests_per_host() -> None:
    clock = FakeClock()
    throttle = HostThrottle(min_delay_s=1.0, clock=clock, sleep=clock.sleep)
    throttle.set_delay("http://a", 2.0)
    for _ in range(3):
        throttle.wait("http://a")
    throttle.wait("http://b")
    assert clock.sleeps == [2.0, 2.0]  # host b has its own, unused slot


def test_throttle_keeps_the_full_delay_after_a_late_wake_up() -> None:
    """On a busy machine a sleep overshoots: the next request still waits a whole delay after this one left."""
    clock = FakeClock()
    overshoot = [0.3]  # the first sleep wakes 0.3 s late, the others on time
    throttle = HostThrottle(min_delay_s=1.0, clock=clock,
                            sleep=lambda seconds: clock.sleep(seconds + (overshoot.pop() if overshoot else 0.0)))
    throttle.wait("http://a")
    throttle.wait("http://a")  # asked to sleep 1.0, woke after 1.3
    sent = clock.now
    throttle.wait("http://a")
    assert clock.now - sent == pytest.approx(1.0), "a slot reserved before the late wake-up would leave only 0.7 s"


def test_throttle_back_off_pushes_next_slot() -> None:
    clock = FakeClock()
    throttle = HostThrottle(min_delay_s=0.0, clock=clock, sleep=clock.sleep)
    throttle.back_off("http://a", 5.0)
    throttle.wait("http://a")
    assert clock.sleeps == [5.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("", None), ("soon", None),
     (format_datetime(datetime(2030, 1, 1, 0, 0, 30, tzinfo=timezone.utc), usegmt=True), 30.0)],
)
def test_retry_after_parsing(value: str, expected: float | None) -> None:
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert retry_after_s(value, now=now) == expected


def test_content_signal_parsing() -> None:
    text = "User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n"
    assert parse_content_signals(text) == {"search": "yes", "ai-train": "no"}


def test_robots_rules_and_crawl_delay_are_honoured() -> None:
    routes = {"/robots.txt": [ROBOTS], "/ok": [Reply(200, b"fine")], "/private/x": [Reply(200, b"secret")]}
    with scripted_server(routes) as (base, script):
        http, sleeps = client()
        assert http.get(f"{base}/ok").body == b"fine"
        with pytest.raises(RobotsDisallowedError):
            http.get(f"{base}/private/x")
        http.get(f"{base}/ok")
    assert [p for p, _ in script.log] == ["/robots.txt", "/ok", "/ok"]
    assert all(ua == http.settings.user_agent for _, ua in script.log)
    assert http.throttle.delay_for(base) == pytest.approx(0.2)
    assert http.stats["robots/forbidden"] == 1


def test_robots_group_for_our_agent_wins() -> None:
    routes = {"/robots.txt": [OWN_GROUP_ROBOTS], "/ok": [Reply(200, b"fine")]}
    with scripted_server(routes) as (base, _):
        http, _ = client()
        assert http.get(f"{base}/ok").body == b"fine"
        with pytest.raises(RobotsDisallowedError):
            http.get(f"{base}/nobots")


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (403, True), (500, False), (503, False)])
def test_robots_status_policy_rfc9309(status: int, allowed: bool) -> None:
    with scripted_server({"/robots.txt": [Reply(status)], "/page": [Reply(200, b"x")]}) as (base, _):
        http, _ = client()
        assert http.robots.allowed(f"{base}/page") is allowed


def test_retries_429_honouring_retry_after() -> None:
    routes = {"/robots.txt": [Reply(404)],
              "/p": [Reply(429, headers={"Retry-After": "1"}), Reply(503), Reply(200, b"done")]}
    with scripted_server(routes) as (base, script):
        http, sleeps = client()
        assert http.get(f"{base}/p").body == b"done"
    assert sum(path == "/p" for path, _ in script.log) == 3
    assert max(sleeps) >= 0.99  # waited for Retry-After (1 s)
    assert http.stats["retry/reason/http_429"] == 1 and http.stats["retry/reason/http_503"] == 1


def test_gives_up_after_retry_budget() -> None:
    with scripted_server({"/robots.txt": [Reply(404)], "/p": [Reply(500)]}) as (base, script):
        http, _ = client()
        with pytest.raises(FetchError, match="HTTP 500 after 3 attempts"):
            http.get(f"{base}/p")


def test_repeated_refusals_give_the_host_up_without_retrying() -> None:
    with scripted_server({"/robots.txt": [Reply(404)], "/p": [Reply(403)]}) as (base, script):
        http, _ = client()
        for _ in range(2):
            with pytest.raises(FetchError, match="refusal"):
                http.get(f"{base}/p")
        with pytest.raises(HostBlockedError, match="giving the host up"):
            http.get(f"{base}/p")
    assert sum(path == "/p" for path, _ in script.log) == 3


CHALLENGE = Reply(200, b"<html><title>Just a moment...</title><div id='cf-chl-widget'></div></html>",
                  {"Content-Type": "text/html; charset=utf-8"})


def test_bot_challenge_pages_count_as_refusals() -> None:
    with scripted_server({"/robots.txt": [Reply(404)], "/p": [CHALLENGE]}) as (base, _):
        http, _ = client(max_refusals=1)
        with pytest.raises(HostBlockedError, match="bot challenge"):
            http.get(f"{base}/p")


def test_response_size_cap() -> None:
    with scripted_server({"/robots.txt": [Reply(404)], "/big": [Reply(200, b"x" * 5000)]}) as (base, _):
        http, _ = client(max_response_bytes=1000)
        with pytest.raises(FetchError, match="exceeds"):
            http.get(f"{base}/big")


def test_redirects_stay_within_allowed_hosts() -> None:
    routes = {"/robots.txt": [Reply(404)], "/a": [Reply(301, headers={"Location": "/b"})], "/b": [Reply(200, b"b")],
              "/away": [Reply(302, headers={"Location": "http://elsewhere.invalid/x"})]}
    with scripted_server(routes) as (base, _):
        http = PoliteClient(quick_web(), min_delay_s=0.0, pool_size=1, allowed_hosts={"127.0.0.1"})
        assert http.get(f"{base}/a").body == b"b"
        with pytest.raises(FetchError, match="redirect to http://elsewhere.invalid/x refused: host elsewhere.invalid"):
            http.get(f"{base}/away")


def test_robots_redirect_is_followed() -> None:
    routes = {"/robots.txt": [Reply(301, headers={"Location": "/real-robots.txt"})],
              "/real-robots.txt": [Reply(200, b"User-agent: *\nDisallow: /private\n")], "/ok": [Reply(200, b"x")]}
    with scripted_server(routes) as (base, _):
        http, _ = client()
        assert http.robots.allowed(f"{base}/ok") and not http.robots.allowed(f"{base}/private/a")


def test_a_retry_after_past_the_cap_names_the_web_setting() -> None:
    routes = {"/robots.txt": [Reply(404)], "/p": [Reply(429, headers={"Retry-After": "120"})]}
    with scripted_server(routes) as (base, script):
        http, _ = client(max_delay_s=60.0)
        with pytest.raises(FetchError, match=r"Retry-After 120s exceeds web\.max_delay_s=60\.0"):
            http.get(f"{base}/p")
    assert sum(path == "/p" for path, _ in script.log) == 1


@pytest.mark.parametrize(("override", "key"), [("web.max_retries=-1", "max_retries"), ("web.timeout_s=0", "timeout_s"),
                                               ("web.user_agent=python-requests/2.32", "user_agent")])
def test_web_settings_that_cannot_work_fail_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ValueError, match=rf"web\.{key}="):
        configured(WebConfig, override)


# X-Robots-Tag lines → whether they forbid AI use to pakfashion-bot.
OPT_OUTS = [
    (["noai"], True),
    (["NoImageAI"], True),
    (["noindex, noimageai"], True),  # a comma list
    (["pakfashion-bot: noai"], True),  # addressed to us
    (["*: noai"], True),
    (["otherbot: noai"], False),  # addressed to another agent only
    (["otherbot: noindex, noai"], False),  # an agent's directives run to the end of its line
    (["otherbot: noai, pakfashion-bot: noindex"], False),
    (["otherbot: noindex", "noai"], True),  # several headers: a plain line binds every agent
    (["otherbot: noai", "pakfashion-bot: noimageai"], True),
    (["unavailable_after: 25 Jun 2030 15:00:00 PST, noai"], True),  # a valued directive names no agent
    (["max-snippet: 20, noindex"], False),
    (["noindex", ""], False),
    ([], False),
]


@pytest.mark.parametrize(("lines", "expected"), OPT_OUTS)
def test_x_robots_tag_ai_opt_out_is_agent_aware(lines: list[str], expected: bool) -> None:
    assert forbids_ai_use(lines, agent_token="pakfashion-bot") is expected


def test_each_x_robots_tag_header_is_read_on_its_own() -> None:
    """Joined into one line, "otherbot: noindex" would claim the "noai" sent for everyone."""
    routes = {"/robots.txt": [Reply(404)], "/two": [Reply(200, b"x", {"X-Robots-Tag": ["otherbot: noindex", "noai"]})],
              "/other": [Reply(200, b"x", {"X-Robots-Tag": "otherbot: noai"})]}
    with scripted_server(routes) as (base, _):
        http, _ = client()
        two, other = http.get(f"{base}/two"), http.get(f"{base}/other")
    assert two.headers["x-robots-tag"] == ["otherbot: noindex", "noai"]
    assert http.forbids_ai_use(two) and not http.forbids_ai_use(other)
