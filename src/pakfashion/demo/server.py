"""Loopback HTTP server for the demo world: one site per 127.0.0.x address.

Every site listens on the same port on its own loopback address, so
`http://127.0.0.1:PORT`, `http://127.0.0.2:PORT` (Shopify-like) and
`http://127.0.0.3:PORT` (SFCC-like atelier) are different hosts.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from pakfashion.demo import atelier_pages, image_faults, magento_pages, pages, sfcc_pages, woo_pages
from pakfashion.demo.images import content_type
from pakfashion.demo.responses import GZIP, JSON, TEXT, XML, Response, Routes
from pakfashion.demo.tracked import StorefrontHandler, TrackedHTTPServer
from pakfashion.demo.world import DemoSite, DemoWorld, ImageSpec, build_world

logger = logging.getLogger(__name__)

BIND_ATTEMPTS = 50


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it (recorded before the response is sent)."""

    site: str
    method: str
    path: str
    query: str
    status: int
    user_agent: str
    time: float


@dataclass
class Faults:
    """Switchable misbehaviour; everything is off by default.

    Counters are per site and live on this object, so assigning a fresh `Faults()` to
    `DemoServer.faults` resets them.

    Attributes:
        rate_limit_every: Every Nth JSON listing request of a site (`/products.json`, the Store API,
            GraphQL: `DemoServer`'s listing paths) answers 429
            with `Retry-After: 1` (0 = never).
        error_500_every: Every Nth request of a site other than `/robots.txt` answers
            500 (0 = never); checked before the rate limit.
        noai_images: Image paths (no query string) served with `X-Robots-Tag: noai`.
        slow_s: Seconds to sleep before every response.
        truncate_json_every: Every Nth 200 JSON listing response of a site has its body
            cut to half (Content-Length matches the cut body), i.e. malformed JSON (0 = never).
        noai_pages: Paths (no query string) of pages or JSON served with
            `X-Robots-Tag: noai, noimageai`.
        redirect_traps: Serve the redirect traps of `pages.redirect_traps` (a 302 loop and a
            301 to an unresolvable host) and list their entry paths in the product sitemaps.
        control_chars: `/products.json` bodies carry raw control characters in `body_html`
            (parseable only with `json.loads(..., strict=False)`).
        html_instead_of_json_every: Every Nth JSON listing request of a site answers
            200 with an HTML maintenance page (0 = never); checked after the rate limit.
        captcha: Every request but `/robots.txt`, on every site, answers 200 with a bot
            challenge page; checked first.
        captcha_sites: Site names that serve the challenge even when `captcha` is off.
        truncated_paths: Paths (no query string) whose 200 responses are cut to half their
            body, every time (e.g. {"/collections.json"}: a malformed collections listing).
        image_faults: demo_shop lists the "Image Faults Test Kurta" first (in `/products.json`,
            its sitemap and home page, with its own product page and JSON) and serves its images
            under `/cdn/shop/files/faults/`, one per case of `image_faults.IMAGE_FAULT_CASES`
            (broken, truncated, bomb, wrong type, CMYK, palette, EXIF-rotated, duplicates, noai,
            slow, flaky 500/503 and 429 sequences counted on this object, ...).
    """

    rate_limit_every: int = 0
    error_500_every: int = 0
    noai_images: set[str] = field(default_factory=set)
    slow_s: float = 0.0
    truncate_json_every: int = 0
    noai_pages: set[str] = field(default_factory=set)
    redirect_traps: bool = False
    control_chars: bool = False
    html_instead_of_json_every: int = 0
    captcha: bool = False
    captcha_sites: set[str] = field(default_factory=set)
    image_faults: bool = False
    truncated_paths: set[str] = field(default_factory=set)
    _counts: dict[tuple[str, str], int] = field(default_factory=dict, init=False, repr=False,
                                                 compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False,
                                  compare=False)

    def hit(self, counter: str, site: str) -> int:
        """Count one more event for (counter, site) and return the new count."""
        with self._lock:
            count = self._counts.get((counter, site), 0) + 1
            self._counts[(counter, site)] = count
            return count

    def every(self, n: int, counter: str, site: str) -> bool:
        """Return True when switch `n` is on and this is its Nth, 2Nth, ... event."""
        return n > 0 and self.hit(counter, site) % n == 0


