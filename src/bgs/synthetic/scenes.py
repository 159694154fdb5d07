"""Scenes: interaction scripts, their continuous parameters, the latent social attributes that
follow from them, and nuisance appearance factors drawn independently of the social content.

A scene is 2–3 agents in a 2D arena. Its motion is a function of *script time* ``u`` in
[0, 1], sampled on a fine grid of :data:`GRID` points; rendering interpolates that grid at the
clip's frame times. Coordinates: the *scene frame* is centred on 0 and the script's motion is
fitted into ``[-FIT, FIT]²``; the arena (what the camera sees) is ``[0, 1]²``, and the scene
is placed in it with a nuisance rotation and offset.

Latent attributes (all in [0, 1]):

* ``valence, arousal, dominance, intimacy, communication, joint_action``: the script's base
  profile (:data:`SCRIPTS`) modulated by the parameters (see :func:`social_latents`), plus a
  small idiosyncratic term per clip;
* ``agent_distance``: mean distance between the two principal agents over the script,
  ``min(1, d / DISTANCE_SCALE)`` in scene units (0 = touching, 1 = far apart);
* ``facingness``: mean over the script of ``sqrt(f_A · f_B)`` where
  ``f_X = (1 + cos(heading_X − bearing from X to the other)) / 2`` (1 = face to face).

Both geometric attributes are measured on the motion itself, so they are what a viewer sees.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

LATENT_NAMES = ("valence", "arousal", "dominance", "intimacy", "communication",
                "joint_action", "agent_distance", "facingness")
SOCIAL_NAMES = LATENT_NAMES[:6]
PARAM_NAMES = ("speed", "distance", "intensity")
SHAPES = ("circle", "square", "triangle")
#: Rendering styles: the same scripts, motion and latents drawn differently. ``abstract``:
#: other shapes (:data:`ABSTRACT_SHAPES`), a flat grey background with saturated "neon"
#: agents, and jerky motion (positions piecewise linear between :data:`ABSTRACT_KNOTS`
#: knots of script time, headings snapped to 8 directions). Only the appearance and the
#: rendered path change; the script, its parameters and the latents are identical.
STYLES = ("default", "abstract")
ABSTRACT_SHAPES = ("diamond", "cross", "hexagon")
ABSTRACT_KNOTS = 9
NEON = ((1.0, 0.2, 0.6), (0.2, 1.0, 0.4), (1.0, 0.85, 0.1), (0.3, 0.6, 1.0), (1.0, 0.5, 0.1),
        (0.75, 0.35, 1.0))
TEXTURES = ("plain", "stripes", "checker", "noise", "dots")

GRID = 129  # samples of script time u on which motion and geometry are defined
FIT = 0.30  # the script's motion is fitted into [-FIT, FIT]^2 (scene units)
DISTANCE_SCALE = 0.5  # agent_distance = min(1, mean distance / DISTANCE_SCALE)
CUE_SAMPLES = 16  # script times over the clip's window at which the shown motion is measured
#: What a viewer sees of the principal pair's motion (:func:`visible_cues`), and the range
#: (5th to 95th percentile over scenes) each is mapped from to [0, 1].
CUE_NAMES = ("energy", "asymmetry", "closeness", "facing", "alignment")
CUE_RANGES = ((0.05, 1.0), (0.02, 0.4), (-0.42, -0.12), (-0.67, 1.0), (-1.0, 0.9))
#: Each social latent's visible cue: the mean of these cues (sign -1: one minus the cue).
LATENT_CUES = {
    "valence": (("asymmetry", -1),),
    "arousal": (("energy", 1),),
    "dominance": (("asymmetry", 1),),
    "intimacy": (("closeness", 1),),
    "communication": (("facing", 1),),
    "joint_action": (("alignment", 1),),
}
#: The share of each social latent (SOCIAL_NAMES order) that its visible cue sets; valence's
#: cue (even, reciprocal motion) tells pleasant from unpleasant scripts least well.
VISIBLE_SHARE = (0.4, 0.7, 0.7, 0.7, 0.7, 0.7)


@dataclass(frozen=True)
class Script:
    """An interaction script: base social profile (valence, arousal, dominance, intimacy,
    communication, joint_action) and what a third agent does (``join`` or ``bystander``)."""

    name: str
    base: tuple[float, float, float, float, float, float]
    third: str
    description: str


SCRIPTS: dict[str, Script] = {s.name: s for s in (
    Script("chase", (0.35, 0.85, 0.75, 0.20, 0.15, 0.45), "join",
           "A pursues B around a loop and closes the gap (a third agent joins the pursuit)"),
    Script("flee", (0.20, 0.80, 0.65, 0.10, 0.20, 0.20), "join",
           "A advances on B; B faces it, is startled and runs away (a third agent flees too)"),
    Script("approach_meet", (0.70, 0.35, 0.25, 0.60, 0.55, 0.55), "bystander",
           "A and B walk towards each other, meet and greet; a third agent wanders by"),
    Script("fight", (0.05, 0.95, 0.60, 0.35, 0.30, 0.50), "bystander",
           "A and B face each other at close range, circle and lunge repeatedly"),
    Script("help", (0.85, 0.45, 0.35, 0.55, 0.40, 0.85), "bystander",
           "A struggles to move forward; B comes from behind and pushes it along"),
    Script("hinder", (0.15, 0.60, 0.80, 0.30, 0.25, 0.40), "bystander",
           "A moves forward; B cuts in front, blocks it and pushes it back"),
    Script("play", (0.90, 0.75, 0.20, 0.70, 0.50, 0.80), "join",
           "A and B bounce and spin around each other (a third agent joins the game)"),
    Script("follow", (0.55, 0.35, 0.50, 0.45, 0.25, 0.60), "join",
           "B leads along a winding path and A follows at a steady gap (a third agent in line)"),
    Script("converse", (0.70, 0.25, 0.20, 0.70, 0.95, 0.45), "join",
           "A and B stand face to face and take turns gesturing (a third agent joins the group)"),
    Script("ignore", (0.45, 0.15, 0.10, 0.05, 0.05, 0.05), "bystander",
           "A and B wander about separately, looking away from each other"),
)}


# ---------------------------------------------------------------------- nuisance
@dataclass(frozen=True)
class Nuisance:
    """Appearance and camera factors, drawn independently of the script and its parameters."""

    background: tuple[float, float, float]  # RGB in [0, 1]
    texture: str
    texture_contrast: float
    texture_scale: float
    texture_angle: float
    agent_colors: tuple[tuple[float, float, float], ...]  # RGB per agent
    shapes: tuple[str, ...]  # per agent
    size: float  # base agent radius, arena units
    size_factors: tuple[float, ...]  # per agent, multiplies size
    offset: tuple[float, float]  # scene centre offset from the arena centre
    rotation: float  # radians, rotation of the scene in the arena
    speed_scale: float  # share of the script shown in the clip (playback rate)
    window_start: float  # script time of the first frame
    style: str = "default"  # STYLES: how the scene is drawn (not what happens in it)

    def vector(self) -> np.ndarray:
        """The fixed-length nuisance vector (:data:`NUISANCE_NAMES`)."""
        cols = np.asarray(self.agent_colors)
        lum = cols @ np.array([0.299, 0.587, 0.114])
        pad = np.vstack([cols, np.repeat(cols.mean(axis=0, keepdims=True), 3 - len(cols), 0)])
        shape_share = [sum(s == k for s in self.shapes) / len(self.shapes) for k in SHAPES]
        bg_lum = float(np.dot(self.background, [0.299, 0.587, 0.114]))
        return np.array([
            *self.background, bg_lum,
            *[float(self.texture == t) for t in TEXTURES], self.texture_contrast,
            *cols.mean(axis=0), float(lum.mean()), *pad[0], *pad[1], *pad[2],
            *shape_share, self.size, float(np.mean(self.size_factors)),
            *self.offset, np.cos(self.rotation), np.sin(self.rotation), self.speed_scale,
        ])

    def to_dict(self) -> dict:
        return {"background": list(self.background), "texture": self.texture,
                "texture_contrast": self.texture_contrast, "texture_scale": self.texture_scale,
                "texture_angle": self.texture_angle,
                "agent_colors": [list(c) for c in self.agent_colors], "shapes": list(self.shapes),
                "size": self.size, "size_factors": list(self.size_factors),
                "offset": list(self.offset), "rotation": self.rotation,
                "speed_scale": self.speed_scale, "window_start": self.window_start,
                **({"style": self.style} if self.style != "default" else {})}


NUISANCE_NAMES = (
    "bg_r", "bg_g", "bg_b", "bg_luminance",
    *[f"texture_{t}" for t in TEXTURES], "texture_contrast",
    "agents_mean_r", "agents_mean_g", "agents_mean_b", "agents_luminance",
    "agent0_r", "agent0_g", "agent0_b", "agent1_r", "agent1_g", "agent1_b",
    "agent2_r", "agent2_g", "agent2_b",
    *[f"share_{s}" for s in SHAPES], "size", "size_factor_mean",
    "offset_x", "offset_y", "rotation_cos", "rotation_sin", "speed_scale",
)

# The appearance features simulated observers are (weakly) sensitive to, all in [0, 1].
OBSERVER_NUISANCE = ("bg_r", "bg_g", "bg_b", "agents_mean_r", "agents_mean_g", "agents_mean_b",
                     "texture_contrast_norm", "size_norm")
SIZE_RANGE = (0.045, 0.075)
CONTRAST_RANGE = (0.03, 0.12)


MIN_LUMA_CONTRAST = 0.25  # |luma(agent) - luma(background)|, so that agents stay visible


def _luma(rgb) -> float:
    return float(np.dot(rgb, [0.299, 0.587, 0.114]))


def observer_nuisance_features(nuisance: Nuisance) -> np.ndarray:
    """The :data:`OBSERVER_NUISANCE` features of a clip (each scaled to [0, 1])."""
    cols = np.asarray(nuisance.agent_colors).mean(axis=0)
    c = (nuisance.texture_contrast - CONTRAST_RANGE[0]) / (CONTRAST_RANGE[1] - CONTRAST_RANGE[0])
    s = (nuisance.size - SIZE_RANGE[0]) / (SIZE_RANGE[1] - SIZE_RANGE[0])
    return np.array([*nuisance.background, *cols, 0.0 if nuisance.texture == "plain" else c, s])


def sample_nuisance(rng: np.random.Generator, n_agents: int, style: str = "default") -> Nuisance:
    """Draw appearance and camera factors (independent of everything social).

    ``style="abstract"`` makes the same draws first (so camera factors — offset, rotation,
    playback window — are those of the default style), then redraws the appearance from the
    same generator (:func:`_abstract_appearance`)."""
    hue = rng.random()
    light = rng.uniform(0.18, 0.85)
    sat = rng.uniform(0.0, 0.35)
    background = colorsys.hls_to_rgb(hue, light, sat)
    texture = TEXTURES[rng.integers(len(TEXTURES))]
    contrast = rng.uniform(*CONTRAST_RANGE)
    scale = rng.uniform(4.0, 10.0)  # texture periods per arena side
    angle = rng.uniform(0, np.pi)
    h0 = rng.random()
    bg_luma = _luma(background)
    colors = []
    for k in range(n_agents):  # well-separated hues, luminance contrasting with the background
        h = (h0 + k / n_agents + rng.uniform(-0.08, 0.08)) % 1.0
        darker = bg_luma > 0.5
        lk = rng.uniform(0.22, 0.42) if darker else rng.uniform(0.58, 0.78)
        sk = rng.uniform(0.65, 0.95)
        rgb = colorsys.hls_to_rgb(h, lk, sk)
        while abs(_luma(rgb) - bg_luma) < MIN_LUMA_CONTRAST and 0.06 < lk < 0.94:
            lk += -0.02 if darker else 0.02
            rgb = colorsys.hls_to_rgb(h, lk, sk)
        colors.append(tuple(float(v) for v in rgb))
    shapes = tuple(SHAPES[i] for i in rng.integers(len(SHAPES), size=n_agents))
    size = rng.uniform(*SIZE_RANGE)
    factors = tuple(float(f) for f in rng.uniform(0.88, 1.12, size=n_agents))
    offset = tuple(float(v) for v in rng.uniform(-0.07, 0.07, size=2))
    rotation = rng.uniform(0, 2 * np.pi)
    speed_scale = rng.uniform(0.7, 1.0)
    start = rng.uniform(0, 1.0 - speed_scale)
    nuisance = Nuisance(tuple(float(v) for v in background), texture, float(contrast), float(scale),
                        float(angle), tuple(colors), shapes, float(size), factors,
                        (offset[0], offset[1]), float(rotation), float(speed_scale), float(start))
    if style == "default":
        return nuisance
    if style != "abstract":
        from bgs.errors import ConfigError

        raise ConfigError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    return _abstract_appearance(rng, nuisance, n_agents)


def _abstract_appearance(rng: np.random.Generator, nuisance: Nuisance, n_agents: int) -> Nuisance:
    """The ``abstract`` style: flat dark or light grey background, neon agents of other shapes."""
    from dataclasses import replace

    grey = rng.uniform(0.04, 0.16) if rng.random() < 0.5 else rng.uniform(0.84, 0.96)
    background = (float(grey),) * 3
    picks = rng.choice(len(NEON), size=n_agents, replace=False)
    colors = []
    for k in picks:
        rgb = np.asarray(NEON[k])
        if grey > 0.5:  # darken on a light background, keeping the hue
            rgb = rgb * 0.55
        colors.append(tuple(float(v) for v in rgb))
    shapes = tuple(ABSTRACT_SHAPES[i] for i in rng.integers(len(ABSTRACT_SHAPES), size=n_agents))
    return replace(nuisance, background=background, texture="plain", texture_contrast=0.0,
                   agent_colors=tuple(colors), shapes=shapes, style="abstract")


# ---------------------------------------------------------------------- motion helpers
def _u() -> np.ndarray:
    return np.linspace(0.0, 1.0, GRID)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def wander(rng: np.random.Generator, u: np.ndarray, amp: float, n_terms: int = 3,
           freq: tuple[float, float] = (0.3, 1.5)) -> np.ndarray:
    """A smooth random 2D path (G, 2): a sum of random sinusoids per axis, zero at u=0."""
    out = np.zeros((len(u), 2))
    for axis in range(2):
        f = rng.uniform(*freq, size=n_terms)
        ph = rng.uniform(0, 2 * np.pi, size=n_terms)
        a = rng.normal(size=n_terms) * amp / np.sqrt(n_terms)
        out[:, axis] = (a[:, None] * (np.sin(2 * np.pi * f[:, None] * u + ph[:, None])
                                      - np.sin(ph[:, None]))).sum(axis=0)
    return out


def jitter(rng: np.random.Generator, u: np.ndarray, amp: float) -> np.ndarray:
    """Fast small wobble (G, 2)."""
    return wander(rng, u, amp, n_terms=4, freq=(3.0, 7.0))


def bearing(frm: np.ndarray, to: np.ndarray) -> np.ndarray:
    d = to - frm
    return np.arctan2(d[..., 1], d[..., 0])


def velocity_heading(pos: np.ndarray, fallback: float = 0.0, eps: float = 1e-3) -> np.ndarray:
    """Heading along the direction of motion (G,), holding the last heading while still."""
    v = np.gradient(pos, axis=0)
    speed = np.linalg.norm(v, axis=1) * (len(pos) - 1)  # per unit script time
    ang = np.arctan2(v[:, 1], v[:, 0])
    moving = speed > eps
    if not moving.any():
        return np.full(len(pos), fallback)
    idx = np.where(moving, np.arange(len(pos)), -1)
    idx = np.maximum.accumulate(idx)
    first = int(np.argmax(moving))
    idx[idx < 0] = first  # before the first motion: the first heading
    return ang[idx]


def blend_angle(a: np.ndarray, b: np.ndarray, w) -> np.ndarray:
    """Angle between ``a`` and ``b``: weight ``w`` on ``b`` along the shorter arc."""
    d = np.angle(np.exp(1j * (b - a)))
    return a + w * d


# ---------------------------------------------------------------------- scripts
def _rot(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def _chase(rng, p, n_agents, u):
    v, dist, inten = p["speed"], p["distance"], p["intensity"]
    rho = 0.22 * (1 + 0.12 * np.sin(2 * np.pi * 1.5 * u + rng.uniform(0, 2 * np.pi)))
    phi_b = rng.uniform(0, 2 * np.pi) + (2.0 + 3.0 * v) * u
    d0 = 0.15 + 0.25 * dist
    g0 = 2 * np.arcsin(min(d0 / (2 * 0.22), 0.99))
    gap = g0 * (1 - (0.25 + 0.5 * inten) * smoothstep(u))
    circ = lambda phi, r: np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1)  # noqa: E731
    pos = [circ(phi_b - gap, rho) + jitter(rng, u, 0.004 + 0.012 * inten),
           circ(phi_b, rho) + jitter(rng, u, 0.004 + 0.012 * inten)]
    if n_agents == 3:
        pos.append(circ(phi_b - 0.55 * gap - 0.5 * g0, rho * 0.8) + jitter(rng, u, 0.01))
    heads = [velocity_heading(x) for x in pos]
    return pos, heads, 0.92


def _flee(rng, p, n_agents, u):
    v, dist, inten = p["speed"], p["distance"], p["intensity"]
    us = 0.25 + 0.1 * rng.random()
    d0 = 0.16 + 0.15 * dist
    ax = np.where(u < us, 0.08 * u / us, 0.08 + 0.05 * smoothstep((u - us) / 0.3))
    a = np.stack([ax - 0.2, np.zeros_like(u)], axis=1)
    run = (0.35 + 0.45 * v) * np.clip(u - us, 0, None) / (1 - us)
    curve = rng.choice([-1.0, 1.0]) * (0.6 + 0.6 * rng.random())
    ang = curve * run
    steps = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    path = np.concatenate([[[0, 0]], np.cumsum(np.diff(run)[:, None] * (steps[1:] + steps[:-1]) / 2,
                                                axis=0)])
    b = np.array([-0.2 + d0, 0.0]) + path + jitter(rng, u, 0.004 + 0.012 * inten)
    pos = [a + jitter(rng, u, 0.004), b]
    head_b = np.where(u < us, bearing(b, a), velocity_heading(b))
    heads = [velocity_heading(a), head_b]
    if n_agents == 3:
        c_path = path @ _rot(-2 * curve * 0.5).T * 0.85
        c = np.array([-0.2 + d0, -0.12 * np.sign(curve)]) + c_path + jitter(rng, u, 0.01)
        pos.append(c)
        heads.append(np.where(u < us, bearing(c, a), velocity_heading(c)))
    return pos, heads, us


def _bystander(rng, u, near: np.ndarray):
    """A third agent wandering slowly on its own, away from the principal pair's centre."""
    ang = rng.uniform(0, 2 * np.pi)
    start = near.mean(axis=0) + 0.3 * np.array([np.cos(ang), np.sin(ang)])
    c = start + wander(rng, u, 0.12)
    return c, velocity_heading(c, fallback=rng.uniform(0, 2 * np.pi))


