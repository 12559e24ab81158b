"""The fixture texts of make_fixtures.py, by category."""
import random

_rng = random.Random(77)

_hand_captions = [
    "a photo of a cat",
    "a photo of a dog",
    "A photo of a cat sitting on a windowsill.",
    "Two dogs playing fetch in a park on a sunny afternoon",
    "a red double-decker bus driving through London",
    "An aerial view of a coastal town at sunset, with boats in the harbour.",
    "close-up of a bee on a lavender flower",
    "A man in a blue jacket riding a bicycle down a cobblestone street",
    "a bowl of ramen with a soft-boiled egg, green onions and nori",
    "The Eiffel Tower lit up at night",
    "a black and white photograph of a steam locomotive, circa 1920",
    "Portrait of an elderly woman smiling, natural light",
    "a child flying a kite on the beach",
    "a plate of spaghetti carbonara on a wooden table",
    "Snow-covered mountains reflected in a still alpine lake",
    "a cat wearing sunglasses",
    "an astronaut riding a horse in photorealistic style",
    "A diagram of the Krebs cycle",
    "a screenshot of a spreadsheet with quarterly sales figures",
    "the logo of a coffee shop",
    "a blurry photo of a street at night",
    "a painting of a sunflower field in the style of Van Gogh",
    "a group of people hiking up a steep trail",
    "A golden retriever puppy asleep on a couch",
    "a stop sign covered in graffiti",
    "rows of solar panels in a desert",
    "a low-resolution thumbnail of a news article",
    "a vintage car parked outside a diner",
    "a tabby cat and a ginger cat curled up together",
    "a kitchen with white cabinets and marble countertops",
    "A Boeing 747 taking off from runway 27L",
    "a hand-drawn map of a fantasy kingdom",
    "someone holding an iPhone 15 Pro Max",
    "a bird's-eye view of Manhattan",
    "a crowded market in Marrakech",
    "an X-ray of a human chest",
    "a watercolour of a lighthouse",
    "a 3D render of a low-poly fox",
    "a tree in autumn with red and orange leaves",
    "a close up photo of a circuit board",
    "a bride and groom walking down the aisle",
    "a soccer player kicking a ball",
    "a photo of the number 42 painted on a door",
    "a meme with the text 'one does not simply'",
    "a bar chart comparing GDP of G7 countries",
    "a wet road reflecting neon signs in Tokyo",
    "a herd of elephants crossing a river",
    "an empty classroom with chairs stacked on desks",
    "a man's hand holding a woman's hand",
    "the cat's toy under the children's bed",
    "A PHOTO OF A CAT IN ALL CAPS",
    "a photo of a cat.a photo of a dog.",
    "a photo of a cat,a dog,and a bird",
    "photo:cat;dog;bird",
    "#sunset #beach #nofilter",
    "@user check this out!!!",
    "https://example.com/images/cat.jpg",
    "user@example.com",
    "C++ and C# code on a monitor",
    "a t-shirt that says \"I <3 NY\"",
    "50% off sale sign",
    "a $5 bill and a €10 note",
    "temperatures of -5°C to 30°C",
    "3:45 pm on 2024-03-15",
    "a 1920x1080 wallpaper",
    "the year 1999 written in sand",
    "pH 7.4 buffer solution",
    "H2O molecules and CO2",
    "iPhone vs. Android",
    "a cat... and a dog?!",
    "what's this? it's a bird! no, it's a plane!",
]

_subjects = ["cat", "dog", "horse", "child", "woman", "man", "robot", "car", "bicycle", "train", "boat",
             "owl", "fox", "teapot", "guitar", "skyscraper", "bridge", "cupcake", "dragon", "snowman"]
_adjectives = ["small", "large", "red", "blue", "fluffy", "rusty", "shiny", "old", "modern", "tiny",
               "enormous", "colourful", "sleepy", "happy", "wet", "frozen", "wooden", "glass"]
_places = ["in a forest", "on a beach", "in the rain", "at night", "in a city street", "on a table",
           "in the snow", "under a bridge", "next to a window", "in outer space", "in a museum",
           "on a rooftop", "in a field of tulips", "inside a cave", "at the train station"]
_styles = ["a photo of", "a close-up photo of", "a painting of", "a sketch of", "a 3d render of",
           "a cartoon of", "an illustration of", "a blurry photo of", "a cropped photo of", "a bright photo of"]


def _template_captions(n):
    out = []
    for _ in range(n):
        out.append(f"{_rng.choice(_styles)} a {_rng.choice(_adjectives)} {_rng.choice(_subjects)} {_rng.choice(_places)}")
    return out


