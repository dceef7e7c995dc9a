"""The Gradio app: Dataset (browse, excluded, curation, sites & robots), Generate (base vs a run), Runs (dvc exp show).

Handlers turn missing inputs and bad requests into a warning toast and a Markdown message, never a
traceback; the data they show comes from :mod:`pakfashion.app.data`, rendered by :mod:`pakfashion.app.views`.
"""

from __future__ import annotations

import io
import logging
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from PIL import Image

from pakfashion.app import data, views
from pakfashion.app.data import DataMissing, DatasetQuery, FileSnapshotCache
from pakfashion.app.generate import (
    BASE,
    MAX_IMAGES,
    MAX_STEPS,
    GenerationRequest,
    ModelPair,
    compare,
)
from pakfashion.app.settings import AppSettings
from pakfashion.contracts import (
    CRAWL_REPORT_FILE,
    CURATION_METRICS,
    CURATION_REPORT,
    EVAL_METRICS,
    SAMPLES_REPORT,
)

log = logging.getLogger(__name__)

ANY = "(any)"
EMPTY = pd.DataFrame()


def message(err: Exception) -> str:
    """``err`` as the Markdown message to show in place of the content (data not produced yet)."""
    log.warning("%s", err)
    return views.problem_markdown(str(err))


def warn(err: Exception) -> str:
    """:func:`message`, also shown as a toast: for what the user just asked (generate, runs)."""
    gr.Warning(str(err))
    return message(err)


def choice(value: str | None) -> str:
    """A filter dropdown's value as a filter: ``(any)`` and nothing mean no filter."""
    return "" if value in (None, ANY) else str(value)


def filter_choices(values: list[str]) -> gr.Dropdown:
    """A filter dropdown's update: ``(any)`` then ``values``, reset to ``(any)``."""
    return gr.Dropdown(choices=[ANY, *values], value=ANY)


def image_cache(settings: AppSettings) -> Path:
    """Where the Dataset tab writes the images of a page that live inside Parquet shards."""
    return settings.paths.state / "app" / "images"


def store_image_cache(settings: AppSettings) -> Path:
    """Where the Curation view writes the stored images it shows (dropped ones are in no dataset), by sha256."""
    return image_cache(settings) / "store"


