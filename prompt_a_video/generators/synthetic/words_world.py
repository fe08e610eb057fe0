"""Everything but the subjects: colours, actions, scenes, lighting, camera, style, quality,
stability and shake words, speed words, spatial relations, scene transitions. Data only.

Keys are lower-case lemmas (base forms: "run", not "running"); multi-word keys are
phrases matched word by word (a hyphen in the prompt counts as a space, so "close-up"
matches "close up"). Values are what the renderer needs; see :mod:`.render`.
"""

from __future__ import annotations

# name: RGB in [0, 1]
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.14, 0.12), "orange": (0.96, 0.52, 0.1), "yellow": (0.97, 0.85, 0.15),
    "green": (0.2, 0.66, 0.24), "blue": (0.15, 0.35, 0.88), "purple": (0.5, 0.2, 0.7),
    "pink": (0.96, 0.5, 0.7), "brown": (0.52, 0.32, 0.16), "black": (0.08, 0.08, 0.09),
    "white": (0.95, 0.95, 0.93), "gray": (0.52, 0.53, 0.55), "golden": (0.9, 0.72, 0.2),
    "silver": (0.76, 0.78, 0.8), "beige": (0.86, 0.78, 0.62), "teal": (0.1, 0.55, 0.55),
    "cyan": (0.1, 0.82, 0.9), "magenta": (0.88, 0.12, 0.7), "turquoise": (0.2, 0.82, 0.76),
    "navy": (0.08, 0.12, 0.42), "crimson": (0.7, 0.05, 0.2), "maroon": (0.45, 0.08, 0.12),
    "ivory": (0.98, 0.96, 0.86), "amber": (0.95, 0.66, 0.1), "emerald": (0.1, 0.6, 0.38),
    "lavender": (0.72, 0.62, 0.9), "tan": (0.78, 0.64, 0.44), "olive": (0.45, 0.48, 0.16),
    "copper": (0.72, 0.42, 0.22),
}
COLOUR_ALIASES = {"grey": "gray", "gold": "golden", "violet": "purple", "scarlet": "red",
                  "azure": "blue", "cream": "ivory", "bronze": "copper", "rosy": "pink"}

# lemma: (motion pattern, active). Active actions count against a preset's action budget;
# calm ones (stand, sit, float...) do not: real models hold a pose well.
_ACTIONS_BY_PATTERN = {
    ("walk", True): "walk stroll wander march hike stride step pace tiptoe crawl waddle trot patrol",
    ("run", True): "run jog sprint gallop race chase rush hurry dash flee",
    ("jump", True): "jump leap hop bounce vault skip pounce",
    ("fly", True): "fly soar glide hover flutter flap skydive parachute",
    ("swim", True): "swim paddle surf splash dive snorkel row",
    ("dance", True): "dance twirl celebrate cheer perform",
    ("spin", True): "spin rotate roll twist flip tumble somersault whirl",
    ("drive", True): "drive ride cruise sail accelerate travel cross steer commute skate skateboard "
                     "snowboard ski cycle pedal",
    ("fall", True): "fall drop descend sink pour",
    ("rise", True): "rise climb ascend lift launch emerge",
    ("fidget", True): "eat drink read write cook paint draw play sing knit sew wash clean brush comb "
                      "groom chew sip lick sniff feed hug kiss talk laugh clap chop stir carry throw "
                      "catch kick hit juggle punch fight wrestle stretch exercise shoot strum work graze "
                      "bathe roar howl dig build fix vacuum sweep mop shave bake boxing fishing ironing "
                      "drumming archery yoga",
    ("grow", True): "grow bloom blossom expand inflate explode burst melt",
    ("sway", False): "sway swing nod drift flow ripple rustle flicker",
    ("idle", False): "stand sit lie rest sleep wait look watch gaze stare pose relax perch lean kneel "
                     "float hang smile",
}
ACTIONS: dict[str, tuple[str, bool]] = {
    word: key for key, words in _ACTIONS_BY_PATTERN.items() for word in words.split()
}
ACTIONS.update({
    "bungee jump": ("jump", True), "hula hoop": ("dance", True), "take off": ("rise", True),
    "pick up": ("fidget", True), "play guitar": ("fidget", True), "play piano": ("fidget", True),
    "roller skate": ("drive", True), "zoom past": ("drive", True),
})
ACTION_ALIASES = {"skiing": "ski", "skating": "skate", "surfing": "surf", "kayaking": "paddle",
                  "canoeing": "paddle", "rowing": "row", "biking": "ride", "motorcycling": "ride",
                  "cheerleading": "cheer", "aerobics": "dance", "ballet": "dance", "skydiving": "skydive",
                  "trampoline": "bounce"}
