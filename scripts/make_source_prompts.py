"""Build the project's prompt sets: prompt_a_video/data/prompt_sets/{evolution,dpo,eval,wild}.txt.

    .venv/bin/python scripts/make_source_prompts.py            # writes the four files
    .venv/bin/python scripts/make_source_prompts.py --check    # rebuilds, fails if they differ

Short, user-style prompts ("a dog running on the beach", "an old man reading a book in a
cafe") from templates and word lists written for this project: people, animals, vehicles,
objects and scenes doing things somewhere, some with a time of day or weather, a few
framed as a shot ("close-up of ...", "aerial view of ..."). Each template pairs a subject
only with actions and places that suit it, so the prompts stay sensible.

Deterministic: one seeded ``random.Random`` draws the prompts category by category until
each quota is met. A core (subject noun and action; plus the place for vehicles, objects
and scenes) is used once at most, so the set is varied and no two prompts differ only by
an adjective, clothing, a time of day or a shot. Any prompt equal
to a VBench prompt (after lower-casing and stripping punctuation) is dropped: VBench is
the out-of-domain evaluation set (DESIGN.md, "Prompt splits"). The VBench list is the
`vbench` asset (``pav assets install --names vbench``) and any ``--vbench FILE``.

The prompts are split BY PROMPT, within each category (so every split has every kind), into
``evolution`` (SFT source, 50%), ``dpo`` (30%) and ``eval`` (in-domain evaluation, 20%).

Messy prompts: beside the template prompts, each split gets its share of the hand-written
prompts in ``scripts/user_prompts.py`` (``MESSY``: stock-footage captions, fragments,
names, counts, run-on lists, typos, casual requests, other languages, odd casing), split
by prompt within each style in the same shares, and interleaved evenly with the template
prompts, so the first N lines of a file (stages take ``limit: N``) and an even spread of
N lines (evaluation) hold about the file's share of them.

``wild.txt`` (``pav:wild``) is a held-out set for evaluation only, never a training
source: ``WILD`` in ``scripts/user_prompts.py``, its styles interleaved; the script fails if
any of it equals (normalised) a prompt of the three splits or of VBench.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "prompt_a_video" / "data" / "prompt_sets"
SPLITS = {"evolution": 0.5, "dpo": 0.3, "eval": 0.2}
HELD_OUT = "wild"  # evaluation only: wild.txt
SEED = 20240501
MESSY_PREFIX = "messy:"  # build()'s categories of hand-written prompts: "messy:<style>"


def _load_user_prompts():
    """``scripts/user_prompts.py`` (data only), loaded by path so this script also works
    when imported from elsewhere (the unit tests load it by file)."""
    path = Path(__file__).resolve().with_name("user_prompts.py")
    spec = importlib.util.spec_from_file_location("pav_user_prompts", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_USER = _load_user_prompts()
MESSY: dict[str, list[str]] = _USER.MESSY
WILD: dict[str, list[str]] = _USER.WILD

# --- word lists ---------------------------------------------------------------------
# A group is (subjects, {action: places}). Subjects are noun phrases without article
# ("=" in front: no article, e.g. "=two dogs"). Places: "|"-separated; a mark in front of
# a place chooses which times of day may follow it: "~" indoors, "%" on or by water (no
# snow), "*" snowy (no rain/sun), "!" none (the place already says when, or it is space).
# Unmarked places are outdoors and take any time.

OUT_TIMES = ("at sunset", "at night", "in the rain", "in the snow", "on a sunny day", "in the early morning",
             "at dawn", "on a foggy morning", "in autumn", "on a windy day", "at dusk", "on a summer afternoon")
TIMES = {
    "": OUT_TIMES,
    "~": ("at night", "in the morning", "on a rainy day", "late at night", "on a quiet afternoon"),
    "%": ("at sunset", "at night", "at dawn", "on a sunny day", "on a foggy morning", "on a summer afternoon"),
    "*": ("at night", "at dawn", "at sunset", "in the early morning"),
    "!": (),
}

ADULTS = ("man|woman|old man|old woman|young man|young woman|elderly man|elderly woman|grandmother|grandfather|"
          "teenage girl|teenage boy|student|tourist").split("|")
KIDS = "little girl|little boy|child|girl|boy".split("|")
CLOTHES = ("in a red coat|in a yellow raincoat|with a backpack|wearing a straw hat|in a denim jacket|"
           "wearing sunglasses|in a white shirt|in a leather jacket|wearing headphones|in a green sweater").split("|")
ANYONE_ACTIONS = {
    "reading a book": "~in a library|on a park bench|~on a train|under a tree|~by the window|~in bed",
    "playing the guitar": "on a street corner|by a campfire|%on the beach|~in a bedroom|on a rooftop",
    "playing the piano": "~in a living room|~in a concert hall|~in an empty church",
    "walking a dog": "in the park|%along the beach|down a quiet street|*through the snow",
    "riding a bicycle": "through the city|%along the river|down a country road|through the park",
    "running": "%on the beach|through the park|%along the river|up a hill|on a track",
    "dancing": "in the rain!|~on a stage|~in the kitchen|in the street|on a rooftop",
    "swimming": "%in a pool|%in the ocean|%in a lake",
    "eating a sandwich": "on a park bench|%on the beach|~at the kitchen table",
    "painting a picture": "~in a studio|%by a lake|in a garden",
    "sitting on a bench": "in the park|%by the lake|at a bus stop",
    "looking out the window": "~on a train|~of a high apartment|~on a rainy day!",
    "walking": "*through the snow|%along the beach|down a busy street|through a forest|across a bridge",
    "watering plants": "in a garden|on a balcony",
    "flying a kite": "%on the beach|in a field|on a hill",
    "feeding pigeons": "in a city square|in the park",
    "sleeping": "~on a couch|in a hammock|~on a train",
    "building a sandcastle": "%on the beach",
    "making a snowman": "*in the yard|*in the park",
    "singing": "~on a stage|~in the shower|~in the car",
    "skateboarding": "down a street|in a skate park",
    "eating an apple": "under a tree|on a park bench|~in the kitchen",
    "laughing": "~in a cafe|in the park|around a campfire",
}
ADULT_ACTIONS = {
    **ANYONE_ACTIONS,
    "reading a newspaper": "~in a cafe|on a park bench|~at the kitchen table",
    "drinking coffee": "~in a cafe|on a balcony|~at the kitchen table|~by the window",
    "jogging": "through the park|%along the beach|across a bridge|down a city street",
    "cooking breakfast": "~in a sunny kitchen!|~in a small kitchen|over a campfire",
    "eating noodles": "~in a small restaurant|at a street market",
    "typing on a laptop": "~in a cafe|~in an office|~on a train|~in a library",
    "talking on the phone": "on a busy street|~in an office|at a train station",
    "taking photos": "in a busy market|on a mountain top|%at the beach",
    "hiking": "up a mountain trail|through the forest|across the desert",
    "waiting for a bus": "in the rain!|on a quiet street|at night!",
    "writing in a notebook": "~in a cafe|~at a desk|under a tree",
    "carrying groceries": "down the street|~up the stairs",
    "washing dishes": "~in the kitchen|~at the sink",
    "fishing": "%on a lake|%from a wooden pier|%by the river",
    "knitting a scarf": "~in a rocking chair|~by the fireplace",
    "climbing a rock wall": "~in a gym|in the mountains",
    "doing yoga": "~in a living room|%on the beach|in the park",
    "pushing a stroller": "through the park|down a sidewalk",
}

PEOPLE_SPECIFIC = [
    ("chef", {"chopping vegetables": "~in a busy kitchen|~in a restaurant kitchen",
              "tossing pizza dough": "~in a pizzeria|~in a small kitchen",
              "cooking in a wok": "~in a busy kitchen|at a street food stall"}),
    ("farmer", {"driving a tractor": "across a field|down a dirt road",
                "feeding chickens": "on a farm|in a farmyard"}),
    ("surfer", {"riding a wave": "%in the ocean|%off the coast", "paddling out to sea": "%at dawn!|%on a cloudy day!"}),
    ("astronaut", {"floating": "!in space|!inside a space station", "walking": "!on the moon|!on mars"}),
    ("ballerina", {"dancing": "~on a stage|~in an empty studio", "spinning": "~on a stage|~in a rehearsal room"}),
    ("firefighter", {"spraying water on a burning house": "at night!|in the city",
                     "climbing a ladder": "in the city|to a window"}),
    ("street musician", {"playing the violin": "on a street corner|in a subway station",
                         "playing the saxophone": "on a bridge|in a city square"}),
    ("fisherman", {"casting a net": "%from a small boat|%at the harbor",
                   "pulling in a fish": "%on a lake|%from a pier"}),
    ("painter", {"painting a mural": "on a city wall|in an alley", "painting a canvas": "~in a studio|in a field"}),
    ("cyclist", {"racing": "down a mountain road|through the city",
                 "riding": "%along the coast|through the countryside"}),
    ("skier", {"skiing": "*down a snowy slope|*through fresh powder", "jumping": "*off a snowy ramp"}),
    ("boxer", {"training": "~in a gym|~in a boxing ring", "punching a bag": "~in a gym|~in a basement"}),
    ("couple", {"walking hand in hand": "%on the beach|through the park|*through the snow",
                "dancing": "~in the living room|under the stars!", "having dinner": "~in a restaurant|on a terrace"}),
    ("family", {"having a picnic": "in the park|%by the lake", "eating dinner": "~at home|in the garden"}),
    ("=children", {"playing soccer": "in a field|in the street", "splashing in puddles": "in the rain!|after the rain!",
                   "running": "through a sprinkler|across a playground"}),
    ("=two friends", {"talking": "~in a cafe|on a park bench", "laughing": "~in a car|by a campfire"}),
    ("=a crowd of people", {"cheering": "~at a concert|in a stadium", "crossing": "a busy street|a city square"}),
    ("baby", {"crawling": "~on the carpet|on the grass", "laughing": "~in a high chair|~in a crib"}),
    ("doctor", {"walking": "~down a hospital corridor", "talking to a patient": "~in a hospital room"}),
    ("scientist", {"looking through a microscope": "~in a laboratory", "mixing liquids": "~in a laboratory"}),
    ("soldier", {"marching": "through the desert|through the rain!", "standing guard": "at a gate|*in the snow"}),
    ("knight", {"riding a horse": "across a field|toward a castle", "fighting a dragon": "in front of a castle"}),
]

ANIMALS = [
    ("dog|puppy|golden retriever|corgi|small white dog|black dog|old dog", {
        "running": "%on the beach|through a field|*in the snow",
        "playing with a ball": "in the backyard|~in the living room",
        "catching a frisbee": "in the park|%on the beach", "chasing a butterfly": "in a garden|in a meadow",
        "sleeping": "~on a couch|~by the fireplace|in the sun!", "swimming": "%in a lake|%in a pool",
        "digging in the sand": "%on the beach", "rolling in the grass": "in the park|in the backyard",
        "carrying a stick": "%along the beach|through the woods", "sitting": "~in the back seat of a car|on a porch",
        "shaking off water": "%by a lake|%on the beach"}),
    ("cat|kitten|orange cat|black cat|fluffy cat|gray cat|tabby cat", {
        "sleeping": "~on a windowsill|~on a sofa|in the sun!",
        "playing with a ball of yarn": "~on the floor|~on the bed",
        "climbing a tree": "in the garden|in the backyard", "sitting": "on a fence|~on a bookshelf|on a rooftop",
        "watching birds": "~through a window|from a balcony", "drinking milk": "~from a bowl|~in the kitchen",
        "hiding": "~in a cardboard box|~under the bed", "walking": "along a garden wall|on a rooftop",
        "stretching": "~on a sofa|in the sun!", "chasing a mouse": "~in the kitchen|in a barn"}),
    ("horse|white horse|brown horse|wild horse|pony", {
        "galloping": "across a field|%along the beach|through the snow!", "eating hay": "~in a barn|in a paddock",
        "running": "through a meadow|across the prairie", "grazing": "in a meadow|on a hillside"}),
    ("cow|sheep|goat|donkey", {
        "grazing": "in a meadow|on a green hill|in a field", "walking": "down a dirt road|across a farm",
        "resting": "in the shade of a tree|~in a barn"}),
    ("pig|piglet", {"rolling in the mud": "on a farm|in a farmyard", "eating": "~in a barn|in a farmyard"}),
    ("lion|lioness|tiger|leopard|cheetah", {
        "resting": "in the tall grass|on a rock|in the shade of a tree",
        "walking": "across the savanna|through the long grass",
        "drinking": "%from a river|%at a watering hole", "running": "across the plains|through the grass"}),
    ("elephant|baby elephant|giraffe|zebra|rhino", {
        "walking": "across the savanna|through the dust|%toward a river",
        "drinking": "%at a watering hole|%from a lake",
        "standing": "in the tall grass|under a big tree"}),
    ("giraffe", {"eating leaves": "from a tall tree|in the savanna"}),
    ("elephant", {"spraying water": "%in a river|%at a watering hole"}),
    ("bear|brown bear|grizzly bear", {
        "catching fish": "%in a river|%in a rushing stream", "walking": "through the forest|*in the snow",
        "climbing a tree": "in the forest", "standing on its hind legs": "in a meadow|by a river"}),
    ("polar bear", {"walking": "*on the ice|*across the snow", "swimming": "!in icy water"}),
    ("panda|baby panda", {"eating bamboo": "in a bamboo forest|on a rock", "rolling": "in the grass|*in the snow",
                          "climbing a tree": "in the forest"}),
    ("deer|fox|wolf|red fox", {
        "running": "through the forest|*through the snow|across a meadow", "drinking": "%from a stream|%from a pond",
        "standing": "in a misty forest!|in a clearing", "sniffing the ground": "in the woods|among fallen leaves"}),
    ("wolf", {"howling": "at the moon!|on a hill at night!"}),
    ("rabbit|squirrel|hedgehog|raccoon|mouse", {
        "eating": "in a garden|in the grass", "running": "across a lawn|through the leaves",
        "sniffing the air": "in the woods|in a garden"}),
    ("squirrel", {"eating a nut": "on a branch|on a fence", "climbing a tree": "in the park|in a forest"}),
    ("monkey|baby monkey", {"eating a banana": "in a tree|in the jungle",
                            "swinging": "from a branch|through the trees"}),
    ("kangaroo", {"hopping": "across a field|through the bush", "resting": "in the shade"}),
    ("camel|llama", {"walking": "across the desert|along a mountain path", "resting": "in the shade|near a tent"}),
    ("koala|sloth", {"sleeping": "in a tree|on a branch", "climbing": "a eucalyptus tree|a tall tree"}),
    ("eagle|hawk|owl|parrot|crow|seagull|pigeon", {
        "flying": "over the mountains|%over the ocean|above the city", "sitting": "on a branch|on a fence post",
        "landing": "on a rock|on a rooftop"}),
    ("eagle|hawk", {"soaring": "above a canyon|over the valley"}),
    ("duck|swan|goose", {"swimming": "%in a pond|%across a lake|%in the river",
                         "walking": "%along the shore|across a lawn"}),
    ("flamingo", {"standing": "%in shallow water|on one leg!", "wading": "%through a lagoon|%in a lake"}),
    ("penguin", {"walking": "*on the ice|*across the snow", "diving": "%into the sea|%off an iceberg"}),
    ("butterfly|bee|hummingbird|dragonfly", {
        "landing on a flower": "in a garden|in a meadow", "flying": "over a field of flowers|in the sunlight!",
        "hovering": "near a flower|over a pond"}),
    ("dolphin|whale|sea turtle|shark", {
        "swimming": "!over a coral reef|%in the ocean|!in deep blue water",
        "diving": "!into deep water|%under a boat"}),
    ("dolphin|whale", {"jumping out of the water": "%in the ocean|%near a boat"}),
    ("jellyfish|octopus|clownfish|goldfish", {"swimming": "!over a coral reef|!in an aquarium",
                                              "drifting": "!in dark water|!near the ocean floor"}),
    ("frog|turtle|lizard", {"resting": "on a rock|on a log", "basking": "in the sun!|on a warm stone"}),
    ("frog", {"jumping": "%into a pond|%off a lily pad"}),
    ("snake", {"slithering": "across the sand|through the grass", "resting": "on a rock|on a branch"}),
    ("crab", {"walking": "%across the sand|%on the beach", "hiding": "%under a rock|%in the sand"}),
    ("=two dogs|=two cats|=two puppies|=two kittens", {
        "playing": "*in the snow|in a garden|~on the carpet", "sleeping": "~on a sofa|in the sun!"}),
    ("=a herd of cows|=a flock of sheep|=a family of ducks|=a herd of elephants|=a flock of birds", {
        "walking": "across a field|down a country road", "resting": "in the shade|by a river"}),
]

VEHICLES = [
    ("car|red car|old car|white sports car|vintage car|black car|small blue car", {
        "driving": "through the rain at night!|along a coastal road|down a desert highway|*through a snowy forest|"
                   "across a bridge|through the city", "parked": "on a quiet street|in front of a house",
        "speeding": "through a tunnel|down an empty highway", "racing": "around a track|through the mountains"}),
    ("yellow taxi|police car|ambulance", {
        "driving": "through the city at night!|down a busy street", "waiting": "at a red light|outside a hotel"}),
    ("bus|red bus|school bus", {
        "driving": "through the city|down a country road",
        "stopping": "at a bus stop in the rain!|in front of a school"}),
    ("train|old steam train|high speed train", {
        "crossing a bridge": "over a river|in the mountains",
        "passing": "through the countryside|*through a snowy valley",
        "pulling into": "a station|a small town"}),
    ("sailboat|small boat|fishing boat|ship|yacht", {
        "sailing": "%across a calm lake|%on the open sea|%into the harbor", "rocking": "%on the waves|%in a storm!"}),
    ("canoe|rowboat|small wooden boat", {"floating": "%on a quiet river|%on a misty lake!",
                                         "drifting": "%down a river"}),
    ("airplane|small plane|helicopter", {
        "flying": "above the clouds|over the city|over the mountains",
        "landing": "on a runway at dusk!|at an airport"}),
    ("airplane|jet", {"taking off": "from an airport|into a cloudy sky!"}),
    ("hot air balloon|blimp", {"floating": "over a valley|above the fields|over the city",
                               "rising": "into the sky|at sunrise!"}),
    ("motorcycle|scooter", {"speeding": "down a mountain road|along a highway",
                            "parked": "outside a cafe|on a narrow street"}),
    ("bicycle|old bicycle|red bicycle", {"leaning": "against a wall|against a tree",
                                         "parked": "outside a cafe|by a canal"}),
    ("truck|pickup truck", {"driving": "down a dusty road|through the desert|*on a snowy road",
                            "carrying logs": "down a mountain road"}),
    ("tractor", {"plowing": "a field|a muddy field", "driving": "down a country road"}),
    ("tram|old tram", {"moving": "through the old town|down a busy street"}),
    ("rocket|small rocket", {"launching": "into the sky|from a launch pad",
                             "flying": "!through space|!above the earth"}),
    ("spaceship|ufo", {"flying": "!through space|!past a planet|over a city at night!",
                       "landing": "in a field at night!"}),
    ("submarine", {"diving": "!into the deep ocean|!under the ice", "rising": "%to the surface"}),
]

OBJECTS = [
    ("cup of coffee|cup of tea|mug of hot chocolate", {
        "steaming": "~on a wooden table|~on a windowsill|~next to a book", "sitting": "~on a cafe table|~on a desk"}),
    ("candle|lantern|oil lamp", {"burning": "~in a dark room|on a table outside|~by the window",
                                 "glowing": "in the dark!|~on a shelf"}),
    ("red balloon|bunch of balloons|kite|paper airplane", {
        "floating": "into the sky|over the city|above a field", "flying": "%over the beach|over a park"}),
    ("umbrella|red umbrella|yellow umbrella", {"lying open": "on a wet street|in the rain!",
                                               "spinning": "in the wind!|on the sidewalk"}),
    ("old clock|alarm clock|pocket watch", {"ticking": "~on the wall|~on a nightstand|~on a wooden desk"}),
    ("book|old book|notebook", {"lying open": "~on a desk|on the grass|~on a bed", "falling": "~off a shelf"}),
    ("vase of flowers|bouquet of roses|potted plant", {"standing": "~on a kitchen table|~by the window|~on a shelf"}),
    ("soccer ball|basketball|beach ball|tennis ball", {"rolling": "across the grass|down the street|%on the sand",
                                                        "bouncing": "on a court|~down the stairs"}),
    ("paper boat|rubber duck", {"floating": "%in a puddle|%on a stream|~in a bathtub"}),
    ("message in a bottle|glass bottle", {"floating": "%in the sea|%on the waves", "washed up": "%on the beach"}),
    ("teapot|small teapot", {"pouring tea into a cup": "~on a table|~in a kitchen"}),
    ("glass of water|glass of orange juice|bottle of wine", {"standing": "~on a kitchen counter|~on a table"}),
    ("pizza|cake|loaf of bread|apple pie", {"coming out of the oven": "~in a kitchen|~in a bakery",
                                            "sitting": "~on a table|~on a wooden board"}),
    ("ice cream cone|chocolate bar|snowman", {"melting": "in the sun!|on a hot day!"}),
    ("globe|fan|record player", {"spinning": "~on a desk|~on a shelf|~in an old room"}),
    ("laptop|camera|desk lamp", {"sitting": "~on a messy desk|~in an office|~on a cafe table"}),
    ("campfire|small campfire", {"burning": "in the woods at night!|%on the beach",
                                 "crackling": "at night!|under the stars!"}),
    ("pile of autumn leaves|paper bag|plastic bag", {"blowing": "across a sidewalk|in the wind!|down an empty street"}),
    ("bowl of fruit|basket of apples|bunch of grapes", {"sitting": "~on a kitchen table|on a picnic blanket"}),
    ("guitar|violin|old piano", {"leaning": "~against a wall|~in the corner of a room",
                                 "sitting": "~on a stage|on the street"}),
    ("suitcase|backpack|pair of shoes", {"sitting": "on a train platform|~by the door|at an airport"}),
]

SCENES = [
    ("lighthouse", {"standing": "%on a rocky coast|%at the end of a pier", "": "%by the sea|on a cliff"}),
    ("castle|temple|pagoda|church|stone tower", {
        "standing": "on a hill|in the mountains|*on a snowy hill|above a quiet valley",
        "": "%by a lake|in the clouds!"}),
    ("old stone bridge|wooden bridge", {"": "%over a river|%over a stream|across a canyon"}),
    ("wooden cabin|red barn|windmill|small house|farmhouse", {
        "standing": "in the middle of a field|at the edge of a forest|*in the snow", "": "%by a lake|on a hill"}),
    ("tall tree|old oak tree|palm tree|cherry tree|pine tree|willow tree", {
        "": "in an empty field|on a hilltop", "swaying": "in the wind!|%by the water"}),
    ("palm tree", {"": "%on a sandy beach|%on a small island"}),
    ("=a field of sunflowers|=a field of tulips|=cherry blossoms|=wildflowers|=a garden of roses", {
        "": "in the countryside|in a quiet park|by a river", "blowing": "in the wind!|in a gentle breeze!"}),
    ("fountain|statue|skyscraper|old building|clock tower", {
        "": "in a city square|in the city center|in an old town", "standing": "against a blue sky!|in the fog!"}),
]
# Scene-only prompts have no subject to draw; kept few (the synthetic backbone needs one).
PURE_SCENES = ("a waterfall in a green forest|waves crashing against the rocks|clouds drifting over the mountains|"
               "a busy street in the city at night|snow falling on a quiet village|a night market full of lights|"
               "fog rolling over the hills|a river winding through a valley|rain falling on a city street|"
               "the northern lights over a frozen lake|a quiet beach at sunrise|a desert at sunset|"
               "a thunderstorm over the ocean|a rainy alley at night|a foggy forest in the morning").split("|")

# Shots a user might name, per category (only on prompts without a time of day).
SHOTS = {"people": ("close-up of",), "animals": ("close-up of",),
         "vehicles": ("aerial view of", "slow motion of"), "objects": ("close-up of", "time-lapse of"),
         "scenes": ("aerial view of", "time-lapse of")}

# category: (groups, quota, whether the place is part of a prompt's core). A core is used
# once: people and animals vary by what they do; vehicles, objects and scenes by where.
CATEGORIES = {
    "people": ([(ADULTS, ADULT_ACTIONS), (KIDS, ANYONE_ACTIONS)] + [(s.split("|"), a) for s, a in PEOPLE_SPECIFIC],
               200, False),
    "animals": ([(s.split("|"), a) for s, a in ANIMALS], 170, False),
    "vehicles": ([(s.split("|"), a) for s, a in VEHICLES], 80, True),
    "objects": ([(s.split("|"), a) for s, a in OBJECTS], 70, True),
    "scenes": ([(s.split("|"), a) for s, a in SCENES], 65, True),
}
N_PURE_SCENES = 15


# --- grammar --------------------------------------------------------------------------

def with_article(noun_phrase: str) -> str:
    """``"old man"`` -> ``"an old man"``; a leading ``=`` means the phrase brings its own."""
    if noun_phrase.startswith("="):
        return noun_phrase[1:]
    vowel = noun_phrase[0] in "aeiou" and not noun_phrase.startswith(("uni", "ufo", "use", "eu", "one"))
    article = "an" if vowel else "a"
    return f"{article} {noun_phrase}"


def normalize(prompt: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: how VBench overlap is judged."""
    return " ".join(re.sub(r"[^\w\s]", " ", prompt.lower()).split())


