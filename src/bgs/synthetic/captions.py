"""Synthetic captions (templated, varied) and attribute ratings (noisy rater means).

Captions mimic free descriptions by different people: the same event told with synonyms,
active or passive voice, more or less detail (speed, distance, manner, appearance, the
background, a third agent). They name the script's event and, like people do, the agents'
appearance, so a text model sees both social content and nuisance.

Ratings mimic ``annotations.csv``: each clip is rated by several simulated raters on a
5-point scale (0, .25, .5, .75, 1) around its latent value, with a per-rater bias and noise;
the file holds the mean per clip.
"""

from __future__ import annotations

import colorsys
import re

import numpy as np

from bgs.synthetic.scenes import LATENT_NAMES, SCRIPTS, Scene

SHAPE_WORDS = {"circle": ["circle", "disc", "dot", "ball"],
               "square": ["square", "box", "block"],
               "triangle": ["triangle", "wedge", "arrowhead"],
               # the abstract style's shapes
               "diamond": ["diamond", "rhombus", "kite"],
               "cross": ["cross", "plus sign", "star"],
               "hexagon": ["hexagon", "nut", "tile"]}

# Per script: sentences with {A}, {B} (agent noun phrases), {adv} (manner adverb) slots.
EVENTS: dict[str, list[str]] = {
    "chase": ["{A} chases {B} {adv}", "{A} is chasing {B} around in a circle",
              "{B} is being chased by {A}", "{A} runs after {B} {adv}",
              "{A} pursues {B} and almost catches it", "{B} tries to get away as {A} chases it"],
    "flee": ["{B} runs away from {A}", "{B} flees from {A} {adv}",
             "{A} scares {B} away", "{B} gets startled by {A} and escapes",
             "{A} comes closer and {B} turns and runs off", "{B} is frightened of {A} and runs away"],
    "approach_meet": ["{A} and {B} walk towards each other and meet",
                      "{A} and {B} approach each other {adv} and stop",
                      "{A} meets {B} in the middle", "two shapes come together and greet each other",
                      "{A} and {B} move closer until they meet face to face"],
    "fight": ["{A} and {B} are fighting", "{A} and {B} attack each other {adv}",
              "two shapes bump into each other aggressively", "{A} keeps lunging at {B}",
              "{A} and {B} are having a fight", "{A} and {B} shove each other back and forth"],
    "help": ["{B} helps {A} move forward", "{B} pushes {A} along to help it",
             "{A} is struggling until {B} gives it a push", "{B} comes over and helps {A}",
             "{A} gets help from {B} to get going", "{B} kindly pushes {A} forward"],
    "hinder": ["{B} blocks {A}", "{B} gets in the way of {A} and pushes it back",
               "{A} tries to move forward but {B} stops it", "{B} prevents {A} from going on",
               "{A} is pushed back by {B}", "{B} stands in front of {A} and won't let it pass"],
    "play": ["{A} and {B} play together", "two shapes happily spin around each other",
             "{A} and {B} are playing tag {adv}", "{A} and {B} bounce around each other playfully",
             "{A} and {B} dance around in circles", "two friends playing a game"],
    "follow": ["{A} follows {B}", "{A} trails behind {B}", "{B} leads the way and {A} follows",
               "{A} is following {B} {adv}", "{A} walks behind {B} wherever it goes",
               "{B} goes ahead with {A} behind it"],
    "converse": ["{A} and {B} are talking face to face", "two shapes have a conversation",
                 "{A} and {B} chat while facing each other", "{A} is talking with {B}",
                 "{A} and {B} take turns speaking", "two shapes face each other and talk"],
    "ignore": ["{A} and {B} ignore each other", "two shapes wander around separately",
               "{A} and {B} move around without interacting", "{A} and {B} do their own thing",
               "{A} and {B} don't pay attention to each other",
               "two shapes are in the same place but ignore one another"],
}

SPEED_ADV = [["slowly", "calmly", "gently"], ["steadily", "at a steady pace"],
             ["quickly", "fast", "rapidly", "frantically"]]
INTENSITY_ADJ = [["calm", "gentle", "mild"], ["lively", "animated"], ["intense", "energetic", "wild"]]
DISTANCE_PHRASE = [["very close together", "right next to each other", "up close"],
                   ["a little apart", "at arm's length"],
                   ["far apart", "at a distance", "with a lot of space between them"]]