def _approach_meet(rng, p, n_agents, u):
    v, dist, inten = p["speed"], p["distance"], p["intensity"]
    um = 0.75 - 0.35 * v
    d_meet = 0.1 + 0.18 * dist
    d_start = 0.5 + 0.1 * rng.random()
    prog = smoothstep(u / um)
    sep = d_meet + (d_start - d_meet) * (1 - prog)
    bounce = 0.025 * inten * np.sin(2 * np.pi * 4 * np.clip(u - um, 0, None)) * (u > um)
    sep = sep - bounce
    arc = rng.uniform(-0.08, 0.08) * np.sin(np.pi * np.clip(u / um, 0, 1))
    a = np.stack([-sep / 2, arc], axis=1)
    b = np.stack([sep / 2, -arc], axis=1)
    pos = [a + jitter(rng, u, 0.003), b + jitter(rng, u, 0.003)]
    heads = [bearing(pos[0], pos[1]), bearing(pos[1], pos[0])]
    if n_agents == 3:
        c, hc = _bystander(rng, u, np.vstack([a, b]))
        pos.append(c)
        heads.append(hc)
    return pos, heads, um


def _fight(rng, p, n_agents, u):
    v, dist, inten = p["speed"], p["distance"], p["intensity"]
    df = 0.15 + 0.12 * dist
    f = 2 + 3 * v
    ph = rng.uniform(0, 2 * np.pi)
    sep = df * (1 - (0.25 + 0.45 * inten) * (0.5 + 0.5 * np.sin(2 * np.pi * f * u + ph)) ** 2)
    axis = rng.uniform(0, 2 * np.pi) + (0.5 + 1.5 * v) * u * rng.choice([-1, 1])
    d = np.stack([np.cos(axis), np.sin(axis)], axis=1)
    centre = wander(rng, u, 0.03)
    a = centre - d * sep[:, None] / 2 + jitter(rng, u, 0.006 + 0.02 * inten)
    b = centre + d * sep[:, None] / 2 + jitter(rng, u, 0.006 + 0.02 * inten)
    wob = 0.25 * inten
    heads = [bearing(a, b) + wob * np.sin(2 * np.pi * 5 * u + ph),
             bearing(b, a) + wob * np.sin(2 * np.pi * 4.3 * u + 2 * ph)]
    pos = [a, b]
    if n_agents == 3:
        c, hc = _bystander(rng, u, np.vstack([a, b]))
        pos.append(c)
        heads.append(hc)
    return pos, heads, float(u[np.argmin(sep)])


