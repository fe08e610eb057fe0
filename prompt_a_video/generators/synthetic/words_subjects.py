"""The things the synthetic backbone can draw: people, animals, vehicles, objects, plants,
buildings. Data only; :mod:`.lexicon` turns it into a phrase table.

Each entry is ``canonical name: (template, default colour)``. ``template`` names a shape
builder in :mod:`.draw` (``person``, ``quadruped``, ``car``...); the default colour is
used when the prompt asks for none (``None``: a colour picked from a stable hash of the
name). Names are singular, lower case; multi-word names are written with spaces and
matched as phrases ("teddy bear", "fire hydrant"). ``SUBJECT_ALIASES`` maps synonyms and
breeds to a canonical name, so "a corgi" and "a dog" draw (and align as) the same subject.

The object list covers the 80 COCO classes (which VBench's object prompts use) plus
everyday things seen in WebVid-style captions.
"""

from __future__ import annotations

_PEOPLE_NAMES = (
    "person", "man", "woman", "boy", "girl", "child", "baby", "couple", "family", "crowd", "astronaut",
    "chef", "doctor", "nurse", "soldier", "dancer", "musician", "artist", "painter", "student", "teacher",
    "farmer", "pilot", "surfer", "skier", "skateboarder", "cyclist", "runner", "athlete", "player",
    "lifeguard", "knight", "clown", "ninja", "cowboy", "superhero", "wizard", "witch", "princess", "prince",
    "king", "queen", "monk", "fisherman", "worker", "tourist", "teenager", "grandmother", "grandfather",
    "bride", "groom", "singer", "guitarist", "drummer", "police officer", "firefighter", "scientist",
    "businessman", "model", "rider", "driver", "hiker", "swimmer", "diver", "boxer", "gwen stacy",
    "spiderman", "iron man", "batman", "superman", "storm trooper", "santa claus", "bigfoot", "yeti",
    "zombie", "vampire", "pirate", "mermaid", "samurai", "gymnast", "ballerina", "dj", "robot",
)
_PEOPLE_COLOURS = {"robot": "silver", "astronaut": "white", "bigfoot": "brown", "yeti": "white",
                   "storm trooper": "white", "spiderman": "red", "iron man": "red", "batman": "black",
                   "superman": "blue"}
PEOPLE: dict[str, tuple[str, str | None]] = {n: ("person", _PEOPLE_COLOURS.get(n)) for n in _PEOPLE_NAMES}

ANIMALS: dict[str, tuple[str, str | None]] = {
    # four-legged
    "dog": ("quadruped", "brown"), "cat": ("quadruped", "orange"), "horse": ("quadruped", "brown"),
    "cow": ("quadruped", "white"), "sheep": ("quadruped", "white"), "goat": ("quadruped", "beige"),
    "pig": ("quadruped", "pink"), "bear": ("quadruped", "brown"), "panda": ("quadruped", "white"),
    "polar bear": ("quadruped", "white"), "koala": ("quadruped", "gray"), "elephant": ("quadruped", "gray"),
    "giraffe": ("quadruped", "yellow"), "zebra": ("quadruped", "white"), "lion": ("quadruped", "golden"),
    "tiger": ("quadruped", "orange"), "leopard": ("quadruped", "golden"), "cheetah": ("quadruped", "golden"),
    "wolf": ("quadruped", "gray"), "fox": ("quadruped", "orange"), "deer": ("quadruped", "brown"),
    "rabbit": ("quadruped", "white"), "squirrel": ("quadruped", "brown"), "mouse": ("quadruped", "gray"),
    "rat": ("quadruped", "gray"), "raccoon": ("quadruped", "gray"), "monkey": ("quadruped", "brown"),
    "gorilla": ("quadruped", "black"), "kangaroo": ("quadruped", "brown"), "camel": ("quadruped", "beige"),
    "hippo": ("quadruped", "gray"), "rhino": ("quadruped", "gray"), "donkey": ("quadruped", "gray"),
    "llama": ("quadruped", "beige"), "hamster": ("quadruped", "golden"), "hedgehog": ("quadruped", "brown"),
    "otter": ("quadruped", "brown"), "sloth": ("quadruped", "brown"), "bison": ("quadruped", "brown"),
    "moose": ("quadruped", "brown"), "frog": ("quadruped", "green"), "dinosaur": ("quadruped", "green"),
    "dragon": ("quadruped", "red"), "unicorn": ("quadruped", "white"), "lizard": ("quadruped", "green"),
    "crocodile": ("quadruped", "green"), "turtle": ("quadruped", "green"),
    # flying
    "bird": ("bird", "blue"), "duck": ("bird", "yellow"), "chicken": ("bird", "white"),
    "eagle": ("bird", "brown"), "owl": ("bird", "brown"), "parrot": ("bird", "green"),
    "penguin": ("bird", "black"), "swan": ("bird", "white"), "pigeon": ("bird", "gray"),
    "seagull": ("bird", "white"), "flamingo": ("bird", "pink"), "goose": ("bird", "white"),
    "crow": ("bird", "black"), "hummingbird": ("bird", "green"), "butterfly": ("bird", "orange"),
    "bee": ("bird", "yellow"), "dragonfly": ("bird", "teal"), "bat": ("bird", "black"),
    # swimming and crawling
    "fish": ("fish", "orange"), "shark": ("fish", "gray"), "whale": ("fish", "blue"),
    "dolphin": ("fish", "gray"), "octopus": ("fish", "red"), "jellyfish": ("fish", "pink"),
    "crab": ("fish", "red"), "seal": ("fish", "gray"), "goldfish": ("fish", "orange"),
    "salmon": ("fish", "pink"), "clownfish": ("fish", "orange"), "snake": ("fish", "green"),
}

