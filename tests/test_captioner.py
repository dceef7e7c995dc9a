"""The captioners behind one interface: per-image prompts from each product, the cache keyed by prompt template,
and the committed tiny SmolVLM run as the caption stage runs it (batched, left-padded, prompt stripped)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pakfashion.captioning.captioner import fill_prompt, load_captioner, product_prompts
from pakfashion.captioning.dataset import build_dataset, cache_path, load_caption_fn
from pakfashion.config import CaptionConfig, Captioner, DatasetConfig, SafetyChecks, VocabConfig
from pakfashion.demo.images import COLOURS, DrawSpec, render_image
from tests.conftest import REPO_ROOT
from tests.helpers import configured
from tests.test_caption import make_stage_inputs

SMOLVLM = REPO_ROOT / "assets" / "tiny" / "smolvlm"
LAYOUT = configured(DatasetConfig)


def test_prompt_names_the_products_title_and_listed_attributes() -> None:
    template = configured(CaptionConfig, "caption=smolvlm").prompt
    colourway = {"title": "Plain Lawn Kurta", "description": "A lawn kurta in 3 colours: red, navy, mustard.",
                 "category": "Kurta", "tags": json.dumps(["women", "lawn", "kurta"])}
    gift = {"title": "Gift Card", "description": "", "category": "", "tags": "[]"}
    first, second = product_prompts(template, [colourway, gift], configured(VocabConfig))
    assert first.startswith("Product: Plain Lawn Kurta. Listed attributes: kurta, red and navy, lawn. Describe")
    assert second.startswith("Product: Gift Card. Listed attributes: none. Describe"), second
    assert "Do not name the brand" in first
    assert product_prompts("", [colourway, gift], configured(VocabConfig)) == ["", ""]


def test_prompt_with_an_unknown_field_says_which_fields_exist() -> None:
    with pytest.raises(ValueError, match=r"\{brnad\}.*'title'"):
        fill_prompt("Brand: {brnad}", {"title": "T"})


def test_cache_key_includes_the_prompt_template_but_blip2_keeps_its_cache(tmp_path: Path) -> None:
    blip2 = configured(CaptionConfig, "caption=tiny")
    legacy = json.dumps([blip2.captioner.value, blip2.model, blip2.max_new_tokens])
    assert cache_path(tmp_path, blip2).stem == hashlib.sha256(legacy.encode()).hexdigest()[:16]
    smolvlm = configured(CaptionConfig, "caption=tiny_smolvlm")
    reworded = dataclasses.replace(smolvlm, prompt=smolvlm.prompt + " Be brief.")
    assert len({cache_path(tmp_path, s) for s in (blip2, smolvlm, reworded)}) == 3


def echo_title(images: list[Image.Image], prompts: list[str]) -> list[str]:
    """A captioner that answers with the title its prompt names."""
    return [re.search(r"Product: (.*?)\. Listed", p).group(1) for p in prompts]  # type: ignore[union-attr]


def test_each_image_is_captioned_with_its_own_products_prompt_and_a_new_prompt_recaptions(tmp_path: Path) -> None:
    """Images are batched by file size, not in product order: each prompt must still reach its own image."""
    paths = make_stage_inputs(tmp_path, n_products=8)
    settings = configured(CaptionConfig, "caption=tiny_smolvlm", text_tokenizer="", batch_size=3,
                          validation_percent=25)
    vocab = configured(VocabConfig)
    stats = build_dataset(paths, settings, vocab, LAYOUT, seed=1, caption_fn=echo_title)
    rows = [json.loads(line) for split in ("train", "validation")
            for line in (paths.dataset / split / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == stats.images_captioned == 16
    assert all(row["caption"] == row["title"].lower() for row in rows), [(r["caption"], r["title"]) for r in rows]
    assert build_dataset(paths, settings, vocab, LAYOUT, seed=1, caption_fn=echo_title).images_captioned == 0
    reworded = dataclasses.replace(settings, prompt="Product: {title}. Listed: {colours}.")
    assert build_dataset(paths, reworded, vocab, LAYOUT, seed=1, caption_fn=echo_title).images_captioned == 16


def test_smolvlm_refuses_images_without_prompts() -> None:
    captioner = load_captioner(Captioner.smolvlm, str(SMOLVLM), device="cpu")
    with pytest.raises(ValueError, match="one prompt per image"):
        captioner.caption([Image.new("RGB", (64, 64))], max_new_tokens=4)


def drawing(colour: str, shape: str = "tunic") -> Image.Image:
    return render_image(DrawSpec(shape=shape, colour=colour, width=240, height=320))  # type: ignore[arg-type]


def test_tiny_smolvlm_batches_like_one_by_one_and_returns_only_its_answer() -> None:
    """Left padding: a short prompt in a batch of long ones gets the caption it gets alone; no prompt text leaks."""
    caption_fn = load_caption_fn(configured(CaptionConfig, "caption=tiny_smolvlm"), device="cpu")
    assert caption_fn is not None and caption_fn.input_px == 64
    colours = ["red", "navy", "yellow", "green"]
    images = [drawing(c, s) for c, s in zip(colours, ["tunic", "dress", "wrap", "abaya"], strict=True)]
    template = configured(CaptionConfig, "caption=tiny_smolvlm").prompt
    products = [{"title": "Kurta"}, {"title": "Navy Embroidered Silk Lehenga With A Long Name For Padding"},
                {"title": "Yellow Printed Chiffon Dupatta"}, {"title": ""}]
    prompts = product_prompts(template, products, configured(VocabConfig))
    batched = caption_fn(images, prompts)
    alone = [caption_fn([image], [prompt])[0] for image, prompt in zip(images, prompts, strict=True)]
    assert batched == alone
    assert not any(word in " ".join(batched).lower() for word in ("product", "listed", "describe", "assistant"))
    assert [caption.split()[1] for caption in batched] == colours, batched


def test_tiny_smolvlm_names_the_colour_it_sees_not_the_one_the_title_names() -> None:
    """A colourway's photo under a title naming another colour: the caption names the photo's colour."""
    captioner = load_captioner(Captioner.smolvlm, str(SMOLVLM), device="cpu")
    template = configured(CaptionConfig, "caption=tiny_smolvlm").prompt
    drawn = ["red", "blue", "green", "black", "yellow", "maroon", "teal", "orange"]
    titled = drawn[3:] + drawn[:3]
    products = [{"title": f"{t.title()} Embroidered Lawn Kurta"} for t in titled]
    captions = captioner.caption([drawing(c) for c in drawn], product_prompts(template, products, configured(VocabConfig)),
                                 max_new_tokens=12)
    named = [next((w for w in caption.split() if w in COLOURS), "") for caption in captions]
    assert sum(n == d for n, d in zip(named, drawn, strict=True)) >= 7, list(zip(drawn, titled, captions))
    assert not any(n == t for n, t in zip(named, titled, strict=True)), list(zip(drawn, titled, captions))


def test_stage_inputs_prompts_come_from_the_examples_frame(tmp_path: Path) -> None:
    """caption_share reads each image's product fields from the examples (title, category, tags, description)."""
    paths = make_stage_inputs(tmp_path, n_products=2)
    products = pd.read_csv(paths.products_csv, dtype=str, keep_default_na=False)
    products.loc[0, "description"] = "A kurta in green and black."
    products.loc[0, "title"] = "Plain Kurta"
    products.to_csv(paths.products_csv, index=False)
    seen: list[str] = []

    def record(images: list[Image.Image], prompts: list[str]) -> list[str]:
        seen.extend(prompts)
        return ["x"] * len(images)

    settings = configured(CaptionConfig, "caption=tiny_smolvlm", text_tokenizer="", batch_size=8)
    build_dataset(paths, settings, configured(VocabConfig), LAYOUT, seed=1, caption_fn=record)
    assert "Product: Plain Kurta. Listed attributes: kurta, green and black. Describe the clothing in this photo." in seen
    assert "Product: Blue Lawn Kurta 1. Listed attributes: kurta, blue, lawn. Describe the clothing in this photo." in seen