def _help(rng, p, n_agents, u):
    v, dist, inten = p["speed"], p["distance"], p["intensity"]
    uh = 0.35 + 0.1 * rng.random()
    contact = 0.11
    struggle = 0.03 * (1 - np.cos(2 * np.pi * 2 * np.minimum(u, uh) / uh)) / 2
    push = (0.2 + 0.2 * v + 0.08 * inten) * smoothstep((u - uh) / (1 - uh))
    ax = -0.2 + struggle + push
    a = np.stack([ax, np.zeros_like(u)], axis=1)
    start = np.array([-0.2 - 0.1 - 0.25 * dist, rng.choice([-1, 1]) * (0.1 + 0.15 * dist)])
    behind = a - np.array([contact, 0.0])
    w = smoothstep(u / uh)[:, None]
    b = (1 - w) * start + w * behind
    b = np.where((u >= uh)[:, None], behind, b)
    pos = [a + jitter(rng, u, 0.003 + 0.006 * inten), b + jitter(rng, u, 0.003)]
    hb = np.where(u < uh * 0.85, velocity_heading(b), 0.0)
    heads = [np.zeros_like(u), blend_angle(hb, np.zeros_like(u), smoothstep((u - 0.6 * uh) / (0.4 * uh)))]
    if n_agents == 3:
        c, hc = _bystander(rng, u, np.vstack([a, b]))
        pos.append(c)
        heads.append(hc)
    return pos, heads, uh