VEHICLES: dict[str, tuple[str, str | None]] = {
    "car": ("car", None), "taxi": ("car", "yellow"), "jeep": ("car", "green"), "van": ("car", "white"),
    "ambulance": ("car", "white"), "race car": ("car", "red"), "police car": ("car", "white"),
    "truck": ("longvehicle", None), "bus": ("longvehicle", "yellow"), "train": ("longvehicle", "red"),
    "tram": ("longvehicle", "red"), "tractor": ("car", "green"), "tank": ("car", "green"),
    "bicycle": ("twowheeler", None), "motorcycle": ("twowheeler", "black"), "scooter": ("twowheeler", None),
    "boat": ("boat", "white"), "ship": ("boat", "gray"), "sailboat": ("boat", "white"), "yacht": ("boat", "white"),
    "canoe": ("boat", "red"), "kayak": ("boat", "orange"), "submarine": ("boat", "yellow"),
    "airplane": ("plane", "white"), "jet": ("plane", "gray"), "helicopter": ("plane", "red"),
    "rocket": ("rocket", "white"), "spaceship": ("rocket", "silver"), "ufo": ("disc", "silver"),
    "hot air balloon": ("ball", "red"), "balloon": ("ball", "red"), "skateboard": ("stick", "red"),
    "surfboard": ("stick", "white"), "snowboard": ("stick", "blue"), "skis": ("stick", "red"),
    "sled": ("box", "red"), "cart": ("box", "brown"), "carriage": ("box", "brown"),
}

