"""Before/after of the sampler's word-boundary rule: coined words in a refiner's VBench rewrites.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/midword_bans_ab.py runs/cpu-full/dpo-r1/refiner \
        runs/cpu-full/evaluate/out-of-domain/rewrites.jsonl

Refines the prompts of an evaluation's rewrites.jsonl (2 samples each, the evaluation's
settings: temperature 0.7, top_p 0.9, 80 new tokens, seed 0, unguarded) twice: with the
answer controls as they are (bans never inside a word) and with the rule they replaced
(the n-gram ban on any token, the word cap on one-token words only), and prints how many
rewrites hold a coined word (``LEX``) under each, then the first six pairs side by side.
"""
import json, sys
from prompt_a_video import Refiner
from prompt_a_video.rewards.text import coined_words
from prompt_a_video.modules import answer_penalties as ap
prompts = [json.loads(line)["prompt"] for line in open(sys.argv[2], encoding="utf-8")]
prompts = list(dict.fromkeys(prompts))
model = sys.argv[1]
r = Refiner(model)


def run(label):
    out = r.refine(prompts, n=2, temperature=0.7, top_p=0.9, max_new_tokens=80, seed=0, guard=False)
    texts = [t for group in out for t in (group if isinstance(group, list) else [group])]
    texts = [getattr(t, "text", t) for t in texts]
    coined = [coined_words(p, t) for p, t in zip([p for p in prompts for _ in range(2)], texts)]
    print(label, sum(bool(c) for c in coined), "of", len(texts), [c for c in coined if c][:6], flush=True)
    return texts


new = run("bans at word starts (now)")
orig_init = ap.AnswerNoRepeatNGram.__init__


def old_init(self, width, size, tokenizer=None):  # the n-gram rule without the tokenizer: bans any token
    orig_init(self, width, size, None)


ap.AnswerNoRepeatNGram.__init__ = old_init
ap._first_piece = lambda tokenizer, word: None  # the cap on one-token words only
old = run("bans on any token (before)")
for a, b in list(zip(old, new))[:6]:
    print("OLD:", a, "\nNEW:", b)