def _hinder(rng, p, n_agents, u):
    v, dist, inten = p["speed"], p["distance"], p["intensity"]
    uh = 0.35 + 0.1 * rng.random()
    contact = 0.11
    fwd = (0.12 + 0.1 * v) * np.minimum(u, uh) / uh
    back = (0.08 + 0.17 * inten) * smoothstep((u - uh) / (1 - uh))
    ax = -0.2 + fwd - back
    a = np.stack([ax, np.zeros_like(u)], axis=1)
    side = rng.choice([-1, 1])
    start = np.array([0.05 + 0.2 * dist, side * (0.15 + 0.12 * dist)])
    front = a + np.array([contact, 0.0])
    w = smoothstep(u / uh)[:, None]
    b = np.where((u >= uh)[:, None], front, (1 - w) * start + w * front)
    pos = [a + jitter(rng, u, 0.003 + 0.006 * inten), b + jitter(rng, u, 0.003 + 0.008 * inten)]
    heads = [np.zeros_like(u), np.where(u < 0.7 * uh, velocity_heading(b), np.pi)]
    heads[1] = blend_angle(heads[1], np.full_like(u, np.pi), smoothstep((u - 0.5 * uh) / (0.5 * uh)))
    if n_agents == 3:
        c, hc = _bystander(rng, u, np.vstack([a, b]))
        pos.append(c)
        heads.append(hc)
    return pos, heads, uh