OBJECTS: dict[str, tuple[str, str | None]] = {
    # COCO household and street objects
    "umbrella": ("umbrella", None), "clock": ("ball", "white"), "vase": ("bottle", "blue"), "book": ("box", None),
    "chair": ("box", "brown"), "couch": ("box", None), "bed": ("box", "white"), "table": ("box", "brown"),
    "dining table": ("box", "brown"), "bench": ("box", "brown"), "toilet": ("bowl", "white"),
    "sink": ("bowl", "white"), "tv": ("screen", "black"), "laptop": ("screen", "silver"),
    "computer": ("screen", "gray"), "keyboard": ("box", "black"), "computer mouse": ("ball", "gray"),
    "remote": ("stick", "black"), "cell phone": ("screen", "black"), "microwave": ("screen", "white"),
    "oven": ("box", "silver"), "toaster": ("box", "silver"), "refrigerator": ("box", "white"),
    "backpack": ("box", None), "handbag": ("box", None), "suitcase": ("box", None), "tie": ("stick", None),
    "frisbee": ("disc", None), "sports ball": ("ball", None), "ball": ("ball", None), "kite": ("diamond", None),
    "baseball bat": ("stick", "brown"), "baseball glove": ("ball", "brown"), "tennis racket": ("stick", None),
    "bottle": ("bottle", "green"), "wine glass": ("bottle", "white"), "cup": ("bowl", "white"),
    "fork": ("stick", "silver"), "knife": ("stick", "silver"), "spoon": ("stick", "silver"),
    "bowl": ("bowl", None), "scissors": ("stick", "silver"), "teddy bear": ("quadruped", "brown"),
    "hair drier": ("stick", None), "toothbrush": ("stick", None), "fire hydrant": ("bottle", "red"),
    "stop sign": ("diamond", "red"), "parking meter": ("stick", "gray"), "traffic light": ("box", "black"),
    "potted plant": ("flower", "green"), "phone booth": ("box", "red"), "streetlamp": ("stick", "black"),
    "lantern": ("bottle", "orange"), "candle": ("bottle", "white"), "lamp": ("bottle", "yellow"),
    "mirror": ("screen", "silver"), "window": ("screen", "blue"), "door": ("box", "brown"),
    "basket": ("bowl", "brown"), "box": ("box", "brown"), "gift": ("box", "red"), "flag": ("box", "red"),
    "statue": ("person", "gray"), "sculpture": ("blob", "gray"), "painting": ("screen", None),
    "hat": ("bowl", "black"), "shoe": ("box", None), "sunglasses": ("disc", "black"), "bag": ("box", None),
    "guitar": ("bottle", "brown"), "piano": ("box", "black"), "violin": ("bottle", "brown"),
    "drum": ("bowl", "red"), "trumpet": ("stick", "golden"), "flute": ("stick", "silver"),
    "camera bag": ("box", "black"), "teapot": ("bowl", "white"), "kettle": ("bowl", "silver"),
    "plate": ("disc", "white"), "jar": ("bottle", None), "bucket": ("bowl", None), "barrel": ("box", "brown"),
    "ladder": ("stick", "brown"), "fence": ("box", "white"), "tent": ("diamond", "orange"),
    "campfire": ("blob", "orange"), "crown": ("bowl", "golden"), "sword": ("stick", "silver"),
    "key": ("stick", "golden"), "coin": ("disc", "golden"), "pen": ("stick", "blue"), "pencil": ("stick", "yellow"),
    "brush": ("stick", "brown"), "canvas": ("screen", "white"), "ring": ("disc", "golden"),
    "toy": ("blob", None), "doll": ("person", "pink"), "puzzle": ("box", None),
    "chessboard": ("box", "black"), "dice": ("box", "white"), "wheel": ("disc", "black"),
    "rope": ("stick", "beige"), "ladle": ("stick", "silver"), "mailbox": ("box", "blue"), "bell": ("bowl", "golden"),
    "globe": ("ball", "blue"), "bubble": ("ball", "cyan"), "rock": ("blob", "gray"), "snowman": ("person", "white"),
    "cushion": ("box", None),
    "pillow": ("box", "white"), "blanket": ("box", None), "carpet": ("box", "red"), "shelf": ("box", "brown"),
    "desk": ("box", "brown"), "cabinet": ("box", "brown"), "bookshelf": ("box", "brown"), "sofa": ("box", None),
    "armchair": ("box", None), "fan": ("disc", "white"), "drone": ("plane", "black"),
    # food
    "banana": ("stick", "yellow"), "apple": ("ball", "red"), "sandwich": ("box", "beige"),
    "orange": ("ball", "orange"), "broccoli": ("tree", "green"), "carrot": ("stick", "orange"),
    "hot dog": ("stick", "brown"), "pizza": ("disc", "orange"), "donut": ("disc", "brown"),
    "cake": ("box", "pink"), "burger": ("disc", "brown"), "coffee": ("bowl", "brown"), "tea": ("bowl", "brown"),
    "bread": ("box", "beige"), "egg": ("ball", "white"), "ice cream": ("diamond", "pink"),
    "strawberry": ("ball", "red"), "grapes": ("ball", "purple"), "pear": ("ball", "green"),
    "lemon": ("ball", "yellow"), "watermelon": ("ball", "green"), "tomato": ("ball", "red"),
    "pumpkin": ("ball", "orange"), "cookie": ("disc", "brown"), "fries": ("stick", "yellow"),
    "noodles": ("bowl", "beige"), "sushi": ("box", "white"), "wine": ("bottle", "crimson"),
    "food": ("bowl", None), "cheese": ("box", "yellow"), "chocolate": ("box", "brown"),
}

PLANTS: dict[str, tuple[str, str | None]] = {
    "tree": ("tree", "green"), "palm tree": ("tree", "green"), "oak": ("tree", "green"), "pine": ("tree", "green"),
    "willow": ("tree", "green"), "bonsai": ("tree", "green"), "cherry blossom": ("tree", "pink"),
    "flower": ("flower", None), "rose": ("flower", "red"), "tulip": ("flower", "red"),
    "sunflower": ("flower", "yellow"), "daisy": ("flower", "white"), "lily": ("flower", "white"),
    "orchid": ("flower", "purple"), "lotus": ("flower", "pink"), "wildflower": ("flower", None),
    "cactus": ("tree", "green"), "bush": ("tree", "green"), "mushroom": ("umbrella", "red"),
    "leaf": ("diamond", "green"), "bamboo": ("stick", "green"), "plant": ("flower", "green"),
    "bouquet": ("flower", None), "vine": ("stick", "green"),
}