class AppData:
    """The stages' outputs as the app reads them, reloaded when a file changes on disk."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.paths = settings.paths
        self._cache = FileSnapshotCache()

    def dataset(self) -> pd.DataFrame:
        files = data.dataset_files(self.paths.dataset)
        return self._cache.get("dataset", files, lambda: data.load_dataset(self.paths.dataset))

    def excluded(self) -> pd.DataFrame:
        path = self.paths.excluded_csv
        return self._cache.get("excluded", [path], lambda: data.load_excluded(path))

    def reports(self) -> list[dict[str, Any]]:
        files = sorted(self.paths.raw.glob(f"*/{CRAWL_REPORT_FILE}"))
        return self._cache.get("reports", files, lambda: data.load_crawl_reports(self.paths.raw))

    def image_statuses(self) -> pd.DataFrame:
        path = self.paths.images_csv
        return self._cache.get("images", [path], lambda: data.load_image_statuses(path))

    def curation(self) -> pd.DataFrame:
        path = self.paths.curation_csv
        return self._cache.get("curation", [path], lambda: data.load_curation(path))

    def curation_metrics(self) -> dict[str, Any]:
        path = self.paths.metrics / CURATION_METRICS
        return self._cache.get("curation_metrics", [path], lambda: data.load_curation_metrics(path))

    def relative(self, path: Path) -> Path:
        """``path`` relative to the repository (as DVC and ``dvc exp show`` name it)."""
        return path.relative_to(self.settings.repo)


# --- Dataset tab ----------------------------------------------------------------------------------------


def show_page(store: AppData, text: str, site: str, garment: str, colour: str, number: int) -> tuple[str, str, int]:
    """The dataset page ``number`` under the filters: cards HTML, page line, page number shown."""
    try:
        frame = store.dataset()
    except DataMissing as err:
        return "", message(err), 1
    query = DatasetQuery(text=text or "", site=choice(site), garment=choice(garment), colour=choice(colour))
    page = data.page_of(data.filter_dataset(frame, query), int(number or 1), size=store.settings.page_size)
    rows = data.with_image_files(page.rows, store.paths.dataset, image_cache(store.settings))
    return views.dataset_cards(rows), views.page_line(page), page.number


def show_curation(store: AppData, reason: str, site: str, number: int) -> tuple[str, str, str, int]:
    """The dropped images with this reason and site, page ``number``: cards HTML, summary, page line, page shown."""
    try:
        frame = store.curation()
    except DataMissing as err:
        return "", message(err), "", 1
    summary = views.curation_summary_markdown(data.curation_summary(frame, store.curation_metrics()))
    report = store.paths.reports / CURATION_REPORT
    if report.is_file() and report.is_relative_to(store.settings.repo):
        summary += f"  \nEvery dropped image by reason, self-contained: `{store.relative(report)}`"
    rows = data.filter_curation(frame, reason=choice(reason), site=choice(site))
    page = data.page_of(rows, int(number or 1), size=store.settings.page_size)
    shown = data.with_store_images(page.rows, store.paths.images, store_image_cache(store.settings))
    return views.curation_cards(shown), summary, views.page_line(page, unit="dropped images"), page.number


def curation_filters(store: AppData) -> tuple[gr.Dropdown, gr.Dropdown]:
    """Reason and site choices of the Curation view: those of the dropped images."""
    try:
        reasons, sites = data.curation_facets(store.curation())
    except DataMissing:
        reasons, sites = [], []
    return filter_choices(reasons), filter_choices(sites)


def paged(
    show: Callable[..., tuple[Any, ...]],
    filters: list[Any],
    number: gr.State,
    outputs: list[Any],
    buttons: tuple[gr.Button, gr.Button],
    triggers: list[Callable[..., Any]],
) -> Callable[..., tuple[Any, ...]]:
    """Wire a paged view: ``show(*filter values, page)`` returns ``outputs``, the page shown last (``number``).
    ``triggers`` show page 1, the (previous, next) ``buttons`` step from ``number``; returns the first-page
    handler (for the page's load event)."""

    def first_page(*values: Any) -> tuple[Any, ...]:
        return show(*values, 1)

    def step(delta: int) -> Callable[..., tuple[Any, ...]]:
        return lambda *values: show(*values[:-1], int(values[-1]) + delta)

    for trigger in triggers:
        trigger(first_page, filters, outputs)
    for button, delta in zip(buttons, (-1, +1), strict=True):
        button.click(step(delta), [*filters, number], outputs)
    return first_page


def dataset_filters(store: AppData) -> tuple[gr.Dropdown, gr.Dropdown, gr.Dropdown]:
    """Site, garment and colour choices from the dataset (empty when it is missing)."""
    try:
        found = data.facets(store.dataset())
    except DataMissing:
        found = data.Facets([], [], [])
    return filter_choices(found.sites), filter_choices(found.garments), filter_choices(found.colours)


def show_excluded(store: AppData, reason: str, site: str) -> tuple[pd.DataFrame, str]:
    """Excluded products with this reason and site, and a count line."""
    try:
        frame = store.excluded()
    except DataMissing as err:
        return EMPTY, message(err)
    rows = data.filter_excluded(frame, reason=choice(reason), site=choice(site))
    counts = ", ".join(
        f"{views.markdown_text(reason)} {n}" for reason, n in frame["reason"].value_counts().sort_index().items()
    )
    return views.explained(rows), f"**{len(rows)}** of {len(frame)} excluded products shown ({counts or 'none'})"


def excluded_filters(store: AppData) -> tuple[gr.Dropdown, gr.Dropdown]:
    """Reason and site choices of the excluded view."""
    try:
        frame = store.excluded()
    except DataMissing:
        return filter_choices([]), filter_choices([])
    return filter_choices(sorted(set(frame["reason"]))), filter_choices(sorted(set(frame["site"])))


def loaded_or_empty(load: Callable[[], pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """``load()``, or an empty frame with ``columns`` while its stage has not run."""
    try:
        return load()
    except DataMissing:
        return pd.DataFrame(columns=columns)


def show_sites(store: AppData) -> tuple[pd.DataFrame, pd.DataFrame, gr.Dropdown, str]:
    """Per-site counts, the robots/opt-out ledger, the robots.txt site choice and a message."""
    try:
        reports, images = store.reports(), store.image_statuses()
    except DataMissing as err:
        return EMPTY, EMPTY, gr.Dropdown(choices=[]), message(err)
    # Crawled but not processed yet: the counts of what exists.
    dataset = loaded_or_empty(store.dataset, [*data.DATASET_COLUMNS, "image_path"])
    excluded = loaded_or_empty(store.excluded, data.EXCLUDED_COLUMNS)
    sites = [report["site"] for report in reports]
    counts, ledger = data.site_counts(reports, dataset, excluded, images), data.robots_ledger(reports, images)
    summary = f"{len(sites)} sites crawled, {len(excluded)} products excluded, {len(dataset)} images in the dataset"
    return counts, ledger, gr.Dropdown(choices=sites, value=sites[0] if sites else None), summary


def show_robots(store: AppData, site: str | None) -> str:
    """The robots.txt text(s) the crawl of ``site`` read."""
    try:
        return data.robots_texts(store.reports()).get(site or "", "")
    except DataMissing as err:
        return str(err)


def dataset_tab(store: AppData, app: gr.Blocks) -> None:
    """Browse (search, filters, pages), Excluded, Curation (dropped images, filters, pages) and Sites & robots."""
    with gr.Tabs():
        with gr.Tab("Browse", id="browse"):
            with gr.Row():
                text = gr.Textbox(
                    label="Search captions", placeholder="words, e.g. red lawn", elem_id="dataset-search", scale=3
                )
                site = gr.Dropdown([ANY], value=ANY, label="Site", elem_id="dataset-site")
                garment = gr.Dropdown([ANY], value=ANY, label="Garment", elem_id="dataset-garment")
                colour = gr.Dropdown([ANY], value=ANY, label="Colour", elem_id="dataset-colour")
            with gr.Row():
                search = gr.Button("Search", variant="primary", elem_id="dataset-search-button")
                previous = gr.Button("◀ Previous", elem_id="dataset-previous")
                following = gr.Button("Next ▶", elem_id="dataset-next")
            status = gr.Markdown(elem_id="dataset-status")
            grid = gr.HTML(elem_id="dataset-grid")
            number = gr.State(1)
        with gr.Tab("Excluded", id="excluded", elem_id="excluded-tab"):
            gr.Markdown(
                "Products the csv stage left out: why (`reason`), the signal that decided it (`signal`) "
                "and every signal the product carries (`evidence`: weight and target, field, matched text; "
                "negative weights are counter-evidence, e.g. adult sizes against a children's word)."
            )
            with gr.Row():
                reason = gr.Dropdown([ANY], value=ANY, label="Reason", elem_id="excluded-reason")
                excluded_site = gr.Dropdown([ANY], value=ANY, label="Site", elem_id="excluded-site")
            excluded_status = gr.Markdown(elem_id="excluded-status")
            datatypes = ["markdown" if name in ("product_url", "evidence") else "str" for name in data.EXCLUDED_COLUMNS]
            widths = ["8%", "14%", "8%", "18%", "32%", "6%", "8%", "6%"]
            excluded = gr.Dataframe(datatype=datatypes, wrap=True, interactive=False, column_widths=widths,
                                    elem_id="excluded-table")
        with gr.Tab("Curation", id="curation", elem_id="curation-tab"):
            gr.Markdown(
                "Images the curate stage dropped: why (`reason`), the measurement that decided it (`signal`), "
                "every other reason that fired, and every score on hover."
            )
            curation_summary = gr.Markdown(elem_id="curation-summary")
            with gr.Row():
                curation_reason = gr.Dropdown([ANY], value=ANY, label="Reason", elem_id="curation-reason")
                curation_site = gr.Dropdown([ANY], value=ANY, label="Site", elem_id="curation-site")
                curation_previous = gr.Button("◀ Previous", elem_id="curation-previous")
                curation_next = gr.Button("Next ▶", elem_id="curation-next")
            curation_status = gr.Markdown(elem_id="curation-status")
            curation_grid = gr.HTML(elem_id="curation-grid")
            curation_number = gr.State(1)
        with gr.Tab("Sites & robots", id="sites"):
            sites_status = gr.Markdown(elem_id="sites-status")
            gr.Markdown("### Per-site counts")
            counts = gr.Dataframe(interactive=False, elem_id="site-counts")
            gr.Markdown("### Robots and opt-out ledger (`data/raw/<site>/crawl.json`)")
            ledger = gr.Dataframe(interactive=False, wrap=True, elem_id="robots-ledger")
            robots_site = gr.Dropdown(label="robots.txt as read by the crawl", elem_id="robots-site")
            robots_text = gr.Code(label="robots.txt", elem_id="robots-text")

    filters, page_outputs = [text, site, garment, colour], [grid, status, number]
    first_page = paged(
        lambda *values: show_page(store, *values), filters, number, page_outputs, (previous, following),
        [text.submit, search.click, site.change, garment.change, colour.change],
    )  # fmt: skip
    curation_inputs = [curation_reason, curation_site]
    curation_outputs = [curation_grid, curation_summary, curation_status, curation_number]
    first_curation_page = paged(
        lambda *values: show_curation(store, *values), curation_inputs, curation_number, curation_outputs,
        (curation_previous, curation_next), [curation_reason.change, curation_site.change],
    )  # fmt: skip
    for trigger in (reason.change, excluded_site.change):
        trigger(lambda r, s: show_excluded(store, r, s), [reason, excluded_site], [excluded, excluded_status])
    robots_site.change(lambda s: show_robots(store, s), robots_site, robots_text)

    app.load(lambda: dataset_filters(store), None, [site, garment, colour]).then(first_page, filters, page_outputs)
    app.load(lambda: curation_filters(store), None, curation_inputs).then(
        first_curation_page, curation_inputs, curation_outputs
    )
    app.load(lambda: excluded_filters(store), None, [reason, excluded_site]).then(
        lambda r, s: show_excluded(store, r, s), [reason, excluded_site], [excluded, excluded_status]
    )
    app.load(lambda: show_sites(store), None, [counts, ledger, robots_site, sites_status])


# --- Generate tab ---------------------------------------------------------------------------------------


def run_choices(settings: AppSettings) -> gr.Dropdown:
    """Trained runs under ``models``, the one params.yaml trains first chosen."""
    runs = data.trained_runs(settings.paths.models)
    value = settings.default_run if settings.default_run in runs else (runs[0] if runs else None)
    return gr.Dropdown(choices=runs, value=value)


def run_generation(
    pair: ModelPair, settings: AppSettings, out_root: Path, request: GenerationRequest, run: str | None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str], str]:
    """Base and fine-tuned images (file, caption), all files for download, and a status line."""
    out_dir = out_root / uuid.uuid4().hex[:12]
    try:
        base, tuned = compare(pair, request, run=run or "", resolution_px=settings.model.resolution, out_dir=out_dir)
    except (ValueError, OSError) as err:  # DataMissing is an OSError; so are unreachable model weights
        return [], [], [], warn(err)
    files = [str(path) for path in [*base.files, *tuned.files]]
    captions = [f"seed {request.seed + i}" for i in range(request.num_images)]
    status = (
        f"{request.num_images} image(s) per model, seeds {request.seed} to {request.seed + request.num_images - 1}, "
        f"{request.steps} steps, guidance {request.guidance_scale}: **{BASE}** (`{pair.name}`) "
        f"vs **{tuned.model}**. The PNGs carry these settings (`parameters` text chunk)."
    )
    return (
        list(zip(map(str, base.files), captions, strict=True)),
        list(zip(map(str, tuned.files), captions, strict=True)),
        files,
        status,
    )


def generate_tab(settings: AppSettings, pair: ModelPair, app: gr.Blocks) -> None:
    """Prompt and settings, then base and fine-tuned images side by side and PNG downloads."""
    out_root = Path(tempfile.mkdtemp(prefix="pakfashion-app-"))
    defaults = settings.evaluate
    with gr.Row():
        with gr.Column(scale=2):
            prompt = gr.Textbox(label="Prompt", value=(defaults.prompts or [""])[0], elem_id="gen-prompt")
            negative = gr.Textbox(label="Negative prompt", placeholder="blurry, low quality", elem_id="gen-negative")
        with gr.Column(scale=1):
            run = gr.Dropdown(label="Trained run (models/<run>)", elem_id="gen-run")
            button = gr.Button("Generate", variant="primary", elem_id="gen-button")
    with gr.Row():
        seed = gr.Number(label="Seed", value=(defaults.seeds or [0])[0], precision=0, minimum=0, elem_id="gen-seed")
        steps = gr.Slider(1, MAX_STEPS, value=defaults.num_inference_steps, step=1, label="Steps", elem_id="gen-steps")
        guidance = gr.Slider(
            0.0, 20.0, value=defaults.guidance_scale, step=0.5, label="Guidance", elem_id="gen-guidance"
        )
        count = gr.Slider(1, MAX_IMAGES, value=1, step=1, label="Images", elem_id="gen-count")
    status = gr.Markdown(
        f"Base model: `{settings.base_model_name}` at {settings.model.resolution} px.", elem_id="gen-status"
    )
    with gr.Row():
        base = gr.Gallery(label="base", columns=2, height="auto", elem_id="gen-base")
        tuned = gr.Gallery(label="fine-tuned run", columns=2, height="auto", elem_id="gen-tuned")
    files = gr.File(label="Download PNGs (settings embedded)", file_count="multiple", elem_id="gen-files")

    def generate(
        prompt: str, negative: str, seed: float, steps: float, guidance: float, count: float, run: str | None
    ) -> Any:
        request = GenerationRequest(
            prompt=prompt,
            negative_prompt=negative,
            seed=int(seed or 0),
            steps=int(steps),
            guidance_scale=float(guidance),
            num_images=int(count),
        )
        return run_generation(pair, settings, out_root, request, run)

    inputs = [prompt, negative, seed, steps, guidance, count, run]
    button.click(generate, inputs, [base, tuned, files, status], concurrency_limit=1)
    prompt.submit(generate, inputs, [base, tuned, files, status], concurrency_limit=1)
    app.load(lambda: run_choices(settings), None, run)


# --- Runs tab -------------------------------------------------------------------------------------------


def show_runs(store: AppData, only_changed: bool) -> tuple[pd.DataFrame, gr.Dropdown, str]:
    """The ``dvc exp show`` table, the runs whose samples can be shown, and a status line."""
    metrics_file = (store.relative(store.paths.metrics) / EVAL_METRICS).as_posix()
    try:
        exp_show = data.read_exp_show(store.settings.repo)
    except RuntimeError as err:
        return EMPTY, gr.Dropdown(choices=[]), warn(err)
    table = data.runs_table(exp_show, metrics_file=metrics_file, only_changed=only_changed)
    refs = [(f"{ref.name} ({data.short_rev(ref.rev)})", ref.rev) for ref in data.run_refs(exp_show)]
    value = refs[0][1] if refs else None
    return (
        table,
        gr.Dropdown(choices=refs, value=value),
        f"{len(table)} runs: params (model, train) and `{metrics_file}`",
    )


def show_samples(store: AppData, rev: str | None) -> tuple[Image.Image | None, str]:
    """A run's ``reports/samples.png`` and a caption line."""
    if not rev:
        return None, ""
    samples = store.relative(store.paths.reports) / SAMPLES_REPORT
    try:
        image = Image.open(io.BytesIO(data.read_samples(store.settings.repo, rev, samples)))
    except DataMissing as err:
        return None, warn(err)
    return image, f"`{samples}` of {data.short_rev(rev)}: rows = prompts; per seed, base then fine-tuned."


def runs_tab(store: AppData, tab: gr.Tab) -> None:
    """The experiments table and each run's sample grid; read when the tab opens or on Refresh."""
    with gr.Row():
        only_changed = gr.Checkbox(label="Only changed params and metrics", value=False, elem_id="runs-only-changed")
        refresh = gr.Button("Refresh", elem_id="runs-refresh")
    status = gr.Markdown(elem_id="runs-status")
    table = gr.Dataframe(interactive=False, elem_id="runs-table")
    rev = gr.Dropdown(label="Samples of run", elem_id="runs-rev")
    caption = gr.Markdown(elem_id="runs-samples-caption")
    samples = gr.Image(label="reports/samples.png", type="pil", interactive=False, elem_id="runs-samples")

    for trigger in (tab.select, refresh.click, only_changed.change):
        trigger(lambda changed: show_runs(store, changed), only_changed, [table, rev, status])
    rev.change(lambda r: show_samples(store, r), rev, [samples, caption])


# --- the app --------------------------------------------------------------------------------------------


def build_app(settings: AppSettings, *, pair: ModelPair | None = None) -> gr.Blocks:
    """The whole app for ``settings.repo``; nothing is read until a browser opens it."""
    store = AppData(settings)
    pair = pair or ModelPair(settings.model.pretrained, settings.paths.models, name=settings.base_model_name)
    with gr.Blocks(title="pakfashion", analytics_enabled=False) as app:
        gr.Markdown(f"## pakfashion · `{settings.repo}`")
        with gr.Tabs():
            with gr.Tab("Dataset", id="dataset", elem_id="tab-dataset"):
                dataset_tab(store, app)
            with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
                generate_tab(settings, pair, app)
            with gr.Tab("Runs", id="runs", elem_id="tab-runs") as runs:
                runs_tab(store, runs)
    return app


def launch(app: gr.Blocks, settings: AppSettings, *, host: str, port: int, block: bool = True) -> str:
    """Serve ``app`` on ``host:port`` (no share link, no analytics); returns the local URL."""
    app.queue(default_concurrency_limit=2)
    _, local_url, _ = app.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        prevent_thread_lock=True,
        allowed_paths=[str(settings.paths.dataset), str(image_cache(settings))],  # store_image_cache is inside
        ssr_mode=False,
        quiet=True,
        css=views.CARD_CSS,
    )
    if block:
        app.block_thread()
    return local_url