def _play(rng, p, n_agents, u):
    v, dist, inten = p["speed"], p["distance"], p["intensity"]
    r0 = 0.05 + 0.1 * dist
    fb = 2 + 2 * rng.random()
    ph = rng.uniform(0, 2 * np.pi)
    r = r0 * (1 + (0.3 + 0.4 * inten) * np.sin(2 * np.pi * fb * u + ph))
    spin = rng.choice([-1, 1]) * (4 + 8 * v) * u + rng.uniform(0, 2 * np.pi)
    centre = wander(rng, u, 0.08)
    hop = 0.02 * inten * np.abs(np.sin(2 * np.pi * 3 * u))[:, None]
    pos, k = [], n_agents if n_agents == 3 else 2
    for i in range(k):
        ang = spin + 2 * np.pi * i / k
        pos.append(centre + r[:, None] * np.stack([np.cos(ang), np.sin(ang)], axis=1)
                   + hop * np.stack([np.cos(ang), np.sin(ang)], axis=1))
    heads = []
    for i in range(k):
        partner = pos[(i + 1) % k]
        heads.append(blend_angle(velocity_heading(pos[i]), bearing(pos[i], partner),
                                 0.5 + 0.4 * np.sin(2 * np.pi * 1.5 * u + i)))
    return pos, heads, float(u[np.argmin(r)])