ACTION_IRREGULAR = {"ran": "run", "swam": "swim", "flew": "fly", "ate": "eat", "drank": "drink",
                    "sat": "sit", "stood": "stand", "rode": "ride", "drove": "drive", "fell": "fall",
                    "threw": "throw", "caught": "catch", "sang": "sing", "dug": "dig", "spun": "spin",
                    "rose": "rise", "lay": "lie", "lying": "lie", "slept": "sleep", "leapt": "leap",
                    "wrote": "write", "drew": "draw", "built": "build", "hung": "hang", "knelt": "kneel"}

# Scene styles: (sky top RGB, sky bottom RGB, ground RGB, horizon y in frame heights from the
# centre (+ is lower), feature drawn by render.background). ``indoor``: sky is a wall.
RGB = tuple[float, float, float]
SCENE_STYLES: dict[str, tuple[RGB, RGB, RGB, float, str]] = {
    "meadow": ((0.35, 0.6, 0.92), (0.75, 0.86, 0.96), (0.3, 0.6, 0.22), 0.05, "grass"),
    "forest": ((0.45, 0.65, 0.85), (0.7, 0.82, 0.8), (0.18, 0.38, 0.16), 0.08, "trees"),
    "beach": ((0.3, 0.58, 0.93), (0.72, 0.86, 0.97), (0.9, 0.8, 0.58), 0.0, "waves"),
    "ocean": ((0.32, 0.56, 0.9), (0.75, 0.85, 0.95), (0.1, 0.32, 0.6), -0.05, "water"),
    "water": ((0.4, 0.62, 0.9), (0.78, 0.86, 0.94), (0.2, 0.42, 0.55), 0.02, "water"),
    "waterfall": ((0.42, 0.62, 0.85), (0.7, 0.8, 0.85), (0.25, 0.45, 0.3), 0.15, "waterfall"),
    "desert": ((0.5, 0.68, 0.92), (0.93, 0.86, 0.72), (0.88, 0.7, 0.45), 0.05, "dunes"),
    "canyon": ((0.45, 0.62, 0.9), (0.9, 0.8, 0.7), (0.72, 0.42, 0.25), 0.12, "mountains"),
    "mountain": ((0.35, 0.55, 0.88), (0.78, 0.85, 0.93), (0.35, 0.45, 0.3), 0.1, "mountains"),
    "snow": ((0.6, 0.72, 0.88), (0.88, 0.92, 0.96), (0.93, 0.95, 0.98), 0.08, "mountains"),
    "ice": ((0.55, 0.7, 0.9), (0.85, 0.92, 0.97), (0.8, 0.9, 0.97), 0.05, "ice"),
    "city": ((0.45, 0.6, 0.8), (0.78, 0.82, 0.86), (0.4, 0.4, 0.42), 0.12, "buildings"),
    "road": ((0.48, 0.64, 0.86), (0.8, 0.84, 0.88), (0.3, 0.3, 0.32), 0.05, "road"),
    "indoor": ((0.82, 0.76, 0.66), (0.86, 0.8, 0.7), (0.5, 0.36, 0.24), 0.2, "room"),
    "space": ((0.01, 0.01, 0.04), (0.04, 0.03, 0.1), (0.55, 0.35, 0.25), 0.7, "stars"),
    "underwater": ((0.1, 0.45, 0.7), (0.05, 0.3, 0.55), (0.75, 0.65, 0.45), 0.35, "bubbles"),
    "volcano": ((0.4, 0.3, 0.3), (0.8, 0.5, 0.35), (0.2, 0.16, 0.15), 0.1, "volcano"),
    "cave": ((0.2, 0.16, 0.13), (0.3, 0.24, 0.2), (0.25, 0.2, 0.16), 0.2, "rocks"),
    "sky": ((0.25, 0.5, 0.92), (0.7, 0.84, 0.98), (0.6, 0.75, 0.9), 0.7, "clouds"),
}