class _SiteHTTPServer(TrackedHTTPServer):
    """A threading HTTP server bound to one site, tracking open connections."""

    def __init__(self, address: tuple[str, int], demo: DemoServer, site: DemoSite) -> None:
        self.demo = demo
        self.site = site
        super().__init__(address, _Handler)


class _Handler(StorefrontHandler):
    """Turns HTTP requests into `DemoServer.respond` calls."""

    server: _SiteHTTPServer

    def _reject(self) -> None:
        """Answer any other method with 405 (after draining a request body)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer(head=False, allowed=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _reject  # noqa: N815

    def _answer(self, head: bool, allowed: bool = True) -> None:
        """Build the response, record it, and send it."""
        demo, site = self.server.demo, self.server.site
        split = urlsplit(self.path)
        try:
            if allowed:
                response = demo.respond(site, unquote(split.path), split.query)
            else:
                response = Response(405, pages.error_page(405, "Method Not Allowed"),
                                    headers=(("Allow", "GET, HEAD"),))
        except Exception:  # a bug in the demo must not kill the connection silently
            logger.exception("demo server error for %s", self.path)
            response = Response(500, pages.error_page(500, "Internal Server Error"))
        demo.record(RequestRecord(site.name, self.command, split.path, split.query,
                                  response.status, self.headers.get("User-Agent", ""), time.time()))
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in (*demo.common_headers(site), *response.headers):
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Send http.server's access/error lines to `logging` at DEBUG."""
        logger.debug("%s %s", self.server.site.name, format % args)