def _follow(rng, p, n_agents, u):
    v, dist, inten = p["speed"], p["distance"], p["intensity"]
    pre = 4  # script time simulated before u=0, so that followers have a path to be on
    ext = np.linspace(-pre, 1.0, (pre + 1) * (GRID - 1) + 1)
    speed = 0.25 + 0.35 * v
    turn = (1.0 + 3.0 * inten) * np.sin(2 * np.pi * (0.6 + 0.6 * rng.random()) * ext
                                         + rng.uniform(0, 2 * np.pi))
    ang = rng.uniform(0, 2 * np.pi) + np.cumsum(turn) * (ext[1] - ext[0])
    step = speed * (ext[1] - ext[0])
    path = np.cumsum(step * np.stack([np.cos(ang), np.sin(ang)], axis=1), axis=0)
    lag = int(round((0.12 + 0.18 * dist) / step))
    s0 = pre * (GRID - 1)  # index of u=0
    pos = [path[s0 - lag: s0 - lag + GRID], path[s0:]]
    if n_agents == 3:
        pos.append(path[s0 - 2 * lag: s0 - 2 * lag + GRID])
    pos = [x + jitter(rng, u, 0.003) for x in pos]
    heads = [velocity_heading(x) for x in pos]
    curv = np.abs(turn[s0:])
    return pos, heads, float(u[np.argmax(curv)])