def test_dataset_card_names_the_captioner_its_prompt_and_licence(tmp_path: Path) -> None:
    from pakfashion.captioning.card import render_dataset_card
    from pakfashion.captioning.dataset import card_inputs

    paths = make_stage_inputs(tmp_path, n_products=4)
    settings = configured(CaptionConfig, "caption=smolvlm", text_tokenizer="", num_workers=0, batch_size=4)
    stats = build_dataset(paths, settings, configured(VocabConfig), LAYOUT, seed=1, caption_fn=echo_title)
    card = render_dataset_card(card_inputs(paths, settings, LAYOUT, stats, safety=configured(SafetyChecks)))
    assert "`smolvlm` (`HuggingFaceTB/SmolVLM-500M-Instruct`, licence: Apache-2.0" in card
    assert f"`{settings.prompt}`" in card
    blip2 = configured(CaptionConfig, "caption=blip2", text_tokenizer="", num_workers=0)
    assert "no prompt" in render_dataset_card(card_inputs(paths, blip2, LAYOUT, stats, safety=configured(SafetyChecks)))


def photo_colour_rows(dataset: Path) -> list[dict]:
    """metadata.jsonl rows whose photo's colour is known (one colour: the store says which, or names one)."""
    rows = [json.loads(line) for split in ("train", "validation")
            for line in (dataset / split / "metadata.jsonl").read_text().splitlines()]
    return [row for row in rows if len(row["colours"]) == 1]


@pytest.mark.slow
@pytest.mark.network
def test_caption_stage_on_the_demo_store_names_each_photos_colour(tmp_path: Path, repo_root: Path) -> None:
    """`dvc repro caption` on the demo store with the tiny SmolVLM, then with the tiny BLIP-2: both captioners'
    captions name the colour each photo shows (the stage's caption_colour_accuracy and row by row)."""
    import sys

    from pakfashion.common.params import recompose_params
    from tests.helpers.repo import copy_repo, run

    work = copy_repo(repo_root, tmp_path / "repo", with_git=True)
    bars = {"tiny_smolvlm": 0.9, "tiny": 0.8}
    for option, bar in bars.items():
        recompose_params(work, [f"caption={option}"])
        run([sys.executable, "-m", "pakfashion.demo", "run", "--port", "0", "--", "dvc", "repro", "caption"], work)
        metrics = json.loads((work / "metrics" / "caption.json").read_text())
        assert metrics["images_captioned"] > 0 and metrics["caption_colour_known"] >= 60, (option, metrics)
        assert metrics["caption_colour_accuracy"] >= bar, (option, metrics)
        assert metrics["caption_garment_accuracy"] >= 0.7, (option, metrics)
        rows = photo_colour_rows(work / "data" / "dataset")
        named = [row for row in rows if row["colours"][0] in row["caption"].split()]
        assert len(named) >= bar * len(rows), (option, [(r["caption"], r["colours"]) for r in rows][:10])
        card = (work / "data" / "dataset" / "README.md").read_text()
        assert f"`{configured(CaptionConfig, f'caption={option}').model}`" in card