_SCENES_BY_STYLE = {
    "beach": "beach coast shore seaside coastline",
    "ocean": "ocean sea island harbor bay port",
    "water": "river lake pond stream canal pool swimming pool marsh swamp wetland water venice",
    "waterfall": "waterfall",
    "forest": "forest woods jungle rainforest park orchard",
    "meadow": "meadow landscape grass field grassland farm countryside prairie savanna lawn hill valley garden "
              "botanical garden golf course football field stadium campsite playground amusement park "
              "carousel carrousel cemetery vineyard",
    "desert": "desert dune sand oasis ruins",
    "canyon": "canyon",
    "mountain": "mountain peak cliff alps highland",
    "snow": "snow snowfield arctic tundra ski slope winter wonderland",
    "ice": "glacier iceberg antarctica",
    "city": "city town downtown village skyline cityscape market square plaza campus industrial area "
            "construction site junkyard courtyard rooftop balcony porch bund paris tokyo london new york shanghai "
            "rome athens hong kong",
    "road": "street road highway alley alleyway crosswalk driveway parking lot gas station raceway "
            "race track track railway train station platform runway airport sidewalk",
    "indoor": "kitchen bedroom living room bathroom office classroom library cafe restaurant bar shop "
              "supermarket bakery museum art gallery gallery studio music studio theater movie theater "
              "gym gymnasium hospital laboratory factory warehouse room hallway corridor staircase "
              "basement attic cafeteria food court ballroom nursery pharmacy jail cell prison tea room "
              "teahouse shower aquarium stage interior",
    "space": "space outer space galaxy universe planet mars cosmos nebula",
    "underwater": "underwater coral reef reef seabed ocean floor",
    "volcano": "volcano lava",
    "cave": "cave tunnel mine",
    "sky": "sky clouds",
}
_MULTI_WORD_SCENES = ("new york", "hong kong",
                      "swimming pool", "botanical garden", "golf course", "football field", "amusement park",
                      "ski slope", "winter wonderland", "industrial area", "construction site", "parking lot",
                      "gas station", "race track", "train station", "living room", "art gallery", "music studio",
                      "movie theater", "food court", "jail cell", "tea room", "outer space", "coral reef",
                      "ocean floor")
SCENES: dict[str, str] = {}
for _style, _words in _SCENES_BY_STYLE.items():
    _rest = _words
    for _phrase in _MULTI_WORD_SCENES:
        if _phrase in _rest:
            SCENES[_phrase] = _style
            _rest = _rest.replace(_phrase, " ")
    for _w in _rest.split():
        SCENES.setdefault(_w, _style)
SCENE_ALIASES = {"wave": "ocean", "savannah": "savanna", "riverbank": "river", "waterfront": "harbor",
                 "promenade": "plaza", "seafront": "seaside", "seashore": "shore", "woodland": "woods",
                 "mountains": "mountain", "caf": "cafe", "café": "cafe", "streets": "street", "metropolis": "city",
                 "snowy": "snow",
                 "rocky mountains": "mountain", "sandy beach": "beach", "sea floor": "seabed"}

