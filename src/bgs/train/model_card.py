"""The model card (``README.md``) of an exported run: what was tuned, on which judgments, with
which objective, how it scores on the held-out stimuli next to the noise ceilings, and how to
load it."""

from __future__ import annotations

import json
from pathlib import Path


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _fmt(x, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _ci(entry: dict) -> str:
    ci = entry.get("ci")
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci and None not in ci else "—"


def _scores_table(result: dict) -> str:
    """Held-out scores with their 95 % CIs, chance and ceilings (from the run's eval.json)."""
    if not result:
        return "No held-out evaluation: the run had no test stimuli (data.test).\n"
    rows = ["| score | value | 95 % CI | chance | noise ceiling |", "|---|---|---|---|---|"]
    ooo = result["ooo_accuracy"]
    ceil = ooo.get("ceiling") or {}
    rows.append(f"| odd-one-out accuracy (3-way) | {_fmt(ooo['value'])} | {_ci(ooo)} | "
                f"{_fmt(ooo['chance'])} | {_fmt(ceil.get('lower'))}–{_fmt(ceil.get('upper'))} |")
    two = result.get("two_way_accuracy_symmetric")
    if two:
        rows.append(f"| anchor 2AFC accuracy (the paper's variant) | {_fmt(two['value'])} | "
                    f"{_ci(two)} | {_fmt(two['chance'])} | — |")
    for method in ("spearman", "pearson"):
        rsa = result.get(f"rsa_{method}")
        if rsa:
            rows.append(f"| RSA ({method}) | {_fmt(rsa['value'])} | {_ci(rsa)} | 0 | "
                        f"{_fmt(rsa.get('ceiling'))} |")
    return ("\n".join(rows) + f"\n\n{result['n_triplets']:,} held-out triplets over "
            f"{result['n_stimuli']:,} stimuli that training never saw. CIs: "
            f"{result['ooo_accuracy'].get('ci_method', 'bootstrap')}; RSA CIs bootstrap over "
            f"stimuli. RSA ceiling: √ of the split-half reliability (Spearman–Brown).\n")


def _front_matter(export: dict) -> str:
    base = export["backbone"].split(":", 1)[1]
    lines = ["---", "library_name: peft" if export["layout"] == "adapter" else "library_name: transformers",
             "tags:", "- bgs", "- behavioral-geometric-supervision", "- representational-similarity",
             "- lora"]
    if not Path(base).exists() and "/" in base:  # a hub id, not a local folder
        lines.append(f"base_model: {base}")
    return "\n".join(lines + ["---", ""])


_POOLED = {"cls": "out.last_hidden_state[:, 0]", "mean": "out.last_hidden_state.mean(dim=1)",
           "pooler": "out.pooler_output"}


def _loading(export: dict) -> str:
    """A runnable snippet: the backbone with transformers/peft, the head with torch."""
    from bgs.models.registry import parse_model

    kind = parse_model(export["backbone"]).kind
    base = export["backbone"].split(":", 1)[1]
    adapter = export["layout"] == "adapter"
    if export["family"] == "text":
        imports = "from sentence_transformers import SentenceTransformer"
        backbone = (f'st = SentenceTransformer("{base}")\n'
                    'st[0].auto_model = PeftModel.from_pretrained(st[0].auto_model, FOLDER)'
                    if adapter else "st = SentenceTransformer(FOLDER)")
        pooled = ("# each stimulus: the mean of its captions' unit-norm sentence embeddings\n"
                  "pooled = st.encode(captions, convert_to_tensor=True, normalize_embeddings=True)"
                  ".mean(dim=0, keepdim=True)")
    else:
        if kind.loader:  # a bgs-native backbone: its own loader
            module, load = kind.loader.split(":")
            imports, base_call, own_call = f"from {module} import {load}", f'{load}("{base}")', f"{load}(FOLDER)"
        else:
            load = f"{kind.model_class}.from_pretrained"
            imports = f"from transformers import {kind.model_class}"
            base_call, own_call = f'{load}("{base}")', f"{load}(FOLDER)"
        backbone = (f"model = PeftModel.from_pretrained({base_call}, FOLDER)" if adapter
                    else f"model = {own_call}")
        per_frame = kind.input_layout == "frames"
        pooled = (f"# pixel_values: (B, T, 3, {export['size']}, {export['size']}) float frames, "
                  f"T = {export['frames']}, (x/255 - image_mean) / image_std\n"
                  f"# with image_mean, image_std from bgs_model.json\n"
                  + ("out = model(pixel_values=pixel_values.flatten(0, 1))  # one image per frame\n"
                     if per_frame else f"out = model({kind.pixel_argument}=pixel_values)\n")
                  + f"pooled = {_POOLED[kind.pooling]}"
                  + (".unflatten(0, pixel_values.shape[:2]).mean(dim=1)" if per_frame else ""))
    if adapter:
        imports = "from peft import PeftModel\n" + imports
    return f"""```python
import json
import torch
from safetensors.torch import load_file
{imports}

FOLDER = "path/to/this/folder"
{backbone}
cfg = json.load(open(f"{{FOLDER}}/head_config.json"))
head = torch.nn.Sequential(torch.nn.Linear(cfg["in_dim"], cfg["out_dim"]),
                           torch.nn.LayerNorm(cfg["out_dim"], eps=cfg["layer_norm_eps"]),
                           torch.nn.ReLU(), torch.nn.Dropout(cfg["dropout"])).eval()
head.load_state_dict({{k.removeprefix("net."): v
                      for k, v in load_file(f"{{FOLDER}}/head.safetensors").items()}})
{pooled}
embedding = torch.nn.functional.normalize(head(pooled), dim=-1)
```

With bgs: `bgs embed --model {export['backbone']} --checkpoint FOLDER --stimuli STIMULI.csv --videos DIR --out emb.npz`.
"""


def model_card(run: Path, config, export: dict, command: str) -> str:
    """The README.md of an export of ``run``."""
    run = Path(run)
    result = _read_json(run / "eval.json")
    summary = _read_json(run / "metrics.json")
    d, obj = config.data, config.objective.to_dict()
    splits = ", ".join(f"{summary[f'n_{s}_stimuli']:,} {s} stimuli / {summary[f'n_{s}_triplets']:,} triplets"
                       for s in ("train", "val", "test") if f"n_{s}_stimuli" in summary)
    lora = config.model.lora
    tuned = ("every backbone weight (full fine-tune)" if config.model.full_finetune else
             f"LoRA r = {lora.r}, alpha = {lora.alpha}, dropout = {lora.dropout}")
    objective = ", ".join(f"{k} = {v}" for k, v in obj.items() if not isinstance(v, (dict, list)))
    layout = ("a peft LoRA adapter: `adapter_config.json`, `adapter_model.safetensors`"
              if export["layout"] == "adapter" else "the whole backbone with the adapter merged in, "
                                                     "in the `save_pretrained` layout")
    return f"""{_front_matter(export)}
# {Path(export['backbone'].split(':', 1)[1]).name} tuned to human similarity judgments (bgs)

A {export['family']} backbone fine-tuned with behavioral geometric supervision (bgs {export['bgs_version']}):
its embedding geometry was trained to match human odd-one-out judgments.

- **Base model**: `{export['backbone']}`
- **Tuned**: {tuned}, and a {config.model.head_dim}-d projection head
- **Files**: {layout}; the head in `head.safetensors`, its sizes in `head_config.json`
- **Data**: judgments `{Path(d.triplets).name}` (format {d.format}), stimuli `{Path(d.stimuli).name}`;
  {splits or 'split sizes not recorded'}
- **Objective**: {objective}; target: {config.target.source} similarity
- **Selected**: epoch {export.get('epoch')} of {summary.get('epochs', '?')} (by {config.optim.select})

## Held-out scores

{_scores_table(result)}
## Load it

{_loading(export)}
## How it was made

Trained with `bgs train config.toml` (the run's resolved config is below), then exported with:

```
{command}
```

<details><summary>config.toml</summary>

```toml
{config.to_toml().strip()}
```
</details>
"""
