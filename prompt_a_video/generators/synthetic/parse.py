"""Prompt -> :class:`ParsedPrompt`: what the synthetic backbone understands of a prompt.

The same function serves the renderer (with the preset's token limit) and the
scene-alignment reward (on the ORIGINAL prompt, usually without a limit), so both sides
read prompts with exactly the same lexicon.

Rules, in order:
1. Tokens past ``token_limit`` are dropped (``lexicon.tokenize`` counts tokens).
2. Phrases are matched longest first against the lexicon, through inflections
   ("running" -> run, "puppies" -> puppy -> dog). Commas and full stops split clauses.
3. A colour binds to the subject right after it (within 3 words, same clause), else to
   the one right before it ("a car painted red"); unbound colours stay global.
4. An action binds to the nearest subject before it; a subject without one takes the first
   action after it in its clause ("a dog and a cat running": both run).
5. A noun the lexicon does not know is still a subject when it heads a noun phrase
   ("a shiny xylophone", up to 2 such) or when nothing else was found ("zorblax").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from prompt_a_video.generators.synthetic import lexicon as lx

_CLAUSE_BREAKS = frozenset(",.;:!?()[]{}\"")
MAX_UNKNOWN_SUBJECTS = 2


@dataclass
class Subject:
    """A thing to draw.

    Attributes:
        name: canonical name ("dog" for "corgis"); an unknown noun's singular form.
        kind: person | animal | vehicle | object | plant | building | unknown.
        template: shape builder in ``draw`` (unknown nouns: picked by a hash of the name).
        colour: requested colour name, or None (the renderer uses the default).
        known: False for nouns the lexicon does not know.
        position: index of its first mention among the words read.
        actions: action lemmas bound to it, in order.
    """

    name: str
    kind: str
    template: str
    colour: str | None = None
    known: bool = True
    position: int = 0
    actions: list[str] = field(default_factory=list)


@dataclass
class ParsedPrompt:
    """What the backbone reads in a prompt. Lists are distinct and in order of mention.

    ``scene_colours`` are colours that describe a scene ("blue sky"), ``unbound_colours``
    colours that describe nothing nearby ("..., red").
    ``camera`` holds moves (``pan_left``, ``zoom_in``, ``static``...), ``style`` post
    processes (``bw``, ``watercolor``...), ``lighting`` canonical lighting names
    (``sunset``, ``night``, ``neon``...); ``speed`` is the product of speed words' factors.
    """

    text: str
    token_limit: int | None
    tokens_total: int
    tokens_read: int
    subjects: list[Subject] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    scenes: list[str] = field(default_factory=list)
    lighting: list[str] = field(default_factory=list)
    camera: list[str] = field(default_factory=list)
    style: list[str] = field(default_factory=list)
    quality: list[str] = field(default_factory=list)
    stability: list[str] = field(default_factory=list)
    shake: list[str] = field(default_factory=list)
    speed: float = 1.0
    relation: str | None = None
    transitions: int = 0
    scene_colours: list[str] = field(default_factory=list)
    unbound_colours: list[str] = field(default_factory=list)

    @property
    def tokens_ignored(self) -> int:
        return self.tokens_total - self.tokens_read

    @property
    def scene(self) -> str | None:
        return self.scenes[0] if self.scenes else None

    @property
    def subject_names(self) -> list[str]:
        return [s.name for s in self.subjects]

    def summary(self) -> dict:
        """The parse under the keys a render records in ``Video.meta``, so an alignment
        reward compares like with like. Here ``subject_colours`` holds requested colours
        only and ``colours`` every colour word read; in ``meta`` they are what was drawn."""
        return {
            "subjects": self.subject_names,
            "subject_kinds": [s.kind for s in self.subjects],
            "subject_colours": {s.name: s.colour for s in self.subjects if s.colour},
            "unknown_subjects": [s.name for s in self.subjects if not s.known],
            "colours": list(self.colours),
            "actions": list(self.actions),
            "scene": self.scene,
            "scenes": list(self.scenes),
            "lighting": list(self.lighting),
            "camera": list(self.camera),
            "style": list(self.style),
            "quality_words": list(self.quality),
            "stability_words": list(self.stability),
            "shake_words": list(self.shake),
            "relation": self.relation,
            "tokens_read": self.tokens_read,
            "tokens_ignored": self.tokens_ignored,
        }

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Match:
    start: int
    end: int
    entry: lx.Entry
    clause: int
    bound: str = ""  # colours: "subject" or "scene" once bound


def parse_prompt(text: str, token_limit: int | None = None) -> ParsedPrompt:
    """Parse ``text`` with the synthetic backbone's lexicon, reading at most
    ``token_limit`` tokens (None: all)."""
    if not isinstance(text, str):
        raise TypeError(f"parse_prompt: expected a str prompt, got {type(text).__name__}")
    if token_limit is not None and token_limit < 1:
        raise ValueError(f"parse_prompt: token_limit must be >= 1 or None, got {token_limit}")
    tokens = lx.tokenize(text)
    read = tokens if token_limit is None else tokens[:token_limit]
    out = ParsedPrompt(text=text, token_limit=token_limit, tokens_total=len(tokens), tokens_read=len(read))

    words: list[str | None] = []  # None = clause break; other punctuation is dropped
    for tok in read:
        if tok[0].isalnum():
            words.append(tok)
        elif tok in _CLAUSE_BREAKS and words and words[-1] is not None:
            words.append(None)
    clause_of, clause = [], 0
    for w in words:
        clause += w is None
        clause_of.append(clause)

    matches: list[_Match] = []
    covered = [False] * len(words)
    i = 0
    while i < len(words):
        hit = lx.match_at(words, i)
        if hit is None:
            i += 1
            continue
        n, entries, _ = hit
        for entry in _resolve(words, i, n, entries):
            matches.append(_Match(i, i + n, entry, clause_of[i]))
        for k in range(i, i + n):
            covered[k] = True
        i += n

    speed = 1.0
    relations: list[_Match] = []
    for m in matches:
        cat, name = m.entry.category, m.entry.name
        if cat == "speed":
            speed *= lx.ww.SPEED[name]
        elif cat == "relation":
            relations.append(m)
        elif cat == "transition":
            out.transitions += 1
        elif cat in ("scene", "lighting", "camera", "style", "quality", "stability", "shake"):
            target = {"scene": out.scenes, "lighting": out.lighting, "camera": out.camera, "style": out.style,
                      "quality": out.quality, "stability": out.stability, "shake": out.shake}[cat]
            if name not in target:
                target.append(name)
    out.speed = min(3.0, max(0.25, speed))

    mentions = _collect_subjects(matches, words, covered)
    _bind_colours(matches, mentions)
    _bind_actions(matches, mentions, clause_of)
    out.subjects = _distinct(s for _, s in mentions)
    for m in relations:  # "a cat on the left of a dog": a relation sits between two subjects
        if any(s.position < m.start for s in out.subjects) and any(s.position >= m.end for s in out.subjects):
            out.relation = m.entry.name
            break
    colours = [m for m in matches if m.entry.category == "colour"]
    out.scene_colours = _distinct(m.entry.name for m in colours if m.bound == "scene")
    out.unbound_colours = _distinct(m.entry.name for m in colours if not m.bound)
    out.colours = _distinct(m.entry.name for m in matches if m.entry.category == "colour")
    # Actions are things subjects do: with no subject ("the canyons twist") nothing acts.
    out.actions = _distinct(m.entry.name for m in matches if m.entry.category == "action") if out.subjects else []
    return out


def _resolve(words: list[str | None], i: int, n: int, entries: list[lx.Entry]) -> list[lx.Entry]:
    """Pick the meaning(s) of a matched phrase. Words that are both a colour and a thing
    ("orange") are a colour when a word follows in the noun phrase; words that are both a
    thing and a verb ("sink") take the order ``lexicon.match_at`` chose."""
    cats = [e.category for e in entries]
    if "colour" in cats and "subject" in cats:
        nxt = words[i + n] if i + n < len(words) else None
        is_colour = nxt is not None and nxt not in lx.FUNCTION_WORDS
        return [e for e in entries if e.category == ("colour" if is_colour else "subject")]
    exclusive = {"subject", "action", "scene", "colour"}
    firsts = [e for e in entries if e.category in exclusive]
    rest = [e for e in entries if e.category not in exclusive]
    return firsts[:1] + rest


def _collect_subjects(matches, words, covered) -> list[tuple[int, Subject]]:
    """Every mention of a subject, as (word index, subject), in order; a name mentioned
    twice is one subject ("a dog ... the dog")."""
    subjects: dict[str, Subject] = {}
    mentions: list[tuple[int, Subject]] = []
    for m in matches:
        if m.entry.category == "subject":
            if m.entry.name not in subjects:
                kind, template, _ = lx.SUBJECT_INFO[m.entry.name]
                subjects[m.entry.name] = Subject(m.entry.name, kind, template, position=m.start)
            mentions.append((m.start, subjects[m.entry.name]))
    covering = {k: m for m in matches for k in range(m.start, m.end)}
    unknown = 0
    nothing_found = not subjects and not any(m.entry.category == "scene" for m in matches)
    for d, w in enumerate(words):
        if unknown >= MAX_UNKNOWN_SUBJECTS:
            break
        if w not in lx.DETERMINERS:
            continue
        head = _noun_phrase_head(d + 1, words, covering)
        if head is not None and lx.singular(words[head]) not in subjects:
            name = lx.singular(words[head])
            subjects[name] = Subject(name, "unknown", "", known=False, position=head)
            mentions.append((head, subjects[name]))
            unknown += 1
    if nothing_found and not subjects:
        for k, w in enumerate(words):
            if w and not covered[k] and w.isalpha() and 2 < len(w) <= 30 and w not in lx.FUNCTION_WORDS \
                    and not lx.looks_abstract(w) and not lx.looks_adjectival(w):
                name = lx.singular(w)
                mentions.append((k, Subject(name, "unknown", "", known=False, position=k)))
                break
    return sorted(mentions, key=lambda t: t[0])


def _noun_phrase_head(start: int, words, covering: dict) -> int | None:
    """Index of the unknown head noun of the phrase starting at ``start`` (after a
    determiner), or None when the phrase names something known or nothing."""
    last = None
    k = start
    while k < len(words) and k < start + 4:
        w = words[k]
        if w is None or w in lx.FUNCTION_WORDS:
            break
        if lx.looks_abstract(w):
            return None  # "a sense of ...", "the scene unfolds": the head names nothing drawable
        m = covering.get(k)
        if m is not None:
            if m.entry.category in ("colour", "quality", "speed"):
                k = m.end
                continue
            if m.entry.category in ("subject", "scene"):
                return None
            break  # an action, camera or lighting word ends the noun phrase
        last = k
        k += 1
    if last is None:
        return None
    w = words[last]
    if not w.isalpha() or not 3 <= len(w) <= 30 or lx.looks_adjectival(w):
        return None
    return last


def _bind_colours(matches, mentions: list[tuple[int, Subject]]) -> None:
    """Bind each colour to the nearest thing it describes: a subject, or a scene ("blue
    sky": the renderer tints the scene)."""
    things: list[tuple[int, Subject | None]] = list(mentions)
    things += [(m.start, None) for m in matches if m.entry.category == "scene"]
    things.sort(key=lambda t: t[0])
    taken: set[int] = set()
    for m in matches:
        if m.entry.category != "colour":
            continue
        after = [t for t in things if 0 < t[0] - m.start <= 3 and t[0] not in taken]
        before = [t for t in things if 0 < m.start - t[0] <= 3 and t[0] not in taken]
        target = after[0] if after else (before[-1] if before else None)
        if target is None:
            continue
        if target[1] is not None:
            if target[1].colour is not None:
                continue  # a second colour for one subject ("red and white bus") stays unbound
            target[1].colour = m.entry.name
        taken.add(target[0])
        m.bound = "subject" if target[1] is not None else "scene"


def _bind_actions(matches, mentions: list[tuple[int, Subject]], clause_of: list[int]) -> None:
    """An action goes to the subject mentioned last before it (else the first subject); a
    subject left without one takes the next action of its clause ("a dog and a cat run")."""
    if not mentions:
        return
    actions = [m for m in matches if m.entry.category == "action"]
    for m in actions:
        before = [s for pos, s in mentions if pos < m.start]
        target = before[-1] if before else mentions[0][1]
        if m.entry.name not in target.actions:
            target.actions.append(m.entry.name)
    for pos, s in mentions:
        if not s.actions:
            later = [m for m in actions if m.start > pos and m.clause == clause_of[pos]]
            if later:
                s.actions.append(later[0].entry.name)


def _distinct(items) -> list:
    out: list = []
    for x in items:
        if x not in out:
            out.append(x)
    return out