# name: (RGB tint, brightness, saturation, contrast, effect or None)
LIGHTING: dict[str, tuple[tuple[float, float, float], float, float, float, str | None]] = {
    "sunset": ((1.18, 0.92, 0.74), 0.95, 1.15, 1.05, "warm_sky"),
    "sunrise": ((1.12, 0.95, 0.84), 0.97, 1.1, 1.0, "warm_sky"),
    "dawn": ((1.08, 0.95, 0.9), 0.9, 1.05, 1.0, "warm_sky"),
    "golden hour": ((1.15, 1.0, 0.78), 1.02, 1.15, 1.05, "warm_sky"),
    "dusk": ((0.88, 0.8, 1.08), 0.72, 1.0, 1.0, "dusk_sky"),
    "twilight": ((0.85, 0.8, 1.1), 0.7, 1.0, 1.0, "dusk_sky"),
    "night": ((0.62, 0.72, 1.05), 0.45, 0.85, 1.1, "stars"),
    "moonlight": ((0.7, 0.8, 1.1), 0.55, 0.8, 1.05, "stars"),
    "neon": ((1.0, 0.8, 1.15), 0.6, 1.35, 1.15, "neon"),
    "fireworks": ((1.0, 0.85, 1.0), 0.5, 1.3, 1.15, "neon"),
    "sunlight": ((1.04, 1.02, 0.96), 1.08, 1.05, 1.05, None),
    "daylight": ((1.02, 1.02, 1.0), 1.06, 1.05, 1.05, None),
    "sunny": ((1.04, 1.02, 0.96), 1.1, 1.08, 1.05, None),
    "bright": ((1.0, 1.0, 1.0), 1.12, 1.05, 1.0, None),
    "natural light": ((1.02, 1.0, 0.97), 1.05, 1.05, 1.05, None),
    "soft light": ((1.02, 1.0, 0.98), 1.03, 1.0, 0.95, "glow"),
    "warm light": ((1.1, 1.0, 0.86), 1.0, 1.05, 1.0, "glow"),
    "cool tone": ((0.88, 0.96, 1.12), 0.92, 1.0, 1.0, None),
    "blue hour": ((0.8, 0.88, 1.15), 0.75, 1.05, 1.0, "dusk_sky"),
    "dramatic lighting": ((1.0, 0.98, 0.96), 0.95, 1.1, 1.3, "vignette"),
    "cinematic lighting": ((1.05, 1.0, 0.94), 1.0, 1.1, 1.2, "vignette"),
    "studio lighting": ((1.0, 1.0, 1.0), 1.1, 1.02, 1.1, None),
    "spotlight": ((1.05, 1.0, 0.95), 0.8, 1.05, 1.3, "vignette"),
    "backlight": ((1.05, 1.0, 0.95), 1.05, 1.1, 1.15, "glow"),
    "rim light": ((1.03, 1.0, 0.97), 1.0, 1.05, 1.2, "glow"),
    "volumetric light": ((1.05, 1.02, 0.95), 1.05, 1.05, 1.1, "rays"),
    "god ray": ((1.06, 1.03, 0.94), 1.05, 1.05, 1.1, "rays"),
    "candlelight": ((1.2, 0.95, 0.7), 0.6, 1.05, 1.1, "glow"),
    "ambient light": ((1.0, 1.0, 1.0), 1.0, 1.02, 1.02, None),
    "dim": ((0.95, 0.95, 1.0), 0.65, 0.9, 1.0, None),
    "overcast": ((0.95, 0.97, 1.0), 0.85, 0.7, 0.9, "clouds"),
    "fog": ((0.95, 0.97, 1.0), 0.95, 0.75, 0.7, "fog"),
    "rain": ((0.9, 0.94, 1.0), 0.8, 0.85, 0.95, "rain"),
    "storm": ((0.85, 0.88, 0.98), 0.6, 0.8, 1.1, "storm"),
    "snowfall": ((0.97, 0.98, 1.0), 0.95, 0.9, 0.95, "snowfall"),
}
LIGHTING_ALIASES = {
    "sundown": "sunset", "golden-hour": "golden hour", "nighttime": "night", "midnight": "night",
    "starry": "night", "starry night": "night", "moonlit": "moonlight", "neon light": "neon",
    "neon lighting": "neon", "sunlit": "sunlight", "sunshine": "sunlight", "sunbeam": "god ray",
    "light ray": "god ray", "rays of light": "god ray", "natural lighting": "natural light",
    "soft lighting": "soft light", "diffused light": "soft light", "warm lighting": "warm light",
    "warm glow": "warm light", "warm tone": "warm light", "cool light": "cool tone", "cold light": "cool tone",
    "dramatic light": "dramatic lighting", "chiaroscuro": "dramatic lighting", "studio light": "studio lighting",
    "backlit": "backlight", "rim lighting": "rim light", "volumetric lighting": "volumetric light",
    "candle light": "candlelight", "firelight": "candlelight", "ambient lighting": "ambient light",
    "dimly lit": "dim", "low light": "dim", "cloudy": "overcast", "gloomy": "overcast",
    "foggy": "fog", "mist": "fog", "misty": "fog", "haze": "fog", "hazy": "fog", "rainy": "rain",
    "raining": "rain", "downpour": "rain", "drizzle": "rain", "rainfall": "rain", "raindrop": "rain",
    "thunderstorm": "storm", "lightning": "storm", "snowing": "snowfall", "snowflake": "snowfall",
    "blizzard": "snowfall", "sun": "sunlight", "moon": "moonlight", "star": "night", "snowstorm": "snowfall",
    "daytime": "daylight", "sunny afternoon": "sunny",
}