def _converse(rng, p, n_agents, u):
    v, dist, inten = p["speed"], p["distance"], p["intensity"]
    d = 0.14 + 0.22 * dist
    k = n_agents if n_agents == 3 else 2
    base_ang = rng.uniform(0, 2 * np.pi)
    rad = d / (2 * np.sin(np.pi / k))
    homes = [rad * np.array([np.cos(base_ang + 2 * np.pi * i / k), np.sin(base_ang + 2 * np.pi * i / k)])
             for i in range(k)]
    n_turns = 2 + int(round(3 * v))
    speaker = (np.floor(u * n_turns).astype(int) + rng.integers(k)) % k
    amp = 0.008 + 0.022 * inten
    centre = np.mean(homes, axis=0)
    pos, heads = [], []
    for i in range(k):
        towards = (centre - homes[i]) / np.linalg.norm(centre - homes[i])
        bob = amp * np.sin(2 * np.pi * 6 * u + i) ** 2 * (speaker == i)
        pos.append(homes[i] + bob[:, None] * towards + jitter(rng, u, 0.002))
    for i in range(k):
        if k == 2:
            target = pos[1 - i]
        else:  # listeners face the speaker, the speaker faces the group's centre
            sp = np.stack(pos)[speaker, np.arange(len(u))]
            target = np.where((speaker == i)[:, None], centre, sp)
        heads.append(bearing(pos[i], target) + 0.08 * np.sin(2 * np.pi * 2 * u + 3 * i))
    switches = np.flatnonzero(np.diff(speaker) != 0)
    event = float(u[switches[len(switches) // 2]]) if len(switches) else 0.5
    return pos, heads, event


def _ignore(rng, p, n_agents, u):
    v, dist = p["speed"], p["distance"]
    sep = 0.3 + 0.25 * dist
    ang = rng.uniform(0, 2 * np.pi)
    d = np.array([np.cos(ang), np.sin(ang)])
    pos = [-d * sep / 2 + wander(rng, u, 0.05 + 0.1 * v), d * sep / 2 + wander(rng, u, 0.05 + 0.1 * v)]
    heads = []
    for i in range(2):
        away = bearing(pos[1 - i], pos[i])  # looking away from the other
        heads.append(blend_angle(velocity_heading(pos[i]), away, 0.5))
    if n_agents == 3:
        c, hc = _bystander(rng, u, np.vstack(pos))
        pos.append(c)
        heads.append(hc)
    return pos, heads, float(rng.uniform(0.2, 0.8))


MOTION = {"chase": _chase, "flee": _flee, "approach_meet": _approach_meet, "fight": _fight,
          "help": _help, "hinder": _hinder, "play": _play, "follow": _follow,
          "converse": _converse, "ignore": _ignore}


# ---------------------------------------------------------------------- latents
def shown_motion(pos: np.ndarray, heads: np.ndarray, window: tuple[float, float],
                 samples: int = CUE_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Positions (A, samples, 2) and headings (A, samples) at ``samples`` script times
    evenly spread over the clip's ``window``: the motion the clip shows (scene frame)."""
    grid, u = _u(), np.linspace(*window, samples)
    return _positions_at(u, grid, pos), _headings_at(u, grid, np.unwrap(heads, axis=1))


def _positions_at(u: np.ndarray, xs: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Agent positions (A, len(u), 2) at ``u``, linear between the samples ``pos`` (A, len(xs), 2)."""
    return np.stack([np.stack([np.interp(u, xs, p[:, k]) for k in range(2)], -1) for p in pos])


def _headings_at(u: np.ndarray, xs: np.ndarray, unwrapped: np.ndarray) -> np.ndarray:
    """Unwrapped headings (A, len(u)) at ``u``, linear between the samples (A, len(xs))."""
    return np.stack([np.interp(u, xs, h) for h in unwrapped])


def geometry(pos: np.ndarray, heads: np.ndarray) -> tuple[float, float]:
    """(agent_distance, facingness) of the two principal agents (see the module docstring)."""
    a, b = pos[0], pos[1]
    dist = np.linalg.norm(b - a, axis=1)
    fa = (1 + np.cos(heads[0] - bearing(a, b))) / 2
    fb = (1 + np.cos(heads[1] - bearing(b, a))) / 2
    return (float(np.clip(dist.mean() / DISTANCE_SCALE, 0, 1)),
            float(np.mean(np.sqrt(fa * fb))))


def visible_cues(pos: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """The :data:`CUE_NAMES` of the principal pair's shown motion, each mapped linearly from
    its :data:`CUE_RANGES` to [0, 1] (clipped). Speeds are per clip duration (what a viewer
    sees at the clip's playback rate): ``energy`` the pair's mean speed, ``asymmetry`` how
    much faster one moves than the other, ``closeness`` minus their mean distance,
    ``facing`` the mean of both agents' cosines to the other, ``alignment`` the cosine
    between their headings."""
    a, b = pos[0], pos[1]
    n = pos.shape[1]
    speed = np.linalg.norm(np.gradient(pos, axis=1), axis=-1) * (n - 1)  # (A, n)
    ab = b - a
    dist = np.linalg.norm(ab, axis=1)
    to_b = np.arctan2(ab[:, 1], ab[:, 0])
    raw = np.array([
        speed[:2].mean(),
        np.abs(speed[0] - speed[1]).mean(),
        -dist.mean(),
        0.5 * (np.cos(heads[0] - to_b) + np.cos(heads[1] - to_b - np.pi)).mean(),
        np.cos(heads[0] - heads[1]).mean(),
    ])
    lo, hi = np.asarray(CUE_RANGES).T
    return np.clip((raw - lo) / (hi - lo), 0.0, 1.0)


def social_latents(script: str, params: dict, noise: np.ndarray, cues: np.ndarray | None = None) -> np.ndarray:
    """The six non-geometric latents: the script's base profile modulated by the parameters,
    blended with what the clip shows, plus ``noise`` (6,), then clipped to [0, 1].

    The profile: valence moves away from neutral with intensity; arousal rises with speed and
    intensity; dominance scales with intensity; intimacy falls with distance; communication
    and joint action shift a little with intensity and speed. Each latent then takes
    :data:`VISIBLE_SHARE` of its value from its visible cue (:data:`LATENT_CUES`, a mean of
    :func:`visible_cues`), so that what observers judge is what the motion shows.
    """
    val, aro, dom, inti, com, joint = SCRIPTS[script].base
    s, d, i = params["speed"] - 0.5, params["distance"] - 0.5, params["intensity"] - 0.5
    out = np.array([
        0.5 + (val - 0.5) * (1.0 + 0.6 * i),
        aro + 0.2 * s + 0.2 * i,
        dom * (1.0 + 0.6 * i),
        inti - 0.3 * d,
        com + 0.1 * i - 0.1 * d,
        joint + 0.1 * s - 0.1 * d,
    ])
    if cues is not None:
        seen = np.array([np.mean([c if sign > 0 else 1 - c
                                  for c, sign in ((cues[CUE_NAMES.index(k)], g) for k, g in LATENT_CUES[name])])
                         for name in SOCIAL_NAMES])
        share = np.asarray(VISIBLE_SHARE)
        out = (1 - share) * out + share * seen
    return np.clip(out + noise, 0.0, 1.0)


# ---------------------------------------------------------------------- scenes
@dataclass
class Scene:
    """One clip's content: script, parameters, motion on the script-time grid, latents, nuisance."""

    index: int
    script: str
    params: dict
    n_agents: int
    positions: np.ndarray  # (A, GRID, 2), scene frame
    headings: np.ndarray  # (A, GRID) radians, scene frame
    event_time: float  # script time u of the salient event
    latent: np.ndarray  # (8,) in LATENT_NAMES order
    nuisance: Nuisance
    extra: dict = field(default_factory=dict)

    def latent_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in zip(LATENT_NAMES, self.latent)}

    def window(self) -> tuple[float, float]:
        """Script-time interval the clip shows (first and last frame)."""
        return (self.nuisance.window_start, self.nuisance.window_start + self.nuisance.speed_scale)

    def cues(self) -> np.ndarray:
        """The visible cues (:data:`CUE_NAMES`) of the motion the clip shows."""
        return visible_cues(*shown_motion(self.positions, self.headings, self.window()))

    def frame_times(self, n_frames: int) -> np.ndarray:
        u0, u1 = self.window()
        return np.linspace(u0, u1, n_frames)

    def event_clip_time(self, n_frames: int, fps: float) -> float:
        """Seconds into the clip of the salient event (clipped to the clip)."""
        u0, u1 = self.window()
        frac = (self.event_time - u0) / (u1 - u0)
        duration = (n_frames - 1) / fps
        return float(np.clip(frac, 0, 1) * duration)

    def arena_poses(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Agent centres (A, len(u), 2) in arena units and headings (A, len(u)) at script times u."""
        grid = _u()
        unwrapped = np.unwrap(self.headings, axis=1)
        if self.nuisance.style == "abstract":  # jerky: straight segments between a few knots
            knots = np.linspace(0.0, 1.0, ABSTRACT_KNOTS)
            pos = _positions_at(u, knots, _positions_at(knots, grid, self.positions))
            head = np.round(_headings_at(u, grid, unwrapped) / (np.pi / 4)) * (np.pi / 4)
        else:
            pos = _positions_at(u, grid, self.positions)
            head = _headings_at(u, grid, unwrapped)
        rot = _rot(self.nuisance.rotation)
        pos = pos @ rot.T + 0.5 + np.asarray(self.nuisance.offset)
        return pos, head + self.nuisance.rotation


def _fit(pos: np.ndarray) -> np.ndarray:
    """Centre the motion and shrink it (uniformly) into [-FIT, FIT]^2 if it is larger."""
    lo, hi = pos.reshape(-1, 2).min(axis=0), pos.reshape(-1, 2).max(axis=0)
    centre = (lo + hi) / 2
    extent = float((hi - lo).max())
    scale = min(1.0, 2 * FIT / extent) if extent > 0 else 1.0
    return (pos - centre) * scale


def make_scene(index: int, script: str, params: dict, n_agents: int, motion_rng: np.random.Generator,
               nuisance: Nuisance, latent_noise: np.ndarray) -> Scene:
    """Build the motion of ``script`` and the latents that follow from it."""
    u = _u()
    pos, heads, event = MOTION[script](motion_rng, params, n_agents, u)
    pos = _fit(np.stack(pos))
    heads = np.stack(heads)
    shown = shown_motion(pos, heads, (nuisance.window_start, nuisance.window_start + nuisance.speed_scale))
    agent_distance, facingness = geometry(*shown)
    latent = np.concatenate([social_latents(script, params, latent_noise, visible_cues(*shown)),
                             [agent_distance, facingness]])
    return Scene(index, script, dict(params), n_agents, pos, heads, float(event), latent, nuisance)


def sample_scene(index: int, rng_content: np.random.Generator, rng_nuisance: np.random.Generator,
                 scripts: tuple[str, ...], three_agent_share: float, latent_noise: float,
                 style: str = "default") -> Scene:
    """Draw a script (balanced by index), its parameters, agents and nuisance, and build it."""
    script = scripts[index % len(scripts)]
    params = {k: float(v) for k, v in zip(PARAM_NAMES, rng_content.random(3))}
    n_agents = 3 if rng_content.random() < three_agent_share else 2
    noise = rng_content.normal(0.0, latent_noise, size=len(SOCIAL_NAMES))
    motion_rng = np.random.default_rng(rng_content.integers(2**63))
    nuisance = sample_nuisance(rng_nuisance, n_agents, style)
    return make_scene(index, script, params, n_agents, motion_rng, nuisance, noise)
