"""Video-centric phrases for the heuristic operator, written for this project. Data only.

Each bank holds phrases of one kind (the paper's "video-centric" aspects). A phrase is
added to a prompt as its own comma clause (so it holds no comma or semicolon: the
operator splits prompts into clauses there), it must read well after any subject, and it
must not change what the prompt asks for: no new subjects, colours, scenes, actions,
scene transitions, artistic styles that repaint the video (black and white, cartoon...),
or camera shake. ``tests/unit/test_operators.py`` checks this against the synthetic
backbone's lexicon.

``CUES`` are words that show a prompt already covers a bank's aspect (its own lighting,
its own camera): the operator then adds phrases of other banks first, so it does not
stack "at night" with "golden hour light". ``PRIORITY`` ranks banks for pruning past the
word budget (higher is kept longer).
"""

from __future__ import annotations

BANKS: dict[str, tuple[str, ...]] = {
    "subject": (
        "finely detailed textures", "with lifelike detail", "rendered with intricate detail",
        "natural proportions", "realistic surface textures", "fine detail in every strand and fold",
        "with expressive and natural features", "clearly defined shapes", "with crisp edges and fine texture",
        "every detail in sharp focus", "textures visible up close", "the subject clearly visible",
        "the subject centred and in focus", "anatomically accurate details", "distinct and well-defined features",
        "subtle surface reflections", "with a consistent appearance throughout", "faithful natural details",
        "true-to-life detail", "delicate fine details", "with a clear silhouette", "true-to-life tones",
        "well-defined contours", "crisp fine details", "highly detailed subject",
    ),
    "motion": (
        "smooth and natural motion", "fluid movement", "moving at a steady speed",
        "with graceful and continuous motion",
        "smooth and consistent movement", "natural and lifelike motion", "steady and continuous motion",
        "the motion smooth from start to finish", "without abrupt changes", "moving smoothly through the frame",
        "one continuous and uninterrupted action", "with realistic momentum", "movement rendered seamlessly",
        "gentle and deliberate movement", "consistent motion throughout", "with calm and even movement",
        "moving fluidly and naturally", "with natural weight and balance", "subtle secondary motion",
        "motion captured in fine detail", "a seamless and continuous take", "with stable and coherent motion",
        "the action unfolding smoothly", "with a natural sense of speed",
    ),
    "camera": (
        "static camera", "captured with a steady camera", "smooth tracking shot", "slow and smooth pan",
        "gentle zoom in", "slow dolly in", "wide establishing shot", "medium shot", "close-up shot",
        "low angle shot", "high angle view", "eye-level shot", "shallow depth of field", "tripod shot",
        "steady tracking camera", "stable camera following the action", "slow push in",
        "smooth aerial view", "a stable and locked-off shot", "medium close-up framing",
        "camera moving smoothly alongside", "soft background bokeh", "steady cinematic framing",
        "slow motion", "smooth camera movement",
    ),
    "lighting": (
        "soft natural light", "golden hour lighting", "warm sunlight", "gentle backlight", "cinematic lighting",
        "diffused daylight", "soft light", "dramatic lighting", "warm light", "bright daylight",
        "soft rim light", "volumetric light", "natural lighting", "studio lighting", "ambient light",
        "sunlight with soft shadows", "even and balanced lighting", "warm and glowing light",
        "gentle morning light", "crisp daylight", "soft lighting with gentle shadows",
        "balanced exposure", "well lit", "soft light across the scene",
    ),
    "style": (
        "cinematic", "photorealistic", "realistic style", "cinematic film aesthetic", "documentary style",
        "natural color grading", "rich and vivid colors", "high contrast", "filmic color grading",
        "professional cinematography", "hyperrealistic", "realistic rendering", "film still quality",
        "true-to-life colors", "vibrant colors", "polished cinematic style", "lifelike realism",
        "sleek and modern aesthetic", "nature documentary style", "crisp photographic style",
        "rich tonal range", "cinematic color palette",
    ),
    "composition": (
        "well composed frame", "balanced composition", "rule of thirds composition", "centred composition",
        "an uncluttered background", "clear foreground focus", "clear separation from the background",
        "subject framed in the centre", "harmonious composition", "a sense of depth", "layered depth",
        "generous framing around the main figure", "symmetrical framing", "a simple and clear composition",
        "clear foreground and background", "strong leading lines", "an orderly and balanced frame",
        "the whole figure within the frame", "natural framing", "a focused and minimal composition",
    ),
    "quality": (
        "high quality", "highly detailed", "sharp focus", "4k", "8k resolution", "ultra detailed",
        "crisp and clear", "high definition", "best quality", "masterpiece", "high resolution",
        "professional quality", "crystal clear", "fine detail", "ultra hd", "hd footage",
        "pristine image quality", "high fidelity", "award winning", "stunning detail",
    ),
}

# Order in which banks are worth words when a prompt must be pruned (higher kept longer).
PRIORITY: dict[str, float] = {
    "subject": 0.6, "motion": 0.6, "camera": 0.5, "lighting": 0.5, "quality": 0.45, "style": 0.4,
    "composition": 0.3,
}

# Words that show a prompt already covers a bank (matched as whole lower-case words).
CUES: dict[str, frozenset[str]] = {
    "subject": frozenset(),
    "motion": frozenset("smooth smoothly fluid fluidly steady motion movement".split()),
    "camera": frozenset("""camera shot pan panning zoom zooming dolly tracking aerial drone close-up closeup
                        angle view lens bokeh tripod framing pov handheld""".split()),
    "lighting": frozenset("""light lighting lit sunlight sunlit sunset sunrise dawn dusk twilight night
                          nighttime moonlight moonlit neon glow glowing daylight golden candlelight shadows
                          backlit overcast fog foggy misty rain storm""".split()),
    "style": frozenset("""style cinematic photorealistic realistic film painting painted watercolor watercolour
                       cartoon anime animated sketch drawing illustration render 3d pixel vintage retro
                       monochrome documentary""".split()),
    "composition": frozenset("composition composed framed symmetrical".split()),
    "quality": frozenset("quality detailed 4k 8k hd uhd resolution sharp crisp masterpiece".split()),
}

BANK_OF: dict[str, str] = {phrase: bank for bank, phrases in BANKS.items() for phrase in phrases}