_contractions = [
    "it's", "it’s", "don't", "can't", "won't", "I'm", "you're", "we've", "they'll", "she'd",
    "IT'S", "DON'T", "I'M", "YOU'RE", "WE'VE", "THEY'LL", "SHE'D", "y'all", "'tis", "rock 'n' roll",
    "o'clock", "the '90s", "ma'am", "he's'", "''s", "'s'", "'''", "it''s", "'re'm'll", "'ll've'd",
    "'sam", "'tis 'twas", "the dog's bone's", "don’t you’re I’m", "it‘s", "it‛s", "rock ʼnʼ roll",
    "it'ſ", "ITʼS", "a'b'c'd", "'", "''", "' s", "'s", "'S", "'T", "'RE", "'Ve", "'lL", "'D",
]

_punctuation = [
    "!!!", "???", "?!", "...", "…", "—", "–", "-", "--", "---", "a-b-c", "a_b_c", "(a)", "[a]", "{a}",
    "<a>", "a/b\\c", "\"quoted\"", "«guillemets»", "‹single›", "„German“", "「Japanese」", "『quotes』",
    "¿Qué?", "¡Hola!", "a.b.c.", "e.g., i.e.,", "1.5", "1,000,000", "a;b:c", "~tilde~", "`backtick`",
    "*bold*", "_italic_", "**", "||", "==>", "<-->", "@#$%^&*()", "©®™", "§¶†‡", "•◦‣", "°′″", "±×÷",
    "½¼¾", "←→↑↓", "★☆", "♠♣♥♦", "✓✗", "§1.2", ":)", ":-(", ";)", "<3", "^_^", "¯\\_(ツ)_/¯",
]

_digits = [
    "0", "7", "42", "123", "2024", "3.14159", "1e10", "0xFF", "007", "1,234.56", "1 000 000", "+1-555-0100",
    "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "๐๑๒๓", "１２３", "²³", "½", "Ⅳ", "ⅷ", "①②③", "𝟙𝟚𝟛", "12th", "3rd",
    "v2.0.1", "A4", "B-52", "4x4", "24/7", "9/11", "100%", "-273.15", "10^6",
]

_html = [
    "Tom &amp; Jerry", "Tom &amp Jerry", "&lt;b&gt;bold&lt;/b&gt;", "5 &gt; 3", "caf&eacute;", "CAF&EACUTE;",
    "P&Eacute;REZ", "&nTILDE;", "&Ntilde;&ntilde;", "&quot;quoted&quot;", "it&#39;s", "it&#x27;s", "&#8217;",
    "&#x2019;", "&#X2019;", "&#65;&#66;&#67;", "&#0065;", "&#x41", "&#65", "&#128512;", "&#x1F600;",
    "&#0;", "&#128;", "&#150;", "&#x80;", "&#xD800;", "&#1114112;", "&#99999999999999999999;",
    "&#x110000;", "&#1;", "&#11;", "&#127;", "&#65534;", "&#x1FFFF;", "&#xFDD0;", "&#13;", "&#10;",
    "&nbsp;non&nbsp;breaking", "&hellip;", "&mdash;&ndash;", "&copy; 2024", "&reg;&trade;", "&euro;100",
    "&notit;", "&notin;", "&not", "this&not that", "&ampfoo", "&amp;amp;", "&amp;lt;", "&amp;amp;amp;lt;",
    "&amp;#39;", "&unknown;", "&;", "&#;", "&#x;", "& amp;", "AT&T", "R&D", "Q&A", "&", "&&", "&#",
    "&AMP;", "&LT;", "&Amp;", "&aMp;", "&frac12;", "&FRAC12;", "&sup2;", "&alpha;&beta;&Gamma;",
    "&ALPHA;", "&zwj;", "&zwnj;", "&shy;", "&lrm;&rlm;", "&NotNestedGreaterGreater;", "&CounterClockwiseContourIntegral;",
    "&thisisaverylongentitynamethatgoesonandonforever;", "&abcdefghijklmnopqrstuvwx;", "&abcdefghijklmnopqrstuvwxy;",
    "<p>Tom &amp; Jerry</p>", "x < y &amp; y > z", "a &lt; b\nc &amp; d", "line one &amp;\n<br> line two &amp;",
    "first &amp; line\nsecond &amp; line", "&amp\n&amp;", "&#x3C;script&#x3E;", "&lt;|endoftext|&gt;",
    "&\u00e9acute;", "&eacute&eacute;", "&EACUTE", "&#x00e9;", "&#233;&#xe9;&#XE9;",
]