def compose(rng: random.Random, subjects: list[str], actions: dict[str, str], people: bool,
            core_place: bool, shots: tuple[str, ...]) -> tuple[str, tuple]:
    """One prompt from a group, and its core ``(subject noun, action[, place])``."""
    subject = rng.choice(subjects)
    action = rng.choice(sorted(actions))
    place = rng.choice(actions[action].split("|"))
    mark = place[0] if place[0] in TIMES and place[0] else ""
    place = place.lstrip("~%*!")
    if place.endswith("!"):
        mark, place = "!", place[:-1]
    words = [with_article(subject)]
    if people and rng.random() < 0.15:
        words.append(rng.choice(CLOTHES))
    words += [w for w in (action, place) if w]
    times = TIMES[mark]
    if times and rng.random() < 0.3:
        words.append(rng.choice(times))
    elif rng.random() < 0.05:  # a few users name the shot they want
        words.insert(0, rng.choice(shots))
    text = " ".join(words)
    core = (subject.lstrip("=").split()[-1], action) + ((place,) if core_place else ())
    return text, core


def build(seed: int, vbench: set[str]) -> dict[str, list[str]]:
    """``{category: prompts}``: each category's quota, deduplicated, none in ``vbench``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: dict[str, list[str]] = {}
    for category, (groups, quota, core_place) in CATEGORIES.items():
        cores: set[tuple] = set()
        prompts: list[str] = []
        attempts = 0
        while len(prompts) < quota:
            attempts += 1
            if attempts > 200 * quota:
                raise RuntimeError(f"{category}: only {len(prompts)} distinct prompts of {quota}; add words")
            subjects, actions = rng.choice(groups)
            text, core = compose(rng, subjects, actions, subjects is ADULTS or subjects is KIDS, core_place,
                                 SHOTS[category])
            key = normalize(text)
            if core in cores or key in seen or key in vbench:
                continue
            cores.add(core)
            seen.add(key)
            prompts.append(text)
        out[category] = prompts
    pure = [p for p in PURE_SCENES if normalize(p) not in vbench and normalize(p) not in seen]
    out["scenes"] += rng.sample(pure, min(N_PURE_SCENES, len(pure)))
    seen |= {normalize(p) for p in out["scenes"]}
    # The hand-written messy prompts, one category per style, in their written order (no
    # draw: the template prompts above do not depend on them).
    for style, prompts in MESSY.items():
        kept = []
        for text in prompts:
            key = normalize(text)
            if key not in seen and key not in vbench:
                seen.add(key)
                kept.append(text)
        out[MESSY_PREFIX + style] = kept
    return out


def interleave(groups: list[list[str]], rng: random.Random | None = None) -> list[str]:
    """Merge lists evenly, each list's order kept. Item ``j`` of a list of ``n`` starts at
    a fraction ``(j + 0.5) / n`` of the output (ties to the earlier list). With ``rng``, the
    pattern is then balanced (see ``_balance``) so an evenly spaced pick does not fall in
    step with it: evaluation takes ``limit`` prompts spread evenly over a set
    (``evaluation.settings.spread``), the other stages the first ``limit``."""
    keyed = sorted(((j + 0.5) / len(g), gi) for gi, g in enumerate(groups) for j in range(len(g)))
    labels = [gi for _, gi in keyed]
    if rng is not None and len(groups) > 1:
        labels = _balance(labels, len(groups), rng)
    queues = [iter(g) for g in groups]
    return [next(queues[gi]) for gi in labels]


def _balance(labels: list[int], n_groups: int, rng: random.Random, rounds_per_item: int = 40) -> list[int]:
    """Local search over swaps of nearby positions that keeps every list's count near its
    share ``k * n_g / N`` both in every prefix of ``k`` positions (weighted 64 times more)
    and in every even spread ``{(i * N) // k : i < k}``: minimises the sum of 4th powers of
    the deviations. Deterministic for a given ``rng`` state; pure Python, about a second for
    the 400 lines of evolution.txt."""
    size = len(labels)
    sets = [range(k) for k in range(1, size + 1)] + [sorted({(i * size) // k for i in range(k)})
                                                      for k in range(1, size + 1)]
    weight = [64] * size + [1] * size
    member: list[list[int]] = [[] for _ in range(size)]
    for si, positions in enumerate(sets):
        for i in positions:
            member[i].append(si)
    share = [labels.count(g) / size for g in range(n_groups)]
    dev = [[sum(labels[i] == g for i in positions) - share[g] * len(positions) for positions in sets]
           for g in range(n_groups)]
    labels = list(labels)
    for _ in range(rounds_per_item * size):
        p = rng.randrange(size)
        q = p + rng.choice((-1, 1)) * rng.randint(1, 9)
        if not 0 <= q < size or labels[p] == labels[q]:
            continue
        gp, gq = labels[p], labels[q]  # after the swap p holds gq and q holds gp
        change: dict[int, int] = {}
        for si in member[p]:
            change[si] = change.get(si, 0) - 1
        for si in member[q]:
            change[si] = change.get(si, 0) + 1
        delta = 0.0
        for si, c in change.items():
            if c:  # c = (sets of q) - (sets of p): group gp's count there moves by +c, gq's by -c
                delta += weight[si] * ((dev[gp][si] + c) ** 4 - dev[gp][si] ** 4
                                       + (dev[gq][si] - c) ** 4 - dev[gq][si] ** 4)
        if delta < 0:
            for si, c in change.items():
                dev[gp][si] += c
                dev[gq][si] -= c
            labels[p], labels[q] = gq, gp
    return labels


def _cut(prompts: list[str], rng: random.Random) -> dict[str, list[str]]:
    """Shuffle, then cut in the ``SPLITS`` ratios (the last split takes the rest)."""
    shuffled = list(prompts)
    rng.shuffle(shuffled)
    out, start = {}, 0
    for i, (name, share) in enumerate(SPLITS.items()):
        end = len(shuffled) if i == len(SPLITS) - 1 else start + round(share * len(shuffled))
        out[name] = shuffled[start:end]
        start = end
    return out


def split(by_category: dict[str, list[str]], seed: int) -> dict[str, list[str]]:
    """Split each category by prompt in the ``SPLITS`` ratios, then shuffle each split's
    template prompts and interleave its messy ones evenly among them."""
    rng = random.Random(seed + 1)
    parts: dict[str, list[str]] = {name: [] for name in SPLITS}
    for category, prompts in by_category.items():
        if not category.startswith(MESSY_PREFIX):
            for name, cut in _cut(prompts, rng).items():
                parts[name] += cut
    for name in parts:  # interleave categories so a --limit N still sees every kind
        rng.shuffle(parts[name])
    # Messy prompts: their own generator (the template splits stay as they were), cut per
    # style; each split's styles merged evenly, then merged evenly with its template prompts.
    messy_rng = random.Random(seed + 2)
    messy: dict[str, list[list[str]]] = {name: [] for name in SPLITS}
    for category, prompts in by_category.items():
        if category.startswith(MESSY_PREFIX):
            for name, cut in _cut(prompts, messy_rng).items():
                messy[name].append(cut)
    return {name: interleave([parts[name], interleave(messy[name])], messy_rng) for name in SPLITS}


def wild_prompts(vbench: set[str], shipped: dict[str, list[str]], seed: int = SEED) -> list[str]:
    """The held-out ``wild`` set: ``WILD``'s styles interleaved. Raises ``ValueError`` if a
    prompt repeats, or equals (normalised) a prompt of ``shipped`` or of ``vbench``."""
    prompts = interleave([list(p) for p in WILD.values()], random.Random(seed + 3))
    taken = {normalize(p): name for name, ps in shipped.items() for p in ps}
    taken.update({key: "vbench" for key in vbench})
    seen: set[str] = set()
    for text in prompts:
        key = normalize(text)
        if key in seen or key in taken:
            raise ValueError(f"wild prompt {text!r} is also in {taken.get(key, 'wild')}: the held-out set must be "
                             "disjoint from the source prompts and VBench")
        seen.add(key)
    return prompts


def load_vbench(sources: list[str]) -> set[str]:
    from prompt_a_video.data import load_prompts

    found: set[str] = set()
    for source in sources:
        try:
            found |= {normalize(item.prompt) for item in load_prompts(source if source == "vbench" else Path(source))}
        except (FileNotFoundError, RuntimeError, KeyError) as exc:
            sys.exit(f"make_source_prompts: cannot read the VBench prompts from {source!r} ({exc}); install the "
                     "asset (pav assets install --names vbench) or pass --vbench FILE")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out-dir", default=str(OUT_DIR))
    parser.add_argument("--vbench", action="append", default=None,
                        help="VBench prompt list(s) to exclude: 'vbench' (the asset) or a .txt/.jsonl file "
                             "(repeatable; default: the asset)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the files differ")
    args = parser.parse_args(argv)

    vbench = load_vbench(args.vbench or ["vbench"])
    parts = split(build(args.seed, vbench), args.seed)
    try:
        held_out = wild_prompts(vbench, parts, args.seed)
    except ValueError as exc:
        sys.exit(f"make_source_prompts: {exc}")
    out_dir = Path(args.out_dir)
    stale = []
    for name, prompts in {**parts, HELD_OUT: held_out}.items():
        path = out_dir / f"{name}.txt"
        text = "".join(p + "\n" for p in prompts)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    sizes = ", ".join(f"{name} {len(p)}" for name, p in parts.items())
    if stale:
        print(f"out of date: {', '.join(stale)} (rerun without --check)", file=sys.stderr)
        return 1
    messy = {p for ps in MESSY.values() for p in ps}
    n_messy = ", ".join(f"{name} {sum(p in messy for p in ps)}" for name, ps in parts.items())
    print(f"{sum(map(len, parts.values()))} prompts ({sizes}; messy: {n_messy}); {HELD_OUT} {len(held_out)}; "
          f"{len(vbench)} VBench prompts excluded" + ("" if args.check else f" -> {out_dir}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
