"""Command line: ``python -m pakfashion.sites add URL`` and ``python -m pakfashion.sites check [SITE ...]``.

``add`` probes the site (robots.txt, then its platform), writes ``conf/site/<name>.yaml``, appends ``name``
to ``crawl.sites`` of ``conf/profile/<profile>.yaml`` (``full`` unless ``--profile``) and recomposes
``params.yaml`` as ``make params`` does. A site whose robots.txt shuts us out or declares
``Content-Signal: ai-train=no``, or whose platform is not recognised, is reported and not added unless
``--force`` (the file then says why). ``check`` probes the sites of a profile again (or those named, or
``--all`` files of ``conf/site/``) and prints a table; no product is crawled.

Exit status: 0 done (``check``: every site crawlable); 1 refused (``check``: some site needs attention);
2 bad input (not a URL, an unreachable host, a name in use, an unknown profile or site). Run it from the
repository root, or pass ``--repo``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from pakfashion.common.errors import describe
from pakfashion.config import (
    CrawlConfig,
    SiteConfig,
    WebConfig,
    as_typed,
    compose_config,
    settings_from,
)
from pakfashion.sites.files import (
    RESERVED_NAMES,
    BadInput,
    SitesError,
    append_to_site_list,
    check_name_free,
    derive_name,
    normalise_base_url,
    probe_summary,
    profile_sites,
    site_file_text,
    write_site,
    written_base_url,
)
from pakfashion.sites.probe import (
    RobotsVerdict,
    SiteProbe,
    probe_site,
    probe_sites,
    probe_table,
)

log = logging.getLogger("pakfashion.sites")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repo", type=Path, default=Path("."), help="the repository root (default: .)")
    common.add_argument("--profile", default="full",
                        help="conf/profile/<profile>.yaml: its crawl.sites and crawl settings (default: full)")
    common.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    parser = argparse.ArgumentParser(
        prog="python -m pakfashion.sites",
        description="Add a retailer (probe it, write conf/site/<name>.yaml, list it in a profile), or probe the "
                    "configured ones again. Neither crawls products.",
        epilog="Exit status: 0 done (check: every site crawlable), 1 refused (check: a site needs attention), "
               "2 bad input (not a URL, unreachable host, name in use, unknown profile or site).")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", parents=[common], help="probe a new site, write its config, list it")
    add.add_argument("url", help="the site's base URL, e.g. https://www.khaadi.com (a market path is kept)")
    add.add_argument("--name", help="the site's name (default: from the host, www.khaadi.com → khaadi)")
    add.add_argument("--brand", help="the brand's display name (default: from the name)")
    add.add_argument("--force", action="store_true",
                     help="add it although robots.txt or Content-Signal refuses us, or the platform is unknown")
    add.add_argument("--port-env", action="store_true",
                     help="loopback demo stores: write the port as ${oc.env:PAKFASHION_DEMO_PORT,<port>}")
    check = commands.add_parser("check", parents=[common], help="probe configured sites again, print a table")
    check.add_argument("sites", nargs="*", help="site names (default: crawl.sites of --profile)")
    check.add_argument("--all", action="store_true", help="every site file in conf/site/")
    return parser.parse_args(argv)


def composed(conf_dir: Path, overrides: list[str]) -> Any:
    """``conf/`` composed with ``overrides``; a composition error (unknown profile or site) is BadInput."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose_config(conf_dir, overrides)
    except (HydraException, OmegaConfBaseException) as err:
        raise BadInput(f"{' '.join(overrides)}: {describe(err, with_type=False)}") from None


def profile_file(conf_dir: Path, profile: str) -> Path:
    """``conf/profile/<profile>.yaml``; BadInput naming the profiles there when it is missing."""
    path = conf_dir / "profile" / f"{profile}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (conf_dir / "profile").glob("*.yaml")))
        raise BadInput(f"no profile {profile!r} ({path} missing); profiles: {known}")
    return path


