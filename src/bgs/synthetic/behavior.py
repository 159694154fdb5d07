"""Receiver behavior per clip: views, likes, comments and a replay graph (BLIFT-style records).

Each signal is a documented function of the clip's latents (:data:`~bgs.synthetic.scenes.LATENT_NAMES`)
and its salient event, plus noise — so a model given those inputs can predict it (the upper
reference of ``bgs study claims``, claim 8), and a video model can only if it sees them:

* ``views``: log-normal around 2,000, higher for arousing clips (``exp(1.2·(arousal − ½))``,
  log-SD 0.6).
* ``likes``: binomial over the views with a like rate
  ``sigmoid(−3 + 3·(valence − ½) + 1.5·(arousal − ½) + 1·(joint_action − ½) + N(0, 0.3))``.
* ``comments``: 3–5 templated comments drawn without replacement from two pools: by valence
  (positive above 0.62, negative below 0.3, neutral between) and by arousal (excited above
  0.55, calm otherwise). The templates name the agents by colour and shape.
* ``replay_graph``: windows ``{start, end, replay_score}`` (seconds) tiling the clip, two frames
  each; the score peaks at the clip's salient event (the script's key moment: the catch, the
  meeting, the push, a lunge ...; Gaussian with SD 15 % of the clip) with a height
  ``0.5 + 0.5·arousal``, on a floor of 0.15, plus N(0, 0.04) noise, normalised so that the top
  window scores 1 (as YouTube's "most replayed"). Clips without an event (``ignore``) have a
  flat, noisy graph (0.3 + N(0, 0.08)).
"""

from __future__ import annotations

import numpy as np

from bgs.synthetic.captions import SHAPE_WORDS, colour_name
from bgs.synthetic.scenes import LATENT_NAMES, Scene

_I = {k: i for i, k in enumerate(LATENT_NAMES)}

POSITIVE = ["so cute 😍", "love how the {a} and the {b} get along", "this made my day",
            "aww the {b} is adorable", "wholesome", "more of this please", "best friends goals"]
NEGATIVE = ["poor {b}", "that {a} is such a bully", "why would the {a} do that",
            "this is stressful to watch", "rude", "I feel bad for the {b}"]
EXCITED = ["that escalated quickly", "wait for it...", "the speed on that {a}", "intense!!",
           "watched this way too many times", "go {b} go"]
CALM = ["so relaxing", "oddly satisfying", "what is even happening", "the {a} just vibing",
        "I like the background", "peaceful"]


NEUTRAL = ["what are they doing", "hmm interesting", "the {a} and the {b}", "ok but why",
           "I keep watching the {a}"]


def _comment_pool(scene: Scene) -> list[str]:
    val, aro = scene.latent[_I["valence"]], scene.latent[_I["arousal"]]
    pool = POSITIVE if val > 0.62 else NEGATIVE if val < 0.3 else NEUTRAL
    return pool + (EXCITED if aro > 0.55 else CALM)


def clip_behavior(scene: Scene, rng: np.random.Generator, n_frames: int, fps: float) -> dict:
    z = scene.latent
    views = int(max(20, round(rng.lognormal(np.log(2000) + 1.2 * (z[_I["arousal"]] - 0.5), 0.6))))
    logit = (-3 + 3.0 * (z[_I["valence"]] - 0.5) + 1.5 * (z[_I["arousal"]] - 0.5)
             + 1.0 * (z[_I["joint_action"]] - 0.5) + rng.normal(0, 0.3))
    rate = 1 / (1 + np.exp(-logit))
    likes = int(rng.binomial(views, rate))
    n = scene.nuisance
    names = [f"{colour_name(n.agent_colors[k]).split()[-1]} {SHAPE_WORDS[n.shapes[k]][0]}"
             for k in range(2)]
    pool = _comment_pool(scene)
    k = int(rng.integers(3, 6))
    picks = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    comments = [pool[i].format(a=names[0], b=names[1]) for i in picks]
    duration = n_frames / fps
    width = 2 / fps
    starts = np.arange(0.0, duration - 1e-9, width)
    ends = np.minimum(starts + width, duration)
    mids = (starts + ends) / 2
    if scene.script == "ignore":
        score = 0.3 + rng.normal(0, 0.08, size=len(mids))
    else:
        t_event = scene.event_clip_time(n_frames, fps)
        sd = max(0.15 * duration, width)
        peak = (0.5 + 0.5 * z[_I["arousal"]]) * np.exp(-0.5 * ((mids - t_event) / sd) ** 2)
        score = 0.15 + peak + rng.normal(0, 0.04, size=len(mids))
    score = np.clip(score, 0.0, None)
    score = score / score.max() if score.max() > 0 else score
    graph = [{"start": round(float(s), 4), "end": round(float(e), 4),
              "replay_score": round(float(v), 4)} for s, e, v in zip(starts, ends, score)]
    return {"views": views, "likes": likes, "comments": comments, "replay_graph": graph}