class DemoServer:
    """Serves every site of a `DemoWorld` on one port, one loopback address per site.

    Attributes:
        world: The world being served.
        faults: Fault switches, read on every request (assign a new `Faults` to reset).
    """

    def __init__(self, world: DemoWorld, *, port: int = 0) -> None:
        self.world = world
        self.faults = Faults()
        self._wanted_port = port
        self._port = 0
        self._httpds: list[_SiteHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._image_cache: dict[tuple[str, str], bytes] = {}
        self._cache_lock = threading.Lock()
        self._images = {name: site.images() for name, site in world.sites.items()}
        self._image_fault_site: DemoSite | None = None
        self._routes: dict[str, Routes] = {
            "shopify": (
                (re.compile(r"/"), self._home),
                (re.compile(r"/robots\.txt"), self._robots),
                (re.compile(r"/products\.json"), self._products),
                (re.compile(r"/collections\.json"), self._collections),
                (re.compile(r"/collections/(?P<handle>[^/]+)/products\.json"), self._collection_products),
                (re.compile(r"/products/(?P<handle>[^/]+)\.json"), self._product_json),
                (re.compile(r"/products/(?P<handle>[^/]+)"), self._product_page),
                (re.compile(r"/sitemap\.xml"), self._sitemap_index),
                (re.compile(r"/sitemap_products_1\.xml"), self._products_sitemap),
                (re.compile(r"/cdn/shop/.+"), self.image_route),
            ),
            "sfcc": (
                (re.compile(r"/"), self._sfcc_home),
                (re.compile(r"/robots\.txt"), self._sfcc_robots),
                (re.compile(r"/sitemap_index\.xml"), self._sfcc_sitemap_index),
                (re.compile(r"/sitemap_0-product\.xml\.gz"), self._sfcc_product_sitemap),
                (re.compile(r"/sitemap_0-content\.xml"), self._sfcc_content_sitemap),
                (re.compile(r"/(?:[a-z0-9-]+/)*[a-z0-9-]+-[A-Z]{2}\d{4}\.html"), self._sfcc_product_page),
                (re.compile(r"/[a-z0-9-]+\.html"), self._sfcc_content_page),
                (re.compile(r"/(?:[a-z0-9-]+/)+"), self._sfcc_category),
                (re.compile(r"/on/demandware\.store/.*"), self._sfcc_cart),
                (re.compile(r"/dw/image/v2/.+"), self.image_route),
            ),
            **{platform: module.routes(self) for platform, module in PLATFORM_DEMOS.items()},
        }
        # The JSON listing of each platform: what the listing faults (429, truncation, HTML) hit.
        self._listing_paths = {"shopify": "/products.json",
                               **{platform: module.LISTING_PATH for platform, module in PLATFORM_DEMOS.items()}}

    # lifecycle -----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port every site listens on (0 before `start()`)."""
        return self._port

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        return bool(self._httpds)

    def start(self) -> DemoServer:
        """Bind every site to the same port and serve each in a daemon thread.

        Returns:
            self, for chaining.

        Raises:
            RuntimeError: If already started.
            OSError: If a fixed port cannot be bound, or no free common port is found.
        """
        if self._httpds:
            raise RuntimeError("DemoServer already started")
        self._httpds = self._bind_all()
        self._port = self._httpds[0].server_address[1]
        for httpd in self._httpds:
            thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"demo-{httpd.site.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for name in self.world.sites:
            logger.info("demo site %s at %s", name, self.base_url(name))
        return self

    def _bind_all(self) -> list[_SiteHTTPServer]:
        """Bind all sites to the wanted port, or to a common free port if it is 0."""
        sites = list(self.world.sites.values())
        if self._wanted_port:
            return self._bind_sites(sites, self._wanted_port)
        last_error: OSError | None = None
        for _ in range(BIND_ATTEMPTS):
            first = _SiteHTTPServer((sites[0].host, 0), self, sites[0])
            try:
                return [first, *self._bind_sites(sites[1:], first.server_address[1])]
            except OSError as error:
                first.server_close()
                last_error = error
        raise OSError(f"no common free port for the demo sites: {last_error}")

    def _bind_sites(self, sites: list[DemoSite], port: int) -> list[_SiteHTTPServer]:
        """Bind `sites` to `port`, closing the ones already bound if any fails."""
        bound: list[_SiteHTTPServer] = []
        try:
            for site in sites:
                bound.append(_SiteHTTPServer((site.host, port), self, site))
        except OSError:
            for httpd in bound:
                httpd.server_close()
            raise
        return bound

    def stop(self) -> None:
        """Stop serving, close open connections and free the port."""
        for httpd in self._httpds:
            httpd.shutdown()
            httpd.close_connections()
            httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._httpds, self._threads = [], []

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # addresses and log ---------------------------------------------------------

    def base_url(self, site_name: str) -> str:
        """Return e.g. "http://127.0.0.2:PORT" for a site (the server must be started)."""
        if not self._port:
            raise RuntimeError("DemoServer not started")
        return self.world.sites[site_name].base_url(self._port)

    def base_urls(self) -> dict[str, str]:
        """Return {site name: base URL} for every site."""
        return {name: self.base_url(name) for name in self.world.sites}

    @property
    def request_log(self) -> list[RequestRecord]:
        """A snapshot (copy) of every request recorded so far, oldest first."""
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget all recorded requests."""
        with self._log_lock:
            self._log.clear()

    def record(self, entry: RequestRecord) -> None:
        """Append one request to the log."""
        with self._log_lock:
            self._log.append(entry)
        logger.debug("%s %s %s?%s -> %d", entry.site, entry.method, entry.path, entry.query,
                     entry.status)

    # responses -----------------------------------------------------------------

    def common_headers(self, site: DemoSite) -> tuple[tuple[str, str], ...]:
        """Headers every response carries (platform hints: Shopify's, or SFCC's request id; the other
        platforms' modules add their own per response)."""
        shop_id = zlib.crc32(site.name.encode()) % 100_000_000
        if site.platform in ("sfcc", "sfcc_variants"):
            return (("X-DW-Request-Base-Id", f"{shop_id:08x}"),)
        if site.platform == "shopify":
            return (("Powered-By", "Shopify"), ("X-ShopId", str(shop_id)))
        return ()

    def respond(self, site: DemoSite, path: str, query: str) -> Response:
        """Return the response for a GET of `path?query` on `site`, faults applied."""
        if self.faults.slow_s > 0:
            time.sleep(self.faults.slow_s)
        response = self._fault(site, path)
        if response is None:
            response = self._route(site, path, query)
        return self._after(site, path, response)

    def _route(self, site: DemoSite, path: str, query: str) -> Response:
        """Return the response of the site's route for `path` (or a redirect trap, or 404)."""
        if self.faults.image_faults and site.name == image_faults.IMAGE_FAULT_SITE:
            site = self._with_image_faults(site)
            case = image_faults.case_for_path(path)
            if case is not None:
                return self._image_fault(site, case)
        if self.faults.redirect_traps:
            trap = pages.redirect_traps(site, self._port).get(path)
            if trap is not None:
                status, location = trap
                return Response(status, pages.redirect_page(location), headers=(("Location", location),))
        params = parse_qs(query)
        for pattern, route in self._routes[site.platform]:
            match = pattern.fullmatch(path)
            if match:
                return route(site, match, params)
        return self._not_found(site)

    def _with_image_faults(self, site: DemoSite) -> DemoSite:
        """Return `site` with the image-faults product listed first (built once per server)."""
        with self._cache_lock:
            if self._image_fault_site is None:
                product = image_faults.image_faults_product(site, self.world.seed)
                self._image_fault_site = replace(site, products=[product, *site.products])
            return self._image_fault_site

    def _image_fault(self, site: DemoSite, case: str) -> Response:
        """Answer a `/cdn/shop/files/faults/<case>.<ext>` request (see `image_faults`)."""
        faults = self.faults
        if case == "broken":
            return self._not_found(site)
        if case == "slow_ok":
            time.sleep(image_faults.SLOW_OK_DELAY_S)
        retry = (("Retry-After", image_faults.RETRY_AFTER),)
        if case == "flaky_500":
            count = faults.hit("image_fault:flaky_500", site.name)
            if count == 1:
                return Response(500, pages.error_page(500, "Internal Server Error"))
            if count == 2:
                return Response(503, pages.error_page(503, "Service Unavailable"), headers=retry)
        if case == "rate_limited" and faults.hit("image_fault:rate_limited", site.name) == 1:
            return Response(429, pages.error_page(429, "Too Many Requests"), headers=retry)
        image = image_faults.fault_images()[case]
        headers = [("Cache-Control", "public, max-age=31536000"), *image.headers]
        path = image_faults.IMAGE_FAULT_PATHS[case]
        if path in faults.noai_images and case != "noai":
            headers.append(("X-Robots-Tag", "noai"))
        return Response(200, image.body, image.content_type, tuple(headers))

    def _fault(self, site: DemoSite, path: str) -> Response | None:
        """Return a fault response if a switch fires for this request."""
        faults = self.faults
        if path == "/robots.txt":
            return None
        if faults.captcha or site.name in faults.captcha_sites:
            return Response(200, pages.captcha_page(), headers=(("Cache-Control", "no-store"),))
        if faults.every(faults.error_500_every, "error_500", site.name):
            return Response(500, pages.error_page(500, "Internal Server Error"))
        listing = self._is_listing(site, path)
        if listing and faults.every(faults.rate_limit_every, "rate_limit", site.name):
            body = pages.to_json({"errors": "Exceeded 2 calls per second for api client. "
                                            "Reduce request rates to resume uninterrupted service."})
            return Response(429, body, JSON, (("Retry-After", "1"),))
        if listing and faults.every(faults.html_instead_of_json_every, "html_json", site.name):
            return Response(200, pages.maintenance_page())
        return None

    def _is_listing(self, site: DemoSite, path: str) -> bool:
        """Whether ``path`` is the site's JSON product listing (what the listing faults hit)."""
        return path == self._listing_paths.get(site.platform)

    def _after(self, site: DemoSite, path: str, response: Response) -> Response:
        """Apply the faults that alter a finished response (truncation, noai headers)."""
        faults = self.faults
        if (self._is_listing(site, path) and response.status == 200 and response.content_type == JSON
                and faults.every(faults.truncate_json_every, "truncate_json", site.name)):
            response = Response(200, response.body[:len(response.body) // 2], JSON, response.headers)
        if path in faults.truncated_paths and response.status == 200:
            response = Response(200, response.body[:len(response.body) // 2], response.content_type,
                                response.headers)
        if path in faults.noai_pages:
            response = Response(response.status, response.body, response.content_type,
                                (*response.headers, ("X-Robots-Tag", "noai, noimageai")))
        return response

    def _not_found(self, site: DemoSite | None = None) -> Response:
        """Return the site's 404 page."""
        if site is not None and site.platform == "sfcc":
            return Response(404, atelier_pages.not_found_page(site, self._port))
        return Response(404, pages.not_found_page())

    def _home(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /."""
        return Response(200, pages.home_page(site, self._port))

    def _robots(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /robots.txt."""
        return Response(200, pages.robots_txt(site, self._port), TEXT)

    def _products(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /products.json?limit=L&page=P with Shopify paging rules."""
        limit, page = pages.parse_paging(params)
        if page * limit > pages.MAX_OFFSET:
            return Response(400, pages.paging_error(limit, page), JSON)
        body = pages.products_page(site, self._port, limit, page, control_chars=self.faults.control_chars)
        return Response(200, body, JSON)

    def _collections(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /collections.json?limit=L&page=P."""
        limit, page = pages.parse_paging(params)
        if page * limit > pages.MAX_OFFSET:
            return Response(400, pages.paging_error(limit, page), JSON)
        return Response(200, pages.collections_page(site, limit, page), JSON)

    def _collection_products(self, site: DemoSite, match: re.Match[str],
                             params: dict[str, list[str]]) -> Response:
        """GET /collections/<handle>/products.json?limit=L&page=P (404 for an unknown collection)."""
        limit, page = pages.parse_paging(params)
        if page * limit > pages.MAX_OFFSET:
            return Response(400, pages.paging_error(limit, page), JSON)
        body = pages.collection_products_page(site, self._port, match["handle"], limit, page)
        if body is None:
            return Response(404, pages.to_json({"errors": "Not Found"}), JSON)
        return Response(200, body, JSON)

    def _product_json(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /products/<handle>.json."""
        product = site.product(match["handle"])
        if product is None:
            return Response(404, pages.to_json({"errors": "Not Found"}), JSON)
        return Response(200, pages.product_json(product, site, self._port), JSON)

    def _product_page(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /products/<handle> (HTML with JSON-LD)."""
        product = site.product(match["handle"])
        if product is None:
            return self._not_found(site)
        return Response(200, pages.product_page(product, site, self._port))

    def _sitemap_index(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /sitemap.xml."""
        return Response(200, pages.sitemap_index(site, self._port), XML)

    def _products_sitemap(self, site: DemoSite, match: re.Match[str],
                          params: dict[str, list[str]]) -> Response:
        """GET /sitemap_products_1.xml (redirect traps listed when that fault is on)."""
        extra = pages.trap_entry_paths(site) if self.faults.redirect_traps else ()
        return Response(200, pages.products_sitemap(site, self._port, extra), XML)

    # the SFCC-like atelier ----------------------------------------------------------

    def _sfcc_home(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET / on the atelier."""
        return Response(200, atelier_pages.home_page(site, self._port))

    def _sfcc_robots(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /robots.txt on the atelier."""
        return Response(200, atelier_pages.robots_txt(site, self._port), TEXT)

    def _sfcc_sitemap_index(self, site: DemoSite, match: re.Match[str],
                            params: dict[str, list[str]]) -> Response:
        """GET /sitemap_index.xml."""
        return Response(200, atelier_pages.sitemap_index(site, self._port), XML)

    def _sfcc_product_sitemap(self, site: DemoSite, match: re.Match[str],
                              params: dict[str, list[str]]) -> Response:
        """GET /sitemap_0-product.xml.gz: gzip bytes as the body, no Content-Encoding."""
        extra = pages.trap_entry_paths(site) if self.faults.redirect_traps else ()
        return Response(200, atelier_pages.product_sitemap_gz(site, self._port, extra), GZIP)

    def _sfcc_content_sitemap(self, site: DemoSite, match: re.Match[str],
                              params: dict[str, list[str]]) -> Response:
        """GET /sitemap_0-content.xml."""
        return Response(200, atelier_pages.content_sitemap(site, self._port), XML)

    def _sfcc_product_page(self, site: DemoSite, match: re.Match[str],
                           params: dict[str, list[str]]) -> Response:
        """GET /<slug>-<SKU>.html (query ignored; disallowed /private/ pages are served too)."""
        product = site.page(match.string)
        if product is None:
            return self._not_found(site)
        return Response(200, atelier_pages.product_page(product, site, self._port))

    def _sfcc_content_page(self, site: DemoSite, match: re.Match[str],
                           params: dict[str, list[str]]) -> Response:
        """GET /about-us.html and the other content pages."""
        title = dict(atelier_pages.CONTENT_PAGES).get(match.string)
        if title is None:
            return self._not_found(site)
        return Response(200, atelier_pages.content_page(site, self._port, title))

    def _sfcc_category(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /women/kurta/?start=N&sz=M."""
        start = pages.int_param(params, "start", 0)
        size = pages.int_param(params, "sz", atelier_pages.CATEGORY_PAGE_SIZE)
        body = atelier_pages.category_page(site, self._port, match.string, start, size)
        return self._not_found(site) if body is None else Response(200, body)

    def _sfcc_cart(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET /on/demandware.store/... (the SFCC pipeline URLs robots.txt disallows)."""
        return Response(200, atelier_pages.cart_page(site, self._port),
                        headers=(("Cache-Control", "no-cache, no-store"),))

    def image_route(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        """GET an image path of the site (/cdn/shop/..., /dw/image/..., /wp-content/uploads/...): the drawn
        image, or 404 for unknown or broken paths (the query is ignored, as CDNs resize by it)."""
        spec = self._images[site.name].get(match.string)
        if spec is None or spec.broken:
            return self._not_found(site)
        headers = [("Cache-Control", "public, max-age=31536000")]
        if spec.path in self.faults.noai_images:
            headers.append(("X-Robots-Tag", "noai"))
        return Response(200, self.image_bytes(site.name, spec), content_type(spec.draw.fmt),
                        tuple(headers))

    def image_bytes(self, site_name: str, spec: ImageSpec) -> bytes:
        """Return the encoded image for `spec`, drawing it once per server."""
        key = (site_name, spec.path)
        with self._cache_lock:
            cached = self._image_cache.get(key)
        if cached is None:
            cached = spec.encoded()
            with self._cache_lock:
                self._image_cache[key] = cached
        return cached


# The demo sites of the other platforms (a module each: LISTING_PATH and routes(server)), by DemoSite.platform.
PLATFORM_DEMOS = {"woocommerce": woo_pages, "magento": magento_pages, "sfcc_variants": sfcc_pages}


@contextmanager
def running_demo(port: int = 0, seed: int = 7, *, platform_demos: bool = False) -> Iterator[DemoServer]:
    """Yield a started `DemoServer` for `build_world(seed)`, stopping it on exit.

    Args:
        port: Port for every site; 0 picks a free one common to all loopback addresses.
        seed: World seed.
        platform_demos: Serve the SFCC, WooCommerce and Magento demo stores too.
    """
    server = DemoServer(build_world(seed, platform_demos=platform_demos), port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