MOOD = {"chase": ["a tense pursuit", "an exciting chase"],
        "flee": ["a scary moment", "something frightening happens"],
        "approach_meet": ["a friendly meeting", "a warm greeting"],
        "fight": ["a hostile scene", "an aggressive confrontation"],
        "help": ["a kind and helpful act", "a nice moment of cooperation"],
        "hinder": ["a mean interaction", "an unfriendly act"],
        "play": ["a fun and happy scene", "a playful moment"],
        "follow": ["a calm walk together", "one shape leading another"],
        "converse": ["a friendly conversation", "a quiet chat"],
        "ignore": ["nothing much happens", "no interaction at all"]}
TEXTURE_WORDS = {"plain": "plain", "stripes": "striped", "checker": "checkered",
                 "noise": "mottled", "dots": "dotted"}


def colour_name(rgb) -> str:
    """A plain colour word for an RGB triple in [0, 1]."""
    h, light, s = colorsys.rgb_to_hls(*rgb)
    if s < 0.2:
        return "white" if light > 0.8 else "black" if light < 0.2 else "grey"
    names = [(0.04, "red"), (0.10, "orange"), (0.18, "yellow"), (0.45, "green"), (0.54, "teal"),
             (0.70, "blue"), (0.80, "purple"), (0.94, "pink"), (1.01, "red")]
    base = next(n for cut, n in names if h < cut)
    if light < 0.35:
        return f"dark {base}"
    if light > 0.7:
        return f"light {base}"
    return base


def _level(x: float) -> int:
    return 0 if x < 1 / 3 else 1 if x < 2 / 3 else 2


def _agent_phrase(rng, scene: Scene, k: int, article: str) -> str:
    n = scene.nuisance
    shape = rng.choice(SHAPE_WORDS[n.shapes[k]])
    style = rng.integers(4)
    colour = colour_name(n.agent_colors[k]).split()[-1]  # drop dark/light mostly
    if style == 0:
        return f"{article} {shape}"
    if style == 3 and n.size_factors[k] != 1.0:
        size = "bigger" if n.size_factors[k] > np.mean(n.size_factors) else "smaller"
        return f"{article} {size} {colour} {shape}"
    return f"{article} {colour} {shape}"


def clip_captions(scene: Scene, rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct sentences (sentence case, final period) describing one clip."""
    script = scene.script
    p = scene.params
    out: list[str] = []
    templates = EVENTS[script]
    tries = 0
    while len(out) < n and tries < 20 * n:
        tries += 1
        template = str(rng.choice(templates))
        article = "the" if rng.random() < 0.5 else "a"
        second = "the" if article == "the" else "another"
        b_first = 0 <= template.find("{B}") < template.find("{A}") or "{A}" not in template
        a = _agent_phrase(rng, scene, 0, second if b_first else article)
        b = _agent_phrase(rng, scene, 1, article if b_first else second)
        adv = rng.choice(SPEED_ADV[_level(p["speed"])])
        sent = template.format(A=a, B=b, adv=adv)
        detail = rng.integers(6)
        if detail == 1:
            sent += f", {rng.choice(DISTANCE_PHRASE[_level(scene.latent[6])])}"
        elif detail == 2:
            sent = f"{rng.choice(MOOD[script]).capitalize()}: {sent}"
        elif detail == 3:
            bg = scene.nuisance
            word = TEXTURE_WORDS[bg.texture] if rng.random() < 0.5 else colour_name(bg.background)
            sent += f" on a {word} background"
        elif detail == 4 and scene.n_agents == 3:
            c = _agent_phrase(rng, scene, 2, "a")
            sent += (f" while {c} watches" if SCRIPTS[script].third == "bystander"
                     else f", together with {c}")
        elif detail == 5:
            adj = str(rng.choice(INTENSITY_ADJ[_level(p["intensity"])]))
            sent = f"In {'an' if adj[0] in 'aeiou' else 'a'} {adj} scene, {sent}"
        sent = sent[0].upper() + sent[1:]
        if not sent.endswith("."):
            sent += "."
        if sent not in out:
            out.append(sent)
    return out


def caption_for_table(sentence: str) -> str:
    """The long ``captions.csv`` style of the real data: lower case, no punctuation marks
    (apostrophes kept)."""
    return re.sub(r"[.,:;!?]", "", sentence.lower()).strip()


def rate_attributes(latent: np.ndarray, rng: np.random.Generator, n_raters: int,
                    noise: float, bias_sd: float = 0.05) -> np.ndarray:
    """Mean of ``n_raters`` 5-point ratings (0..1 in steps of .25) per latent attribute."""
    bias = rng.normal(0.0, bias_sd, size=(n_raters, 1))
    raw = latent[None, :] + bias + rng.normal(0.0, noise, size=(n_raters, len(latent)))
    ratings = np.clip(np.rint(raw * 4) / 4, 0.0, 1.0)
    return ratings.mean(axis=0)


RATING_COLUMNS = tuple(f"rating-{k}" for k in LATENT_NAMES)