_accents = [
    "café", "cafe\u0301", "naïve", "nai\u0308ve", "résumé", "re\u0301sume\u0301", "Ångström", "A\u030angstro\u0308m",
    "über", "u\u0308ber", "crème brûlée", "cre\u0300me bru\u0302le\u0301e", "São Paulo", "Sa\u0303o Paulo",
    "Dvořák", "Dvor\u030ca\u0301k", "Łódź", "Ł\u006f\u0301dz\u0301", "ñandú", "n\u0303andu\u0301", "Ǆ", "ǅ", "ǆ",
    "ḱ", "k\u0301", "ṩ", "s\u0323\u0307", "s\u0307\u0323", "q\u0323\u0307", "ᾳ", "α\u0345", "x\u0345y", "\u0345",
    "ÉCOLE", "E\u0301COLE", "İstanbul", "ISTANBUL", "ıi", "ΆΈΉ", "Ω\u2126", "\u212b", "\u0340\u0341",
    "e\u0301\u0301\u0301", "a\u0300\u0301\u0302\u0303\u0304",
]

_quotes = [
    "“Hello,” she said.", "‘single’", "‚low‘", "„low“", "‟reversed”", "‛reversed’", "ʼmodifier",
    "don’t", "“it’s”", "«“nested”»", "″double prime″", "′prime′", "＂fullwidth＂", "＇fullwidth＇",
    "The “best” cat’s toy", "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f",
]

_ligatures = [
    "ﬁsh", "ﬂower", "oﬀice", "eﬃcient", "baﬄe", "ﬅop", "ﬆop", "Ĳsselmeer", "ĳs", "ŉ", "Ǳ", "ǲ", "ǳ",
    "Ǉubljana", "ǈ", "ǉ", "Ǌ", "ǋ", "ǌ", "ﬁﬂﬀﬃﬄﬅﬆ", "æsthetic Æ", "œuvre Œ", "ꜳ", "ﬓﬔ",
]

_fullwidth = [
    "ＬＯＵＤ　ＮＯＩＳＥＳ", "ｆｕｌｌｗｉｄｔｈ", "１２３４５", "！？．，", "（ａ）", "ｱｲｳｴｵ", "ﾊﾟﾝ", "ｶﾞｷﾞ",
    "ﾞﾟ", "￠￡￢￣￤￥￦", "ￂￃￄ", "ﾡﾢﾣ", "￨￩￪￫￬￭￮", "Ｕターン", "ＡＢＣ　ＤＥＦ", "　lead and trail　",
]

_emoji = [
    "😀", "😀😃😄", "I ❤️ NY", "❤", "❤\ufe0f", "👍", "👍🏽", "👍🏿", "👨\u200d👩\u200d👧\u200d👦", "👩\u200d💻",
    "🏳️\u200d🌈", "🏴\u200d☠️", "🇫🇷🇯🇵🇺🇸", "🇫", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    "1️⃣", "#️⃣", "©️", "🐱 cat", "cat🐱dog🐶", "🎉🎉🎉 party", "☕", "⌚", "🫠", "👁️\u200d🗨️", "🧑🏽\u200d🚀",
    "a\u200db", "a\u200cb", "a\u200bb",
]

_cjk = [
    "東京タワー", "一只猫坐在窗台上", "猫の写真", "고양이 사진", "北京烤鸭", "日本語のテキスト", "漢字かなカナ",
    "中文，标点。", "「こんにちは」", "ｶﾀｶﾅ", "한국어 텍스트입니다", "㈱", "㍿", "〇一二三", "々", "ー",
    "𠀀𠀁", "繁體中文", "简体中文", "カフェ", "ｶﾌｪ",
]

_arabic = ["مرحبا بالعالم", "صورة قطة", "القاهرة", "٢٠٢٤", "كتاب", "بِسْمِ اللَّهِ", "ﻻ", "ﷺ", "مرحبا 123", "فارسی"]
_hebrew = ["שלום עולם", "תמונה של חתול", "ירושלים", "עִבְרִית", "״quotes״", "ﬡ", "שָׁלוֹם", "תל אביב", "א ב ג", "חג שמח!"]
_devanagari = ["नमस्ते दुनिया", "बिल्ली की तस्वीर", "हिन्दी", "क्षत्रिय", "२०२४", "ॐ", "दिल्ली", "क़", "क\u093c", "संस्कृतम्"]
_thai = ["สวัสดีครับ", "ภาพแมว", "กรุงเทพมหานคร", "๒๕๖๗", "ภาษาไทย", "น้ำ", "ที่นี่", "ไก่", "เ", "ๆ"]
_cyrillic = ["Привет, мир!", "фото кошки", "Москва", "ЁЛКА ёлка", "Україна", "Ґ ґ Ї ї", "Српски", "ЪЬ", "Й й", "ПРИВЕТ"]
_greek = [
    "Γειά σου κόσμε", "ΟΔΟΣ", "ΟΔΟΣ ΟΔΟΣ", "Σ", "ΑΣ", "ΣΑ", "Α.Σ.", "ΑΣ.", "ΑΣΑ", "ΟΔΟΣ'", "ΑΣ\u0301",
    "Α\u0301Σ", "ἈΣ", "ΤΕΛΟΣ.", "σοφία", "ΦΩΣ ΚΑΙ ΣΚΙΑ", "ΆΣΣΟΣ", "aΣ", "ΣΣ", "ς",
]