def refusals(probe: SiteProbe) -> list[str]:
    """Why a probed site is not added without ``--force`` (nothing when it may be)."""
    shut_out = probe.robots in (RobotsVerdict.disallows, RobotsVerdict.unreadable)
    reasons = [probe.problem] if shut_out else []
    if probe.opted_out:
        reasons.append("robots.txt declares Content-Signal ai-train=no (the crawl skips the site while "
                       "crawl.honor_content_signal is true)")
    if probe.platform_probed and probe.problem:
        reasons.append(probe.problem)
    return reasons


def add_site(repo: Path, url: str, *, profile: str, name: str | None = None, brand: str | None = None,
             force: bool = False, port_env: bool = False) -> Path:
    """Probe ``url``, write its site file, list it in the profile and recompose params.yaml.

    Returns:
        The written ``conf/site/<name>.yaml``.

    Raises:
        BadInput: bad URL or name, unreachable host, unknown profile (nothing written).
        SitesError: robots.txt or Content-Signal refuses us, or the platform is unknown, without ``force``.
    """
    conf_dir = repo / "conf"
    profile_path = profile_file(conf_dir, profile)
    base_url = normalise_base_url(url)
    written_url = written_base_url(base_url, port_env=port_env)
    name = name or derive_name(base_url)
    profile_text = profile_path.read_text()
    check_name_free(conf_dir, name, profile_sites(profile_text, str(profile_path)), profile_path)
    edited_profile = append_to_site_list(profile_text, name, str(profile_path))
    cfg = composed(conf_dir, [f"profile={profile}", "+site=generic"])
    site = as_typed(OmegaConf.merge(cfg.site, {"name": name, "base_url": base_url}), SiteConfig)
    probe = probe_site(site, settings_from(cfg, "crawl", CrawlConfig), settings_from(cfg, "web", WebConfig),
                       probe_opted_out=force)
    for line in probe_summary(probe):
        log.info("%s: %s", name, line)
    if not probe.reachable:
        raise BadInput(f"{name} not added: {probe.problem}")
    reasons = refusals(probe)
    if reasons and not force:
        raise SitesError(f"{name} not added: {'; '.join(reasons)}. --force adds it anyway, recording why")
    text = site_file_text(name, brand or name.replace("_", " ").title(), written_url, probe,
                          forced="; ".join(reasons))
    written = write_site(repo, name, text, profile_path, edited_profile,
                         verify=lambda: configured_sites(conf_dir, profile, [name]))
    log.info("%s: written %s, listed in %s, params.yaml recomposed", name, written, profile_path)
    return written


def configured_sites(conf_dir: Path, profile: str, names: list[str]) -> list[SiteConfig]:
    """Each named site composed from ``conf/site/<name>.yaml`` under ``profile`` (as the crawl composes it)."""
    return [as_typed(composed(conf_dir, [f"profile={profile}", f"+site={name}"]).site, SiteConfig) for name in names]


def site_names(conf_dir: Path, cfg: Any, names: list[str], *, every_file: bool) -> list[str]:
    """The sites to check: those named, every site file (``every_file``), or the profile's crawl.sites."""
    if names:
        return names
    if every_file:
        return sorted(p.stem for p in (conf_dir / "site").glob("*.yaml") if p.stem not in RESERVED_NAMES)
    return [str(name) for name in cfg.crawl.sites]


def check_sites(repo: Path, *, profile: str, names: Sequence[str] = (), every_file: bool = False) -> list[SiteProbe]:
    """Probe the sites again (side by side, each alone on its host); no product is crawled."""
    conf_dir = repo / "conf"
    profile_file(conf_dir, profile)
    cfg = composed(conf_dir, [f"profile={profile}"])
    sites = configured_sites(conf_dir, profile, site_names(conf_dir, cfg, list(names), every_file=every_file))
    return probe_sites(sites, settings_from(cfg, "crawl", CrawlConfig), settings_from(cfg, "web", WebConfig))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "add":
            print(add_site(args.repo, args.url, profile=args.profile, name=args.name, brand=args.brand,
                           force=args.force, port_env=args.port_env))
            return 0
        probes = check_sites(args.repo, profile=args.profile, names=args.sites, every_file=args.all)
    except SitesError as err:
        log.error("%s", err)
        return err.exit_code
    print(probe_table(probes))
    return 0 if all(not probe.problem for probe in probes) else 1


if __name__ == "__main__":
    sys.exit(main())
