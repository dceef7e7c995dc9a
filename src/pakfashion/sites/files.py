"""What ``add`` writes: the site's name, ``conf/site/<name>.yaml``, the profile's ``crawl.sites``, params.yaml.

The profile is edited as text at the place ruamel.yaml's round-trip parser locates the list's last item,
so every other byte (comments, the wrapped flow list, indentation) stays as it was; the edit is checked
by parsing the result again.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pakfashion.common.params import recompose_params
from pakfashion.contracts import PARAMS_FILE
from pakfashion.sites.probe import SiteProbe, one_line
from pakfashion.web.urls import url_problem

# The variable the demo site configs read their port from (python -m pakfashion.demo run sets it).
DEMO_PORT_ENV = "PAKFASHION_DEMO_PORT"
# A site name: a Hydra group option, a crawl output folder and a DVC-friendly word.
SITE_NAME = re.compile(r"[a-z][a-z0-9_]*")
# conf/site/ files that are not retailers.
RESERVED_NAMES = frozenset({"generic"})
# Second-level labels of country domains (gulahmedshop.com.pk, example.co.uk): never the brand.
GENERIC_SECOND_LEVEL = frozenset({"com", "co", "org", "net", "edu", "gov", "ac", "biz", "web"})
# A flow-sequence item: quoted, or plain up to the next comma, bracket or comment.
_FLOW_ITEM = re.compile(r"""'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|[^,\]\s#]+(?:[ \t]+[^,\]\s#]+)*""")
# A flow list continued past this column goes on a new line (the profiles wrap near 110).
WRAP_COLUMN = 110
# Scalars written unquoted: what reads back as the same string in a YAML block mapping.
_PLAIN = re.compile(r"[A-Za-z0-9_][^\s#'\"`]*")


class SitesError(Exception):
    """A refusal the command reports in one line; ``exit_code`` is the command's exit status."""

    exit_code = 1


class BadInput(SitesError):
    """The command's input is wrong (not a URL, an unreachable host, a name in use): nothing is written."""

    exit_code = 2