BUILDINGS: dict[str, tuple[str, str | None]] = {
    "house": ("building", None), "building": ("building", "gray"), "barn": ("building", "red"),
    "castle": ("building", "gray"),
    "tower": ("tower", "gray"), "eiffel tower": ("tower", "brown"), "lighthouse": ("tower", "white"),
    "windmill": ("tower", "white"), "skyscraper": ("building", "silver"), "church": ("building", "white"),
    "temple": ("building", "beige"), "pagoda": ("tower", "red"), "bridge": ("box", "gray"),
    "fountain": ("bowl", "gray"), "pyramid": ("diamond", "beige"),
    "monument": ("tower", "gray"), "stonehenge": ("box", "gray"), "arch": ("umbrella", "gray"),
    "gate": ("box", "red"), "mansion": ("building", "white"), "palace": ("building", "golden"),
    "parthenon": ("building", "white"), "igloo": ("bowl", "white"), "greenhouse": ("building", "green"),
}

# Which "kind" (reported in Video.meta) each group is.
SUBJECT_KINDS = {"person": PEOPLE, "animal": ANIMALS, "vehicle": VEHICLES, "object": OBJECTS,
                 "plant": PLANTS, "building": BUILDINGS}

SUBJECT_ALIASES: dict[str, str] = {
    "people": "person", "human": "person", "adult": "person", "individual": "person", "guy": "man",
    "gentleman": "man", "lady": "woman",
    "kid": "child", "toddler": "child", "infant": "baby", "spider man": "spiderman",
    "stormtrooper": "storm trooper", "santa": "santa claus", "puppy": "dog", "corgi": "dog",
    "retriever": "dog", "golden retriever": "dog", "poodle": "dog", "husky": "dog", "labrador": "dog",
    "bulldog": "dog", "kitten": "cat", "kitty": "cat", "bunny": "rabbit", "pony": "horse",
    "stallion": "horse", "calf": "cow", "cattle": "cow", "bull": "cow", "lamb": "sheep", "piglet": "pig",
    "grizzly": "bear", "cub": "bear", "ape": "monkey", "chimpanzee": "monkey", "alpaca": "llama",
    "buffalo": "bison", "alligator": "crocodile", "tortoise": "turtle", "hen": "chicken",
    "rooster": "chicken", "ducks": "duck", "gull": "seagull", "hawk": "eagle", "songbird": "bird",
    "sparrow": "bird", "jay": "bird", "bluebird": "bird", "finch": "bird", "robin": "bird", "shark fin": "shark",
    "orca": "whale", "clown fish": "clownfish",
    "automobile": "car", "sedan": "car", "sports car": "car", "vehicle": "car", "suv": "car",
    "pickup": "truck", "lorry": "truck", "locomotive": "train", "bike": "bicycle",
    "motorbike": "motorcycle", "aeroplane": "airplane", "plane": "airplane", "airliner": "airplane",
    "spacecraft": "spaceship", "starship": "spaceship", "sailing boat": "sailboat", "ferry": "ship",
    "tv set": "tv", "television": "tv", "monitor": "computer", "smartphone": "cell phone",
    "phone": "cell phone", "mobile phone": "cell phone", "telephone booth": "phone booth",
    "fridge": "refrigerator", "hair dryer": "hair drier", "hairdryer": "hair drier",
    "lamppost": "streetlamp", "lamp post": "streetlamp", "street lamp": "streetlamp",
    "streetlight": "streetlamp", "sofa bed": "couch", "mug": "cup", "teacup": "cup",
    "doughnut": "donut", "hamburger": "burger", "cupcake": "cake", "soccer ball": "sports ball",
    "football": "sports ball", "basketball": "sports ball", "baseball": "sports ball",
    "tennis ball": "sports ball", "racket": "tennis racket", "necktie": "tie", "bowtie": "tie", "bow tie": "tie",
    "handbag purse": "handbag",
    "purse": "handbag", "luggage": "suitcase", "sign": "stop sign", "traffic signal": "traffic light",
    "roses": "rose", "pine tree": "pine", "oak tree": "oak", "willow tree": "willow", "bonsai tree": "bonsai",
    "cherry tree": "cherry blossom", "maple tree": "tree", "apple tree": "tree", "christmas tree": "pine",
    "palm trees": "palm tree", "blossom": "cherry blossom", "sakura": "cherry blossom", "palm": "palm tree",
    "tulips": "tulip", "daisies": "daisy", "sunflowers": "sunflower", "cacti": "cactus",
    "shrub": "bush", "houseplant": "potted plant", "skyscrapers": "skyscraper",
    "villa": "mansion", "shack": "house", "cottage": "house", "farmhouse": "house", "cabin": "house", "hut": "house",
    "chapel": "church", "cathedral": "church", "shrine": "temple",
    "aircraft": "airplane", "hydrant": "fire hydrant", "stone": "rock", "boulder": "rock", "teddy": "teddy bear",
    "koala bear": "koala", "panda bear": "panda", "giant panda": "panda",
}