# name: camera move (see render.camera_path)
CAMERA: dict[str, str] = {
    "static camera": "static", "static shot": "static", "fixed camera": "static", "locked off": "static",
    "tripod": "static", "still frame": "static", "still camera": "static", "stationary camera": "static",
    "static": "static", "pan left": "pan_left", "pan right": "pan_right", "pan": "pan_right",
    "panning shot": "pan_right", "tilt up": "tilt_up", "tilt down": "tilt_down", "tilt": "tilt_up",
    "zoom in": "zoom_in", "zoom out": "zoom_out", "zoom": "zoom_in", "dolly in": "zoom_in",
    "push in": "zoom_in", "dolly out": "zoom_out", "pull back": "zoom_out", "pull out": "zoom_out",
    "tracking shot": "track", "tracking": "track", "follow shot": "track", "following shot": "track",
    "camera follow": "track", "dolly shot": "track", "orbit": "orbit", "arc shot": "orbit",
    "aerial": "aerial", "aerial view": "aerial", "drone shot": "aerial", "drone view": "aerial",
    "drone footage": "aerial", "bird's eye view": "aerial", "bird eye view": "aerial", "overhead shot": "aerial",
    "close up": "close_up", "closeup": "close_up", "macro": "close_up", "extreme close up": "close_up",
    "portrait": "close_up", "wide shot": "wide", "wide angle": "wide", "establishing shot": "wide",
    "panoramic": "wide", "long shot": "wide", "medium shot": "medium", "low angle": "low_angle",
    "high angle": "high_angle", "depth of field": "dof", "shallow depth of field": "dof", "bokeh": "dof",
    "blurred background": "dof", "soft focus": "dof", "racking focus": "rack_focus", "rack focus": "rack_focus",
    "slow motion": "slow_motion", "slo mo": "slow_motion", "time lapse": "time_lapse",
    "timelapse": "time_lapse", "handheld": "handheld", "hand held": "handheld", "first person": "fpv",
    "pov": "fpv", "fpv": "fpv", "crane shot": "tilt_up", "sweeping shot": "pan_right",
    "camera move": "pan_right", "moving camera": "pan_right", "camera movement": "pan_right",
}