def normalise_base_url(url: str) -> str:
    """``url`` as a site's base URL: http(s), lower-case scheme and host, no query, fragment or final slash.

    Raises:
        BadInput: not an absolute http(s) URL with a host, or one carrying credentials.
    """
    url = url.strip()
    problem = url_problem(url)
    if problem is not None:
        raise BadInput(f"{url!r} is not a site URL: {problem[1]} (give one like https://www.khaadi.com)")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise BadInput(f"{url!r}: a site URL carries no user name or password")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def is_ip_address(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def derive_name(base_url: str) -> str:
    """The site's name from its host's registered label: ``www.khaadi.com`` → ``khaadi``,
    ``pk.sapphireonline.pk`` → ``sapphireonline``, ``gulahmedshop.com.pk`` → ``gulahmedshop``.

    Raises:
        BadInput: the host is an IP address (or has no letters to name it by): pass ``--name``.
    """
    host = (urlsplit(base_url).hostname or "").lower().rstrip(".")
    if not host or is_ip_address(host):
        raise BadInput(f"no site name can be derived from the host {host or base_url!r}: pass --name")
    labels = host.split(".")
    labels = labels[:-1] if len(labels) > 1 else labels
    while len(labels) > 1 and labels[-1] in GENERIC_SECOND_LEVEL:
        labels.pop()
    name = re.sub(r"[^a-z0-9]+", "_", labels[-1]).strip("_")
    if not name:
        raise BadInput(f"no site name can be derived from the host {host!r}: pass --name")
    return name if name[0].isalpha() else f"site_{name}"


def written_base_url(base_url: str, *, port_env: bool) -> str:
    """The base_url as the site file writes it: as given, or (``port_env``, loopback demo stores) with the
    port read from ``$PAKFASHION_DEMO_PORT``, the given port as the fallback, as the demo site files do.

    Raises:
        BadInput: ``port_env`` for a URL that is not on a loopback address with a port.
    """
    if not port_env:
        return base_url
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if not (is_ip_address(host) and ipaddress.ip_address(host).is_loopback) or parts.port is None:
        raise BadInput(f"--port-env is for demo stores on a loopback address with a port "
                       f"(http://127.0.0.1:8765), not {base_url}")
    return f"{parts.scheme}://{host}:${{oc.env:{DEMO_PORT_ENV},{parts.port}}}{parts.path}"


def yaml_scalar(value: str) -> str:
    """``value`` as a YAML scalar in a block mapping: plain when it reads back the same, else double-quoted."""
    plain = _PLAIN.fullmatch(value) and ": " not in value and not value.endswith(":")
    return value if plain and value.lower() not in {"null", "true", "false", "yes", "no", "on", "off", "~"} \
        else json.dumps(value, ensure_ascii=False)


def listed(urls: list[str], most: int = 3) -> str:
    """The first ``most`` URLs, then how many more."""
    shown = ", ".join(one_line(url, 200) for url in urls[:most])
    return shown + (f" (+{len(urls) - most} more)" if len(urls) > most else "")


def probe_summary(probe: SiteProbe) -> list[str]:
    """The comment lines recording a probe: robots.txt verdict, Crawl-delay, Content-Signal, sitemaps, platform."""
    status = f"HTTP {probe.robots_status}" if probe.robots_status is not None else "no answer"
    digest = f", sha256 {probe.robots_sha256[:12]}" if probe.robots_sha256 else ""
    delay = (f"{probe.crawl_delay_s:g} s for our agent (read from robots.txt at every crawl; site.min_delay_s "
             "is only a floor)") if probe.crawl_delay_s is not None else "none for our agent"
    lines = [
        f"robots.txt: {one_line(probe.robots_url, 200)} {status}{digest}: {probe.robots.value}",
        f"Crawl-delay: {delay}",
        f"Content-Signal: {one_line(probe.content_signal_text) or 'none declared'}",
        f"Sitemaps in robots.txt: {listed(probe.sitemaps) or 'none'}",
    ]
    if probe.robots_redirects:
        lines.append(f"robots.txt redirected to: {listed(probe.robots_redirects)} (another base_url may suit)")
    found = f"{probe.platform} ({one_line(probe.evidence)})" if probe.platform else "not recognised"
    return lines + [f"Platform: {found}"]


def site_file_text(name: str, brand: str, base_url: str, probe: SiteProbe, *, forced: str = "") -> str:
    """``conf/site/<name>.yaml`` for a probed site; ``forced`` says why it was added although refused."""
    today = datetime.now(timezone.utc).date().isoformat()
    header = [f"{one_line(brand)}: added by `python -m pakfashion.sites add` on {today}. Its probe found",
              "(`python -m pakfashion.sites check` probes it again):",
              *(f"  {line}" for line in probe_summary(probe))]
    if forced:
        header.append(f"Added with --force although {one_line(forced)}")
    hint = probe.platform or "auto"
    hint_note = ("What the probe found: probed first at every crawl, which confirms or overrides it (crawl.json)."
                 if probe.platform else "Not recognised by the probe: the crawl fails until site.platform or "
                 "site.sitemap_urls is set.")
    body = ["defaults:", "  - /site_base@_here_", "  - _self_", f"name: {name}", f"brand: {yaml_scalar(brand)}",
            f"base_url: {yaml_scalar(base_url)}", f"# {hint_note}", f"platform_hint: {hint}"]
    return "".join(f"# {line}\n" for line in header) + "".join(f"{line}\n" for line in body)


def _site_list(text: str, source: str) -> Any:
    """The round-trip ``crawl.sites`` sequence of a profile's text (positions included).

    Raises:
        BadInput: the profile has no ``crawl.sites`` list.
    """
    from ruamel.yaml import YAML

    doc = YAML(typ="rt").load(text)
    crawl = doc.get("crawl") if isinstance(doc, dict) else None
    sites = crawl.get("sites") if isinstance(crawl, dict) else None
    if not isinstance(sites, list):
        raise BadInput(f"{source} has no crawl.sites list to add the site to")
    return sites


def profile_sites(text: str, source: str) -> list[str]:
    """The names in a profile's ``crawl.sites``."""
    return [str(name) for name in _site_list(text, source)]


def _flow_insertion(line: str, end: int, name: str, indent: str) -> str:
    """``line`` with ``, name`` after column ``end``, or on a new line at ``indent`` past WRAP_COLUMN."""
    joined = f"{line[:end]}, {name}{line[end:]}"
    if len(joined.rstrip("\n")) <= WRAP_COLUMN:
        return joined
    return f"{line[:end]},\n{indent}{name}{line[end:]}"


def append_to_site_list(text: str, name: str, source: str = "the profile") -> str:
    """``text`` (a profile YAML) with ``name`` appended to its ``crawl.sites``, every other byte unchanged.

    Raises:
        BadInput: no ``crawl.sites`` list, or one laid out so that the edit does not read back right.
    """
    sites = _site_list(text, source)
    lines = text.splitlines(keepends=True)
    if not sites:
        row, col = sites.lc.line, sites.lc.col
        if not lines[row].startswith("[]", col):
            raise BadInput(f"{source}: crawl.sites is empty but not written `[]`; add {name!r} by hand")
        lines[row] = f"{lines[row][:col]}[{name}]{lines[row][col + 2:]}"
    elif sites.fa.flow_style():
        row, col = sites.lc.item(len(sites) - 1)
        item = _FLOW_ITEM.match(lines[row], col)
        end = item.end() if item else col
        leading = lines[row][: len(lines[row]) - len(lines[row].lstrip())]
        indent = leading + ("  " if row == sites.lc.line else "")
        lines[row] = _flow_insertion(lines[row], end, name, indent)
    else:
        row, col = sites.lc.item(len(sites) - 1)
        if not lines[row].endswith("\n"):
            lines[row] += "\n"
        lines.insert(row + 1, f"{lines[row][:col]}{name}\n")
    edited = "".join(lines)
    if profile_sites(edited, source) != [*map(str, sites), name]:
        raise BadInput(f"{source}: appending to crawl.sites did not read back right; add {name!r} by hand")
    return edited


def check_name_free(conf_dir: Path, name: str, listed_names: list[str], profile_file: Path) -> None:
    """Raise BadInput unless ``name`` is a valid site name that no site file or profile entry uses."""
    if not SITE_NAME.fullmatch(name):
        raise BadInput(f"site name {name!r}: use lower-case letters, digits and _, starting with a letter")
    site_file = conf_dir / "site" / f"{name}.yaml"
    if name in RESERVED_NAMES or site_file.exists():
        raise BadInput(f"a site named {name!r} exists already ({site_file}): choose another with --name")
    if name in listed_names:
        raise BadInput(f"{name!r} is already in crawl.sites of {profile_file}: choose another with --name")


def write_site(repo: Path, name: str, site_text: str, profile_file: Path, profile_text: str,
               verify: Callable[[], None]) -> Path:
    """Write the site file and the edited profile, ``verify`` them, and recompose params.yaml; on any
    failure every file is put back as it was, so a refused or broken add leaves nothing behind."""
    site_file = repo / "conf" / "site" / f"{name}.yaml"
    params = repo / PARAMS_FILE
    old_profile = profile_file.read_text()
    old_params = params.read_bytes() if params.exists() else None
    with site_file.open("x") as out:  # never over another file of that name
        out.write(site_text)
    try:
        profile_file.write_text(profile_text)
        verify()
        recompose_params(repo)
    except BaseException:
        site_file.unlink(missing_ok=True)
        profile_file.write_text(old_profile)
        if old_params is not None:
            params.write_bytes(old_params)
        raise
    return site_file
