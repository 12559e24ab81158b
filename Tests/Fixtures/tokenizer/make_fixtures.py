#!/usr/bin/env python3
"""Write fixtures.json: texts and the ids open_clip's tokenizer gives them (context 77).

Each case has `ids`, what clipq's tokenizer must produce, and a `set`:
- "exact": `ids` is open_clip's output, unchanged.
- "mojibake": ftfy's heuristic mojibake repair (fix_encoding) changes the text, which clipq
  does not do; `ids` is open_clip's output with fix_encoding=False and `open_clip_ids` the real one.
- "control_spelling": the text spells open_clip's control tokens ("<end_of_text>"), which open_clip
  turns into control ids; clipq keeps them as text. `ids` is open_clip's output without that
  special case and `open_clip_ids` the real one.
Where Hugging Face's CLIPTokenizer (transformers 5, the Rust tokenizer) gives other ids, the case
also has `hf_ids`: HF does not run ftfy nor unescape HTML, and treats "<|endoftext|>" as control.

Run by hand (needs open_clip_torch and transformers): python3 make_fixtures.py
"""
import json
import os
import random
import types
import unicodedata

import ftfy
import open_clip
import open_clip.tokenizer as oct
import regex
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "..", "clip-vocab")
CONTEXT = 77

from cases import CASES  # noqa: E402  (the texts, by category, in cases.py beside this file)


def fuzz_cases(count, seed=1234):
    """Random mixes of the characters the cleaning and pre-tokenizer treat specially."""
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        " \t\n  ",
        "'''\"\",.;:!?-_()[]{}<>/\\@#$%^*+=~`|",
        "&&&;#x",
        "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÉÎÕÜßœŒ",
        "\u0300\u0301\u0302\u0303\u0308\u0327\u0345",
        "αβγδεζηθικλμνξοπρσςτυφχψωΑΒΓΔΣΩάέήίόύώ",
        "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЖЯЁё",
        "日本語中文漢字東京大阪北京上海의한국어ひらがなカタカナ",
        "ｱｲｳｴｵＡＢＣ１２３！？　",
        "ﬁﬂﬀﬃĳǆŉ",
        "\u2018\u2019\u201c\u201d\u02bc\u201a\u201e",
        "😀🐱🐶👍🏽👨\u200d👩\u200d👧❤\ufe0f🇫🇷✨",
        "٠١٢٣४५६๑๒½²ⅣⅧ",
        "\u00a0\u2028\u2029\u0085\u3000\u200b\ufeff\u00ad",
        "\x00\x07\x1b\x7f\x80\x92\x9d",
        "عربيةעבריתहिन्दीภาษาไทย",
        "ſİıΣK",
    ]
    weights = [30, 8, 15, 10, 3, 6, 3, 5, 5, 5, 3, 2, 3, 4, 3, 2, 1, 4, 2]
    out = []
    for _ in range(count):
        length = rng.choice([1, 2, 3, 5, 8, 13, 21, 34, 55])
        chars = []
        for _ in range(length):
            pool = rng.choices(pools, weights)[0]
            chars.append(rng.choice(pool))
        out.append("".join(chars))
    return out


def reference_ids(tokenizer, text):
    ids = [tokenizer.sot_token_id] + tokenizer.encode(text) + [tokenizer.eot_token_id]
    if len(ids) > CONTEXT:
        ids = ids[:CONTEXT]
        ids[-1] = tokenizer.eot_token_id
    return ids


def main():
    real = oct.SimpleTokenizer()
    # open_clip, but spellings of its control tokens are text.
    as_text = oct.SimpleTokenizer()
    as_text.pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)
    as_text.cache = {}
    hf = transformers.CLIPTokenizer.from_pretrained(VOCAB)

    def without_mojibake_repair(tokenizer, text):
        saved = oct.ftfy
        oct.ftfy = types.SimpleNamespace(fix_text=lambda t: ftfy.fix_text(t, fix_encoding=False))
        try:
            return reference_ids(tokenizer, text)
        finally:
            oct.ftfy = saved

    cases = [(category, text) for category, texts in CASES for text in texts]
    cases += [("fuzz", text) for text in fuzz_cases(150)]
    seen, out, counts = set(), [], {}
    for category, text in cases:
        if text in seen:
            continue
        seen.add(text)
        open_clip_ids = reference_ids(real, text)
        literal = reference_ids(as_text, text)
        unrepaired = without_mojibake_repair(as_text, text)
        case = {"category": category, "text": text}
        if unrepaired != literal:
            case["set"], case["ids"] = "mojibake", unrepaired
        elif literal != open_clip_ids:
            case["set"], case["ids"] = "control_spelling", literal
        else:
            case["set"], case["ids"] = "exact", open_clip_ids
        if case["ids"] != open_clip_ids:
            case["open_clip_ids"] = open_clip_ids
        hf_ids = hf(text, truncation=True, max_length=CONTEXT)["input_ids"]
        if hf_ids != open_clip_ids:
            case["hf_ids"] = hf_ids
        out.append(case)
        key = (category, case["set"], "hf_differs" if "hf_ids" in case else "hf_same")
        counts[key] = counts.get(key, 0) + 1

    meta = {
        "made_by": "Tests/Fixtures/tokenizer/make_fixtures.py",
        "open_clip": open_clip.__version__,
        "transformers": transformers.__version__,
        "ftfy": ftfy.__version__,
        "python_unicode": unicodedata.unidata_version,
        "context_length": CONTEXT,
    }
    with open(os.path.join(HERE, "fixtures.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "cases": out}, f, ensure_ascii=True, indent=0)
        f.write("\n")
    sets = {}
    for case in out:
        sets[case["set"]] = sets.get(case["set"], 0) + 1
    print(f"{len(out)} cases: {sets}; HF differs from open_clip on {sum('hf_ids' in c for c in out)}")
    for key in sorted(counts):
        print("  %-16s %-16s %-10s %d" % (*key, counts[key]))


if __name__ == "__main__":
    main()