# name: post-process (see render.apply_style)
STYLE: dict[str, str] = {
    "black and white": "bw", "monochrome": "bw", "grayscale": "bw", "greyscale": "bw", "b&w": "bw",
    "watercolor": "watercolor", "watercolour": "watercolor", "watercolor painting": "watercolor",
    "watercolour painting": "watercolor", "digital painting": "illustration", "ink painting": "sketch",
    "oil painting": "oil", "impasto": "oil",
    "pixel art": "pixel", "8 bit": "pixel", "pixelated": "pixel", "cartoon": "cartoon", "animated": "cartoon",
    "animation": "cartoon", "anime": "cartoon", "pixar": "cartoon", "claymation": "cartoon",
    "sketch": "sketch", "pencil drawing": "sketch", "line art": "sketch", "charcoal": "sketch",
    "van gogh": "swirl", "impressionist": "swirl", "impressionism": "swirl", "ukiyo": "ukiyo",
    "ukiyo e": "ukiyo", "hokusai": "ukiyo", "woodblock": "ukiyo", "surrealism": "surreal",
    "surreal": "surreal", "surrealist": "surreal", "dreamlike": "surreal", "cyberpunk": "cyberpunk",
    "synthwave": "cyberpunk", "vaporwave": "cyberpunk", "vintage": "vintage", "retro": "vintage",
    "sepia": "vintage", "film grain": "vintage", "old film": "vintage", "digital art": "illustration",
    "concept art": "illustration", "illustration": "illustration", "fantasy art": "illustration",
    "3d render": "render", "unreal engine": "render", "octane render": "render", "cgi": "render", "cg": "render",
}

# Quality words raise texture and lower noise/blur; counted once each (distinct).
QUALITY = set("""high quality|best quality|highly detailed|detailed|intricate detail|ultra detailed|sharp|
sharp focus|crisp|clear|4k|8k|hd|uhd|full hd|1080p|high resolution|hi res|ultra hd|high definition|cinematic|
masterpiece|professional|photorealistic|realistic|hyperrealistic|hyper realistic|lifelike|vivid|vibrant|
rich color|award winning|stunning|breathtaking|beautiful|gorgeous|crystal clear|fine detail|
well lit|polished|pristine|high fidelity|photography|film still""".replace("\n", "").split("|"))

# Stability words lower camera jitter (and, less, flicker); counted once each.
STABILITY = set("""steady|stable|smooth|smoothly|smooth motion|fluid|fluid motion|seamless|seamlessly|
consistent|stabilized|steadily|locked|smooth camera|steady camera|stable camera|slow motion|
static camera|tripod|fixed camera|still frame|stationary camera|static shot|locked off""".replace("\n", "").split("|"))

# Shake words raise camera jitter.
SHAKE = set("""shaky|shaking|shake|handheld|hand held|jittery|wobbly|trembling|chaotic|frantic|
camera shake|earthquake|shaking effect|intense shaking""".replace("\n", "").split("|"))

# speed multipliers of subject motion
SPEED: dict[str, float] = {
    "slowly": 0.6, "slow": 0.6, "gently": 0.7, "gentle": 0.7, "leisurely": 0.6, "lazily": 0.6,
    "gracefully": 0.75, "calmly": 0.7, "peacefully": 0.7, "fast": 1.6, "quickly": 1.6, "quick": 1.5,
    "rapidly": 1.7, "rapid": 1.6, "swiftly": 1.6, "speeding": 1.8, "energetic": 1.4, "high speed": 1.8,
    "slow motion": 0.4, "time lapse": 2.5, "timelapse": 2.5,
}

# phrase: where the FIRST subject is relative to the second
RELATIONS: dict[str, str] = {
    "on the left of": "left", "to the left of": "left", "left of": "left", "on the right of": "right",
    "to the right of": "right", "right of": "right", "on top of": "above", "on the top of": "above",
    "above": "above", "on the bottom of": "below", "below": "below", "under": "below",
    "underneath": "below", "beneath": "below", "next to": "beside", "beside": "beside",
    "in front of": "front", "behind": "behind",
}

# Words that announce a new shot: each one asks the backbone for a scene change.
TRANSITIONS = set("""transition to|transitions to|cut to|cuts to|then|suddenly|finally|followed by|
switch to|change to|meanwhile|later|morph into|turn into|transform into|next scene|the scene shift
""".replace("\n", "").split("|")) - {""}
