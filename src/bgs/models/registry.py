"""The backbone registry: what each kind of model is, how it loads, preprocesses and pools.

A model is named ``KIND:SOURCE``: ``SOURCE`` is a local folder written by
``save_pretrained`` (or a hub id on machines with network access); for ``vjepa2.1`` it is
Meta's ``.pt`` checkpoint or a folder from ``bgs models convert-vjepa2.1``. Kinds:

| kind | family | transformers class | input | pooled embedding |
|---|---|---|---|---|
| timesformer | video | TimesformerModel | B×T clips | CLS token |
| videomae | video | VideoMAEModel | B×T clips | mean of tokens |
| vjepa2 | video | VJEPA2Model (encoder only) | B×T clips | mean of tokens |
| vjepa2.1 | video | bgs's own V-JEPA 2.1 encoder (``bgs.models.vjepa21``) | B×T clips | mean of tokens |
| xclip | video | XCLIPVisionModel (frames talk through its message tokens) | B·T frames | mean over time of the per-frame pooled output |
| clip | image | CLIPVisionModel, per frame | B·T frames | mean over time of the pooled CLS |
| siglip | image | SiglipVisionModel, per frame | B·T frames | mean over time of the attention-pooled output |
| text | text | sentence-transformers | captions | the sentence embedding (see ``bgs.models.text``) |
| precomputed | — | an embeddings file | — | as stored |
"""

from __future__ import annotations

from dataclasses import dataclass

from bgs.errors import ConfigError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class BackboneKind:
    """Everything bgs needs to know about one kind of backbone."""

    name: str
    family: str  # "video", "image", "text", "precomputed"
    model_class: str = ""  # transformers class name
    loader: str = ""  # "module:function" of a bgs-native loader (SOURCE -> model), instead of a class
    input_layout: str = "clips"  # "clips": (B, T, C, H, W); "frames": (B*T, C, H, W)
    pixel_argument: str = "pixel_values"
    pooling: str = "mean"  # "cls" or "mean" (of tokens), or "pooler" (the model's pooled output)
    hidden_pooling: str = "mean"  # pooling of intermediate hidden states
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    frames_from_config: bool = False  # the model needs exactly config.num_frames frames
    default_frames: int = 16
    lora_targets: str | tuple = ()  # peft target_modules: suffixes, or one regex string
    hub_example: str = ""
    description: str = ""


KINDS: dict[str, BackboneKind] = {k.name: k for k in [
    BackboneKind("timesformer", "video", "TimesformerModel", pooling="cls", hidden_pooling="cls",
                 mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225),
                 lora_targets=("qkv", "output.dense", "intermediate.dense", "temporal_dense"),
                 hub_example="facebook/timesformer-base-finetuned-k400",
                 description="divided space-time attention; the paper's backbone"),
    BackboneKind("videomae", "video", "VideoMAEModel", frames_from_config=True,
                 lora_targets=("query", "key", "value", "output.dense", "intermediate.dense"),
                 hub_example="MCG-NJU/videomae-base", description="masked video autoencoder"),
    BackboneKind("vjepa2", "video", "VJEPA2Model", pixel_argument="pixel_values_videos",
                 lora_targets=r".*encoder\..*\.(query|key|value|proj|fc1|fc2)$",
                 hub_example="facebook/vjepa2-vitl-fpc64-256", description="V-JEPA 2 encoder"),
    BackboneKind("vjepa2.1", "video", loader="bgs.models.vjepa21_weights:load_vjepa21",
                 pixel_argument="pixel_values_videos",
                 lora_targets=r".*blocks\.\d+\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)$",
                 hub_example="vjepa2_1_vitb_dist_vitG_384.pt",
                 description="V-JEPA 2.1 encoder, native (Meta's .pt or a converted folder)"),
    BackboneKind("xclip", "video", "XCLIPVisionModel", input_layout="frames", pooling="pooler",
                 hidden_pooling="cls", mean=CLIP_MEAN, std=CLIP_STD, frames_from_config=True,
                 lora_targets=("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
                 hub_example="microsoft/xclip-base-patch32", description="X-CLIP vision tower"),
    BackboneKind("clip", "image", "CLIPVisionModel", input_layout="frames", pooling="pooler",
                 hidden_pooling="cls", mean=CLIP_MEAN, std=CLIP_STD,
                 lora_targets=("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
                 hub_example="openai/clip-vit-base-patch32", description="CLIP vision tower per frame"),
    BackboneKind("siglip", "image", "SiglipVisionModel", input_layout="frames", pooling="pooler",
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                 lora_targets=("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
                 hub_example="google/siglip-base-patch16-224", description="SigLIP vision tower per frame"),
    BackboneKind("text", "text", lora_targets=r".*(query|key|value|dense|attn\.q|attn\.k|attn\.v|attn\.o)$",
                 hub_example="minilm | mpnet | sentence-transformers/all-MiniLM-L6-v2",
                 description="sentence-transformers encoder of captions"),
    BackboneKind("precomputed", "precomputed", hub_example="embeddings.npz",
                 description="an embeddings file (.npz, .parquet, .safetensors)"),
]}


@dataclass(frozen=True)
class ModelSpec:
    kind: BackboneKind
    source: str

    def __str__(self) -> str:
        return f"{self.kind.name}:{self.source}"


def parse_model(spec: str) -> ModelSpec:
    """``KIND:SOURCE`` → a :class:`ModelSpec`; an unknown kind is an error listing the kinds."""
    if ":" not in spec:
        raise ConfigError(f"--model {spec!r} is not KIND:SOURCE; e.g. timesformer:path/to/folder "
                          f"or text:minilm (kinds: {', '.join(KINDS)})")
    kind, source = spec.split(":", 1)
    if kind not in KINDS:
        raise ConfigError(f"unknown model kind {kind!r}; choose one of: {', '.join(KINDS)}")
    if not source:
        raise ConfigError(f"--model {spec!r} names no source after '{kind}:'")
    return ModelSpec(KINDS[kind], source)
