"""Claims that read the synthetic world's planted truth: zero-shot transfer to the
``abstract`` style (5), attention on the agents (6) and what each behavior signal carries (8).

Interaction class of a clip (claim 5b), from its script's base valence
(:data:`bgs.synthetic.scenes.SCRIPTS`): **friendly** at valence ≥ 0.6 (approach_meet, help,
play, converse), **adversarial** below 0.3 (flee, fight, hinder), **neutral** in between
(chase, follow, ignore).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bgs.study.claims_measures import per_clip_claim

FRIENDLY, ADVERSARIAL = 0.6, 0.3


def interaction_class(script: str) -> str:
    """friendly / neutral / adversarial from the script's base valence (module docstring)."""
    from bgs.synthetic.scenes import SCRIPTS

    valence = SCRIPTS[script].base[0]
    return "friendly" if valence >= FRIENDLY else "adversarial" if valence < ADVERSARIAL else "neutral"


def class_probe_hits(emb, labels: pd.Series, train_ids, test_ids) -> pd.Series:
    """1 where a 3-way logistic-regression probe (standardised features, C = 1), fitted on
    the training clips, names a held-out clip's class; by held-out clip id."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_tr = emb.align(list(train_ids), "the probe's training clips").layer(None)
    x_te = emb.align(list(test_ids), "the probe's test clips").layer(None)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    clf.fit(x_tr, labels.loc[list(train_ids)].to_numpy())
    hits = clf.predict(x_te) == labels.loc[list(test_ids)].to_numpy()
    return pd.Series(hits.astype(float), index=list(test_ids))


def class_probe_claim(base, tuned: dict, labels: pd.Series, train_ids, test_ids, n_bootstrap: int,
                      seed: int, **text):
    """Claim 5b: held-out class-probe accuracy of each fine-tuned model minus the base's."""
    ref = class_probe_hits(base, labels, train_ids, test_ids)
    diffs = {s: class_probe_hits(e, labels, train_ids, test_ids) - ref for s, e in tuned.items()}
    counts = labels.loc[list(test_ids)].value_counts().to_dict()
    return per_clip_claim(diffs, n_bootstrap, seed, {
        "accuracy_base": float(ref.mean()), "chance_majority": max(counts.values()) / len(test_ids),
        "accuracy_tuned": {str(s): float((d + ref).mean()) for s, d in diffs.items()},
        "test_classes": counts}, **text)


def attention_diffs(folder: Path, method: str, labels: dict) -> dict:
    """``{seed: fine-tuned − base agent ratio per clip}`` from the ``clips.csv`` of one
    attention study whose models are ``base`` and ``labels[seed]``."""
    t = pd.read_csv(Path(folder) / "clips.csv")
    t = t[t["method"] == method].pivot(index="id", columns="model", values="agent_ratio")
    return {s: t[label] - t["base"] for s, label in labels.items()}


# ---------------------------------------------------------------------- claim 8
def _template_patterns(pool: list[str]) -> list[re.Pattern]:
    return [re.compile("^" + re.escape(t).replace(r"\{a\}", ".+").replace(r"\{b\}", ".+") + "$")
            for t in pool]


def comment_scores(comments: list[str]) -> tuple[float, float]:
    """(tone, excitement) of one clip's comments: the share from the generator's positive
    minus negative pool, and from its excited minus calm pool (:mod:`bgs.synthetic.behavior`)."""
    from bgs.synthetic import behavior as gen

    if not comments:
        return np.nan, np.nan
    pools = {k: _template_patterns(getattr(gen, k)) for k in ("POSITIVE", "NEGATIVE", "EXCITED", "CALM")}
    share = {k: np.mean([any(p.match(c) for p in pats) for c in comments]) for k, pats in pools.items()}
    return float(share["POSITIVE"] - share["NEGATIVE"]), float(share["EXCITED"] - share["CALM"])


def behavior_signals(data_dir: Path, stimuli) -> pd.DataFrame:
    """Per clip id: like log-ratio, log views, comment tone and excitement, and the time of
    the replay graph's peak (seconds) — the signals claim 8 predicts."""
    from bgs.behavior import like_log_ratio, read_behavior

    path = data_dir / "behavior.jsonl"
    table = read_behavior(path)
    ids = stimuli.to_ids(pd.Series(table.keys, dtype=object), str(path), "id", 1)
    scores = np.array([comment_scores(c) for c in table.comments])
    peaks = [float((g.start[np.argmax(g.score)] + g.end[np.argmax(g.score)]) / 2) if g is not None else np.nan
             for g in table.replay]
    return pd.DataFrame({"like_log_ratio": like_log_ratio(table.likes, table.views),
                         "log_views": np.log(np.asarray(table.views, float)),
                         "comment_tone": scores[:, 0], "comment_excitement": scores[:, 1],
                         "replay_peak_s": peaks}, index=pd.Index(ids, name="id"))


def truth_features(truth):
    """The generator's inputs as Embeddings: the 8 latents, the salient event's time in the
    clip (seconds) and the script (one-hot)."""
    from bgs.embeddings import Embeddings

    scripts = sorted(set(truth.scripts))
    onehot = (truth.scripts[:, None] == np.array(scripts)[None, :]).astype(float)
    event = np.array([c["event_clip_time_s"] for c in truth.raw["clips"]], float)[:, None]
    return Embeddings.from_array(truth.ids, np.hstack([truth.latent, event, onehot]),
                                 source="truth:latents+event+script")