_controls = [
    "a\x00b", "a\x07b", "a\x08b", "tab\there", "line\nbreak", "vertical\x0btab", "form\x0cfeed", "cr\rlf",
    "crlf\r\nline", "cr\r\rlf\r\n", "a\x1bb", "\x1b[31mred\x1b[0m", "\x1b[1;32mgreen", "\x1b[", "\x1b[12",
    "\x1b[١٢m digits", "a\x7fb", "a\x85b", "\x80\x81\x8d\x8f\x90\x9d", "it\x92s", "\x93quoted\x94",
    "a\u2028b", "a\u2029b", "a\u200bb", "\ufeffBOM", "a\ufeffb", "\u206atext\u206f", "\ufff9a\ufffab\ufffb",
    "obj\ufffc", "a\x1cb\x1dc\x1ed\x1ff", "soft\u00adhyphen", "a\u00a0b", "a\u2003b\u3000c", "a\u202fb",
    "\u200e\u200f", "\u202a\u202b\u202c\u202d\u202e", "\u2060\u2061", "\U000e0041", "\U0001d173",
]

_whitespace = ["", " ", "  ", "\t", "\n", "\n\n\n", " \t\n\r ", "\u00a0", "\u3000", "\u2028\u2029", "\x85",
               "  leading", "trailing  ", "  both  ", "many     spaces   here", "\x0b", "\x0c", "\x1c\x1d"]

_specials = [
    "<|endoftext|>", "<|startoftext|>", "a <|endoftext|> b", "<|ENDOFTEXT|>", "<end_of_text>",
    "<start_of_text>", "a cat <end_of_text> a dog", "<END_OF_TEXT>", "<start_of_text><end_of_text>",
    "<|endoftext|><|startoftext|>", "<end_of_text", "end_of_text",
]

_mojibake = [
    "cafÃ©", "â€œquotedâ€\x9d", "Ã¼ber", "donâ€™t", "Ã©tÃ©", "ÐŸÑ€Ð¸Ð²ÐµÑ‚", "æ—¥æœ¬", "ðŸ˜€",
    "The Mona Lisa doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t have eyebrows.", "Ã\xa0 la carte", "sÃ³", "voilÃ  le travail",
    "â€”", "Â£5", "Ã‰COLE",
]

_unusual = [
    "ſ", "ſtraße", "Straße", "STRASSE", "ẞ", "K", "Å", "ǅungla", "ﬀ", "ŉ",
    "\U0001d400\U0001d401", "ℌℑℜ", "ⓐⓑⓒ", "ⒶⒷⒸ", "Ⅻ", "ⅻ", "ℕ", "№", "™", "℃", "ℓ",
    "\u0130", "\u0049\u0307", "ǰ", "ΐ", "ﬀi", "Ⓐ", "\U00010400", "\U0001e900", "ᏸ", "Ᏸ",
]


def _long_texts():
    words = "the quick brown fox jumps over the lazy dog".split()
    out = [
        " ".join(words * 8),
        " ".join(words * 9),
        " ".join(["a"] * 74), " ".join(["a"] * 75), " ".join(["a"] * 76), " ".join(["a"] * 200),
        "word " * 300,
        "x" * 500,
        "a" * 1000,
        "ab" * 700,
        "Supercalifragilisticexpialidocious " * 10,
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "!" * 300,
        "1234567890" * 20,
        "😀" * 100,
        "東京" * 100,
        ("a photo of a cat. " * 20) + "the end",
        "&amp;" * 100,
    ]
    return out


CASES = [
    ("caption", _hand_captions + _template_captions(110)),
    ("contraction", _contractions),
    ("punctuation", _punctuation),
    ("digits", _digits),
    ("html", _html),
    ("accents", _accents),
    ("quotes", _quotes),
    ("ligatures", _ligatures),
    ("fullwidth", _fullwidth),
    ("emoji", _emoji),
    ("cjk", _cjk),
    ("arabic", _arabic),
    ("hebrew", _hebrew),
    ("devanagari", _devanagari),
    ("thai", _thai),
    ("cyrillic", _cyrillic),
    ("greek", _greek),
    ("control", _controls),
    ("whitespace", _whitespace),
    ("special_tokens", _specials),
    ("mojibake", _mojibake),
    ("unusual", _unusual),
    ("long", _long_texts()),
]
