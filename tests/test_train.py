"""Train stage on the tiny SD model and a solid-colour imagefolder dataset (CPU, a few steps)."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from pakfashion.common.dataset_files import DatasetSplit
from pakfashion.config import PredictionType, Resume, TrainConfig, TrainMethod
from pakfashion.models.sd import load_run
from pakfashion.training.checkpoint import (
    TrainerState,
    find_resumable,
    list_checkpoints,
    load_checkpoint,
    run_config,
    save_checkpoint,
)
from pakfashion.training.data import (
    BucketBatches,
    CachedLatents,
    LatentCache,
    TextCache,
    TrainingData,
    preprocess_image,
    read_rows,
    training_data,
)
from pakfashion.training.loop import (
    check_settings,
    clip_gradients,
    fit,
    make_accelerator,
    prepare_training,
    train,
)
from pakfashion.training.loss import (
    min_snr_weights,
    noise_target,
    sample_noise,
    train_step,
)
from pakfashion.training.models import load_denoiser, lora_state
from tests.helpers import (
    COLOURS,
    configured,
    paths_under,
    tiny_model,
    write_colour_dataset,
)


@pytest.fixture()
def dataset_dir(tmp_path: Path) -> Path:
    return write_colour_dataset(tmp_path / "dataset")


def encode(
    tiny_sd: str, dataset_dir: Path, cache_dir: Path, *, flips: bool = True, buckets: list[tuple[int, int]] | None = None
) -> TrainingData:
    return training_data(
        DatasetSplit.open(dataset_dir, "train"), cache_dir, pretrained=tiny_sd, buckets=buckets or [(64, 64)], flips=flips,
        captions=configured(TrainConfig).captions, seed=0, weight_dtype=torch.float32, batch_size=4, device="cpu",
    )  # fmt: skip


def test_preprocess_resizes_crops_and_flips() -> None:
    image = Image.new("RGB", (100, 50), "black")
    image.paste((255, 255, 255), (0, 0, 50, 50))  # left half white
    pixels = preprocess_image(image, resolution_px=32, flip=False)
    flipped = preprocess_image(image, resolution_px=32, flip=True)
    assert pixels.shape == (3, 32, 32) and pixels.dtype == torch.float32
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0
    assert pixels[:, :, 0].mean() > 0.9 and pixels[:, :, -1].mean() < -0.9  # centre crop keeps the split
    assert torch.equal(flipped, pixels.flip(-1))


def test_read_rows_explains_bad_metadata(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="caption stage"):
        DatasetSplit.open(tmp_path, "train")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "metadata.jsonl").write_text('{"file_name": "a.jpg", "caption": "x"}\n')
    with pytest.raises(ValueError, match="file_name/text"):
        read_rows(DatasetSplit.open(tmp_path, "train"))


def test_noise_target_follows_prediction_type() -> None:
    from diffusers import DDPMScheduler

    latents, noise, timesteps = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.tensor([10, 500])
    assert noise_target(DDPMScheduler(prediction_type="epsilon"), latents, noise, timesteps) is noise
    v_scheduler = DDPMScheduler(prediction_type="v_prediction")
    expected = v_scheduler.get_velocity(latents, noise, timesteps)
    assert torch.equal(noise_target(v_scheduler, latents, noise, timesteps), expected)
    with pytest.raises(ValueError, match="epsilon or v_prediction"):
        noise_target(DDPMScheduler(prediction_type="sample"), latents, noise, timesteps)


def test_gradient_clipping_clips_the_lora_parameters(tiny_sd: str, dataset_dir: Path) -> None:
    torch.manual_seed(0)
    denoiser = load_denoiser(tiny_sd, rank=4, lora_alpha=4, weight_dtype=torch.float32)
    cache = encode(tiny_sd, dataset_dir, dataset_dir / "cache")
    settings = configured(TrainConfig, run_name="t", max_steps=1, batch_size=4)
    state = prepare_training(make_accelerator(settings), denoiser, cache, settings, seed=0)
    names = [name for name, p in denoiser.unet.named_parameters() if p.requires_grad]
    assert names and all("lora" in name for name in names)
    batch = next(iter(state.loader))
    loss = train_step(state.denoiser, batch, settings, scaling_factor=cache.latents.scaling_factor,
                      generator=state.generator)
    state.accelerator.backward(loss)
    max_norm = 1e-4
    before = clip_gradients(state.accelerator, state.params, max_grad_norm=max_norm)
    after = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in state.params]))
    assert before > max_norm
    assert after <= max_norm * 1.001


def test_train_learns_and_writes_outputs(tiny_sd: str, dataset_dir: Path, tmp_path: Path) -> None:
    paths = paths_under(tmp_path, dataset=dataset_dir, models=tmp_path / "models", metrics=tmp_path / "m", plots=tmp_path / "p",
                        state=tmp_path / "state")
    settings = configured(TrainConfig, run_name="lora-tiny", max_steps=4, batch_size=4, lr=1e-2, log_every=2)
    lock = tmp_path / "dvc.lock"
    lock.write_text(f"schema: '2.0'\nstages:\n  caption:\n    cmd: x\n    outs:\n    - path: {dataset_dir}\n"
                    "      hash: md5\n      md5: 0123abc.dir\n")
    torch.manual_seed(0)
    model = tiny_model(tiny_sd)
    metrics = train(paths, model, settings, seed=0, lock_file=lock)

    weights = load_file(tmp_path / "models" / "lora-tiny" / "pytorch_lora_weights.safetensors")
    up = [tensor for key, tensor in weights.items() if "lora.up" in key]
    # Gaussian init sets every LoRA "up" (B) matrix to zero: non-zero means the optimizer moved them.
    assert up and all(tensor.abs().sum() > 0 for tensor in up)
    pipe = load_run(tmp_path / "models" / "lora-tiny", base=tiny_sd, device="cpu")
    assert pipe.get_list_adapters() == {"unet": ["default_0"]}

    card = (tmp_path / "models" / "lora-tiny" / "README.md").read_text()
    # A local base folder is named in the text, never as the Hub's base_model (the Hub rejects a path).
    assert card.startswith("---\nlibrary_name: diffusers\nlicense: mit\n") and "base_model" not in card
    assert f"from `{tiny_sd}`" in card and "DVC md5 `0123abc.dir`" in card
    assert "`lora-tiny.safetensors` is the same LoRA in the kohya layout" in card
    assert "| lr | 0.01 |" in card and "| steps | 4 |" in card and "load_lora_weights" in card
    assert "## Captions" in card and "`train.captions.source=parts`" in card and "| brand dropout | 0.7 |" in card
    on_disk = json.loads((tmp_path / "m" / "train.json").read_text())
    assert on_disk == pytest.approx(metrics)
    assert on_disk["steps"] == 4 and on_disk["samples"] == 8 and on_disk["effective_batch_size"] == 4
    assert on_disk["steps_per_s"] > 0 and on_disk["train_seconds"] > 0
    assert on_disk["final_loss"] > 0 and on_disk["mean_loss_last_10"] > 0
    with (tmp_path / "p" / "train_loss.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["step"] for row in rows] == ["2", "4"]
    assert all(float(row["loss"]) > 0 and float(row["lr"]) == pytest.approx(1e-2) for row in rows)


def test_fit_counts_optimizer_steps_with_accumulation(tiny_sd: str, dataset_dir: Path) -> None:
    torch.manual_seed(0)
    denoiser = load_denoiser(tiny_sd, rank=2, lora_alpha=2, weight_dtype=torch.float32)
    cache = encode(tiny_sd, dataset_dir, dataset_dir / "cache", flips=False)
    settings = configured(TrainConfig, run_name="t", max_steps=3, batch_size=2, grad_accum=2, lr_warmup_steps=2, log_every=2)
    result = fit(denoiser, cache, settings, accelerator=make_accelerator(settings), seed=0)
    assert result.steps == 3 and len(result.losses) == 3
    assert result.epochs == 2  # 4 micro-batches per epoch = 2 optimizer steps
    assert [row["step"] for row in result.rows] == [2, 3]
    assert [row["lr"] for row in result.rows] == pytest.approx([settings.lr] * 2)  # warmup done after 2 steps


def test_latent_cache_is_reused_and_keyed(
    tiny_sd: str, dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    half_white = Image.new("RGB", (64, 64), "black")
    half_white.paste((255, 255, 255), (0, 0, 32, 64))
    half_white.save(dataset_dir / "train" / "0.jpg")
    first = encode(tiny_sd, dataset_dir, cache_dir)
    assert first.latents.buckets[0].shape == (8, 2, 8, 32, 32)  # 8 images x (plain, flipped) x (mean, logvar)
    # 8 distinct captions (rows without parts: their text) and the empty one (sorted first) caption dropout trains on
    assert first.texts.text_states.shape[0] == 9 and first.texts.empty_caption == 0
    assert sorted(set(first.texts.example_captions.flatten().tolist())) == list(range(1, 9))
    assert not torch.allclose(first.latents.buckets[0][0, 0], first.latents.buckets[0][0, 1])  # the flipped copy

    def no_encoders(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a cache hit must not load the VAE or text encoder")

    monkeypatch.setattr("pakfashion.training.data.load_vae", no_encoders)
    monkeypatch.setattr("pakfashion.training.data.load_text_encoders", no_encoders)
    again = encode(tiny_sd, dataset_dir, cache_dir)
    assert torch.equal(again.latents.buckets[0], first.latents.buckets[0])
    assert torch.equal(again.texts.text_states, first.texts.text_states)
    assert len(list((cache_dir / "latents").glob("*.pt"))) == len(list((cache_dir / "text").glob("*.pt"))) == 1
    with pytest.raises(AssertionError, match="cache hit"):  # other flips: another key
        encode(tiny_sd, dataset_dir, cache_dir, flips=False)
    with (dataset_dir / "train" / "metadata.jsonl").open("a") as handle:  # a new dataset version: another key
        handle.write(json.dumps({"file_name": "0.jpg", "text": "red lawn kurta"}) + "\n")
    with pytest.raises(AssertionError, match="cache hit"):
        encode(tiny_sd, dataset_dir, cache_dir)


def _two_bucket_cache(examples: tuple[int, int] = (7, 3)) -> TrainingData:
    """A cache shell: ``examples[0]`` square and ``examples[1]`` portrait examples, interleaved, two image
    variants, one caption each."""
    total = sum(examples)
    bucket = torch.tensor([i % 2 if i < 2 * examples[1] else 0 for i in range(total)])
    rows = torch.zeros(total, dtype=torch.long)
    for b in (0, 1):
        rows[bucket == b] = torch.arange(int((bucket == b).sum()))
    latents = LatentCache(
        buckets=[torch.zeros(examples[0], 2, 8, 4, 4), torch.zeros(examples[1], 2, 8, 5, 3)],
        bucket_sizes=torch.tensor([[8, 8], [6, 10]]), example_bucket=bucket, example_row=rows,
        time_ids=torch.zeros(total, 2, 6), scaling_factor=1.0,
    )  # fmt: skip
    texts = TextCache(captions=[""], example_captions=torch.zeros(total, 1, dtype=torch.long), empty_caption=0,
                      text_states=torch.zeros(1, 1, 1), pooled_text=None)
    return TrainingData(latents, texts)


def test_bucket_batches_replay_each_epoch_and_never_mix_buckets() -> None:
    cache = _two_bucket_cache()
    order = BucketBatches(cache, batch_size=3, seed=3)
    first = list(order)
    assert len(first) == len(order) == 3 + 1  # ceil(7 / 3) square batches + ceil(3 / 3) portrait batch
    order.set_epoch(1)
    second = list(order)
    order.set_epoch(0)
    assert list(order) == first != second
    items = [index for batch in first for index in batch]
    assert sorted(index // 2 for index in items) == list(range(10))  # each example once, plain or flipped
    assert {index % 2 for batch in first + second for index in batch} == {0, 1}
    for batch in first:
        assert len({int(cache.latents.example_bucket[index // 2]) for index in batch}) == 1
    assert list(BucketBatches(cache, batch_size=3, seed=4)) != first
    loader = torch.utils.data.DataLoader(CachedLatents(cache), batch_sampler=order)
    shapes = {tuple(batch["latent_params"].shape[-2:]) for batch in loader}
    assert shapes == {(4, 4), (5, 3)}


def test_aspect_buckets_keep_the_area_in_stride_multiples() -> None:
    from pakfashion.training.data import aspect_buckets, nearest_bucket

    buckets = aspect_buckets(512, stride_px=64, max_aspect=2.0)
    assert (512, 512) in buckets and (384, 640) in buckets and (640, 384) in buckets
    for width, height in buckets:
        assert width % 64 == 0 and height % 64 == 0 and width * height <= 512 * 512
        assert max(width, height) / min(width, height) <= 2.0
    assert nearest_bucket((600, 800), buckets) == (448, 576)  # a 3:4 product photo
    assert nearest_bucket((1000, 1000), buckets) == (512, 512)
    assert nearest_bucket((300, 1200), buckets) == (384, 640)  # narrower than any bucket: the narrowest
    with pytest.raises(ValueError, match="max_aspect"):
        aspect_buckets(512, stride_px=64, max_aspect=0.5)


def test_fit_to_bucket_crops_the_centre_and_records_sdxl_time_ids() -> None:
    from pakfashion.training.data import fit_to_bucket

    image = Image.new("RGB", (300, 500), "white")
    fitted, crop = fit_to_bucket(image, (48, 64))  # scale 0.16: 48 x 80, then 8 px off the top and bottom
    assert fitted.size == (48, 64)
    assert crop.time_ids() == [500, 300, 8, 0, 64, 48]
    wide, crop = fit_to_bucket(Image.new("RGB", (400, 200)), (64, 64))  # 128 x 64: 32 px off each side
    assert crop.top_left == (0, 32) and crop.mirrored().top_left == (0, 32)
    _, crop = fit_to_bucket(Image.new("RGB", (401, 200)), (64, 64))
    assert crop.top_left[1] + crop.mirrored().top_left[1] == crop.resized_width - 64


def test_bucketed_cache_keeps_portraits_uncropped(tiny_sd: str, tmp_path: Path) -> None:
    from pakfashion.training.data import bucket_summary, training_buckets

    split = tmp_path / "train"
    split.mkdir()
    rows = []
    for i, size in enumerate([(60, 90), (60, 90), (90, 60), (80, 80), (64, 96)]):
        Image.new("RGB", size, COLOURS[i]).save(split / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "text": f"{COLOURS[i]} kurta"})
    (split / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    buckets = training_buckets(tiny_sd, resolution_px=64, aspect=True, max_aspect=2.0)
    assert all(w % 4 == 0 and h % 4 == 0 for w, h in buckets)  # tiny: VAE x2, UNet x2
    cache = encode(tiny_sd, tmp_path, tmp_path / "cache", buckets=buckets).latents
    assert bucket_summary(cache) == "52x76: 3, 76x52: 1, 64x64: 1"
    assert [tuple(b.shape[-2:]) for b in cache.buckets] == [(38, 26), (26, 38), (32, 32)]
    assert cache.time_ids[0, 0].tolist() == [90, 60, 1, 0, 76, 52]  # 52 x 78 after scaling: 1 px off the top
    assert training_buckets(tiny_sd, resolution_px=64, aspect=False, max_aspect=2.0) == [(64, 64)]
    with pytest.raises(ValueError, match="latent stride"):
        training_buckets(tiny_sd, resolution_px=66, aspect=True, max_aspect=2.0)


def test_min_snr_weights_follow_the_paper() -> None:
    from diffusers import DDPMScheduler
    from diffusers.training_utils import compute_snr

    timesteps = torch.tensor([0, 100, 500, 999])
    epsilon = DDPMScheduler(prediction_type="epsilon")
    snr = compute_snr(epsilon, timesteps)
    weights = min_snr_weights(epsilon, timesteps, gamma=5.0)
    assert torch.allclose(weights, torch.clamp(snr, max=5.0) / snr)
    assert weights[0] < 1e-3 and weights[-1] == 1  # clean steps count little, the noisiest fully
    velocity = DDPMScheduler(prediction_type="v_prediction")
    assert torch.allclose(min_snr_weights(velocity, timesteps, gamma=5.0), torch.clamp(snr, max=5.0) / (snr + 1))


def test_noise_offset_adds_one_constant_per_channel() -> None:
    latents = torch.zeros(2, 4, 8, 8)
    plain = sample_noise(latents, offset=0.0, generator=torch.Generator().manual_seed(0))
    offset = sample_noise(latents, offset=0.1, generator=torch.Generator().manual_seed(0))
    shift = offset - plain
    assert shift.abs().max() > 0
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-6)


def test_prediction_type_override_and_snr_loss(tiny_sd: str, dataset_dir: Path) -> None:
    denoiser = load_denoiser(tiny_sd, rank=2, lora_alpha=2, weight_dtype=torch.float32,
                             prediction_type=PredictionType.v_prediction)
    assert denoiser.noise_scheduler.config.prediction_type == "v_prediction"
    cache = encode(tiny_sd, dataset_dir, dataset_dir / "cache")
    batch = next(iter(torch.utils.data.DataLoader(CachedLatents(cache), batch_size=4)))
    settings = configured(TrainConfig, run_name="t", snr_gamma=5.0, noise_offset=0.05)
    loss = train_step(denoiser, batch, settings, scaling_factor=cache.latents.scaling_factor, generator=torch.Generator())
    assert torch.isfinite(loss) and loss > 0
    with pytest.raises(ValueError, match="positive gamma"):
        check_settings(configured(TrainConfig, run_name="t", snr_gamma=0.0))


def test_checkpoint_round_trip_restores_lora_optimizer_and_noise_rng(
    tiny_sd: str, dataset_dir: Path, tmp_path: Path
) -> None:
    settings = configured(TrainConfig, run_name="t", max_steps=2, batch_size=4, lr=1e-2)
    cache = encode(tiny_sd, dataset_dir, tmp_path / "cache")
    torch.manual_seed(0)
    trained = load_denoiser(tiny_sd, rank=2, lora_alpha=2, weight_dtype=torch.float32)
    state = prepare_training(make_accelerator(settings), trained, cache, settings, seed=0)
    for _ in range(2):
        batch = next(iter(state.loader))
        loss = train_step(state.denoiser, batch, settings, scaling_factor=1.0, generator=state.generator)
        state.accelerator.backward(loss)
        state.optimizer.step()
        state.optimizer.zero_grad()
    state.generator.manual_seed(123)
    path = save_checkpoint(state.accelerator, tmp_path / "ckpt", TrainerState(step=2, losses=[1.0, 0.5]),
                           config={"train": {}}, keep=1)
    assert json.loads((path / "train_config.json").read_text()) == {"train": {}}

    torch.manual_seed(1)  # another LoRA init
    fresh = load_denoiser(tiny_sd, rank=2, lora_alpha=2, weight_dtype=torch.float32)
    restored = prepare_training(make_accelerator(settings), fresh, cache, settings, seed=9)
    before = zip(lora_state(fresh.unet).values(), lora_state(trained.unet).values(), strict=True)
    assert not all(torch.equal(a, b) for a, b in before)
    progress = load_checkpoint(restored.accelerator, path)
    assert progress == TrainerState(step=2, losses=[1.0, 0.5])
    expected = lora_state(trained.unet)
    assert expected and all(torch.equal(tensor, expected[key]) for key, tensor in lora_state(fresh.unet).items())
    assert torch.equal(restored.generator.get_state(), torch.Generator().manual_seed(123).get_state())
    moments = [restored.optimizer.state_dict()["state"][i]["exp_avg"] for i in range(len(restored.params))]
    assert all(torch.equal(m, state.optimizer.state_dict()["state"][i]["exp_avg"]) for i, m in enumerate(moments))


def test_find_resumable_starts_over_unless_settings_match(tmp_path: Path) -> None:
    config = {"train": {"lr": 1e-3, "max_steps": 10}, "seed": 1}
    for step in (4, 8, 12):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "train_config.json").write_text(json.dumps(config))
    (tmp_path / "checkpoint-16.tmp").mkdir()  # killed while saving
    longer = {"train": {"lr": 1e-3, "max_steps": 20}, "seed": 1}
    assert find_resumable(tmp_path, longer, resume=Resume.latest, max_steps=20) == tmp_path / "checkpoint-12"
    assert not (tmp_path / "checkpoint-16.tmp").exists()
    shorter = {"train": {"lr": 1e-3, "max_steps": 10}, "seed": 1}  # continues before its end, drops later ones
    assert find_resumable(tmp_path, shorter, resume=Resume.latest, max_steps=10) == tmp_path / "checkpoint-8"
    assert [step for step, _ in list_checkpoints(tmp_path)] == [4, 8]
    other_lr = {"train": {"lr": 1e-4, "max_steps": 10}, "seed": 1}
    assert find_resumable(tmp_path, other_lr, resume=Resume.latest, max_steps=10) is None
    assert list_checkpoints(tmp_path) == []
    (tmp_path / "checkpoint-3").mkdir()
    assert find_resumable(tmp_path, config, resume=Resume.none, max_steps=10) is None
    assert list_checkpoints(tmp_path) == []


def test_run_config_changes_with_the_base_unet_files(tiny_sd: str, tmp_path: Path) -> None:
    copy = tmp_path / "sd"
    shutil.copytree(tiny_sd, copy)
    model, settings = tiny_model(str(copy)), configured(TrainConfig, run_name="t")
    before = run_config(model, settings, seed=0, dataset_sha256="d")
    assert before["code_sha256"] and before["libraries"]["diffusers"] and before["unet_files"]
    weights = next((copy / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes() + b" ")  # a rebuilt base model
    assert run_config(model, settings, seed=0, dataset_sha256="d")["unet_files"] != before["unet_files"]


def test_full_fine_tune_saves_a_pipeline_with_ema_and_resumes(tiny_sd: str, dataset_dir: Path, tmp_path: Path) -> None:
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    paths = paths_under(tmp_path, dataset=dataset_dir, models=tmp_path / "models", metrics=tmp_path / "m", plots=tmp_path / "p",
                        state=tmp_path / "state")
    settings = configured(TrainConfig, run_name="full-tiny", method=TrainMethod.full, max_steps=3, batch_size=4, lr=1e-3,
                           log_every=1, checkpoint_every=2, ema_decay=0.99)
    model = tiny_model(tiny_sd, prediction_type=PredictionType.v_prediction)
    torch.manual_seed(0)
    assert train(paths, model, settings, seed=0)["steps"] == 3
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / "models" / "full-tiny")
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert load_run(tmp_path / "models" / "full-tiny", base=tiny_sd, device="cpu").get_list_adapters() == {}
    assert "from_pretrained(" in (tmp_path / "models" / "full-tiny" / "README.md").read_text()
    base = UNet2DConditionModel.from_pretrained(tiny_sd, subfolder="unet").state_dict()
    changed = [key for key, value in pipe.unet.state_dict().items() if not torch.equal(value, base[key])]
    assert len(changed) > len(base) // 2  # every weight trains, not an adapter
    checkpoint = tmp_path / "state" / "train" / "full-tiny" / "checkpoint-3"
    assert (checkpoint / "model.safetensors").is_file() and (checkpoint / "custom_checkpoint_1.pkl").is_file()  # EMA

    longer = train(paths, model, replace(settings, max_steps=4), seed=0)
    assert longer["steps"] == 4 and longer["resumed_from_step"] == 3
    with pytest.raises(ValueError, match="EMA is for method=full"):
        check_settings(configured(TrainConfig, run_name="t", ema_decay=0.999))
