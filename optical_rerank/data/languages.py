"""Language tables of every upstream source, and the mapping from ISO 639-3 to each source's code.

Every source spells languages its own way: NTREX-128 uses ISO 639-3 with a region or script
suffix (``zho-CN``, ``aze-Latn``), SIB-200/FLORES-200 uses ``<iso639-3>_<Script>`` with
*individual* language codes (``swh_Latn`` for Swahili, ``arb_Arab``), Tatoeba (LASER) uses
individual codes too (``swh``, ``cmn``), CIRAL and XQuAD use ISO 639-1 (``sw``, ``zh``), and AfriQA
uses ISO 639-3 (``swa``).

This module lists **every** language each source has upstream (not only the mirrored ones) and
maps all of them to one *key* per language:

* the key is an ISO 639-3 code; where a source uses an individual-language code of a
  macrolanguage, the macrolanguage code is the key (``swh`` → ``swa``, ``arb``/``ara`` → ``ara``,
  ``cmn`` → ``zho``, ``zsm`` → ``msa``, ``pes`` → ``fas``, ...; see :data:`ALIASES`), and Filipino
  is keyed as Tagalog (``fil`` → ``tgl``);
* where a source has several scripts or regional variants of one language, one is the
  *primary* code (reached through the plain key) and the others get their own key
  ``<key>-<suffix>`` (``zho-Hant`` for SIB-200 ``zho_Hant``, ``zho-TW`` for NTREX ``zho-TW``,
  ``srp-Latn``, ``fra-CA``, ...).

:func:`resolve_language` accepts a key, an alias or any source's own code (``swh_Latn``, ``sw``,
``zho-CN``) and returns the :class:`Language` with the code of each source that has it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import ConfigError

# --------------------------------------------------------------------------- upstream tables
#: NTREX-128 ``LANGUAGES.tsv`` at the pinned commit (code, name). ``gsw-BE`` and ``gsw-ZH`` live in
#: ``NTREX-additional/``, every other code in ``NTREX-128/``; ``eng-*`` are English references.
NTREX_LANGUAGES: tuple[tuple[str, str], ...] = (
    ("afr", "Afrikaans"), ("amh", "Amharic"), ("arb", "Arabic"), ("aze-Latn", "Azerbaijani (Latin)"),
    ("bak", "Bashkir"), ("bel", "Belarusian"), ("bem", "Bemba"), ("ben", "Bengali"),
    ("bod", "Tibetan"), ("bos", "Bosnian"), ("bul", "Bulgarian"), ("cat", "Catalan"), ("ces", "Czech"),
    ("ckb-Arab", "Central Kurdish (Sorani)"), ("cym", "Welsh"), ("dan", "Danish"), ("deu", "German"),
    ("div", "Divehi"), ("dzo", "Dzongkha"), ("ell", "Greek"), ("eng-GB", "English (British)"),
    ("eng-IN", "English (India)"), ("eng-US", "English (US)"), ("est", "Estonian"), ("eus", "Basque"),
    ("ewe", "Ewe"), ("fao", "Faroese"), ("fas", "Persian"), ("fij", "Fijian"), ("fil", "Filipino"),
    ("fin", "Finnish"), ("fra", "French"), ("fra-CA", "French (Canada)"), ("fuc", "Pulaar"),
    ("gle", "Irish"), ("glg", "Galician"), ("guj", "Gujarati"),
    ("gsw-BE", "Swiss German (Bern German)"), ("gsw-ZH", "Swiss German (Zurich German)"),
    ("hau", "Hausa"), ("heb", "Hebrew"), ("hin", "Hindi"), ("hmn", "Hmong"), ("hrv", "Croatian"),
    ("hun", "Hungarian"), ("hye", "Armenian"), ("ibo", "Igbo"), ("ind", "Indonesian"),
    ("isl", "Icelandic"), ("ita", "Italian"), ("jpn", "Japanese"), ("kan", "Kannada"),
    ("kat", "Georgian"), ("kaz", "Kazakh"), ("khm", "Khmer"), ("kin", "Kinyarwanda"),
    ("kir", "Kyrgyz"), ("kmr", "Northern Kurdish (Kurmanji)"), ("kor", "Korean"), ("lao", "Lao"),
    ("lav", "Latvian"), ("lit", "Lithuanian"), ("ltz", "Luxembourgish"), ("mal", "Malayalam"),
    ("mar", "Marathi"), ("mey", "Hassaniyya"), ("mkd", "Macedonian"), ("mlg", "Malagasy"),
    ("mlt", "Maltese"), ("mon", "Mongolian"), ("mri", "Maori"), ("msa", "Malay"), ("mya", "Myanmar"),
    ("nde", "North Ndebele"), ("nep", "Nepali"), ("nld", "Dutch"), ("nno", "Norwegian Nynorsk"),
    ("nob", "Norwegian Bokmål"), ("nso", "Northern Sotho"), ("nya", "Chichewa"), ("orm", "Oromo"),
    ("pan", "Panjabi"), ("pol", "Polish"), ("por", "Portuguese"), ("por-BR", "Portuguese (Brazil)"),
    ("prs", "Dari"), ("pus", "Pushto"), ("ron", "Romanian"), ("rus", "Russian"), ("shi", "Shilha"),
    ("sin", "Sinhala"), ("slk", "Slovak"), ("slv", "Slovenian"), ("smo", "Samoan"),
    ("sna-Latn", "Shona (Latin)"), ("snd-Arab", "Sindhi (Arabic)"), ("som", "Somali"),
    ("spa", "Spanish"), ("spa-MX", "Spanish (Mexico)"), ("sqi", "Albanian"),
    ("srp-Cyrl", "Serbian (Cyrillic)"), ("srp-Latn", "Serbian (Latin)"), ("ssw", "Swati"),
    ("swa", "Swahili"), ("swe", "Swedish"), ("tah", "Tahitian"), ("tam", "Tamil"), ("tat", "Tatar"),
    ("tel", "Telugu"), ("tgk-Cyrl", "Tajik (Cyrillic)"), ("tha", "Thai"), ("tir", "Tigrinya"),
    ("ton", "Tonga (Tonga Islands)"), ("tsn", "Tswana"), ("tuk", "Turkmen"), ("tur", "Turkish"),
    ("uig", "Uighur"), ("ukr", "Ukrainian"), ("urd", "Urdu"), ("uzb", "Uzbek"), ("ven", "Venda"),
    ("vie", "Vietnamese"), ("wol", "Wolof"), ("xho", "Xhosa"), ("yor", "Yoruba"), ("yue", "Cantonese"),
    ("zho-CN", "Chinese (Simplified)"), ("zho-TW", "Chinese (Traditional)"), ("zul", "Zulu"),
)
#: NTREX codes whose file is under ``NTREX-additional/`` rather than ``NTREX-128/``.
NTREX_ADDITIONAL = frozenset({"gsw-BE", "gsw-ZH"})

#: SIB-200 ``data/annotated/<code>/`` directories (the 204 FLORES-200 languages plus N'Ko).
SIB200_LANGUAGES: tuple[str, ...] = tuple("""
ace_Arab ace_Latn acm_Arab acq_Arab aeb_Arab afr_Latn ajp_Arab aka_Latn als_Latn amh_Ethi apc_Arab
arb_Arab arb_Latn ars_Arab ary_Arab arz_Arab asm_Beng ast_Latn awa_Deva ayr_Latn azb_Arab azj_Latn
bak_Cyrl bam_Latn ban_Latn bel_Cyrl bem_Latn ben_Beng bho_Deva bjn_Arab bjn_Latn bod_Tibt bos_Latn
bug_Latn bul_Cyrl cat_Latn ceb_Latn ces_Latn cjk_Latn ckb_Arab crh_Latn cym_Latn dan_Latn deu_Latn
dik_Latn dyu_Latn dzo_Tibt ell_Grek eng_Latn epo_Latn est_Latn eus_Latn ewe_Latn fao_Latn fij_Latn
fin_Latn fon_Latn fra_Latn fur_Latn fuv_Latn gaz_Latn gla_Latn gle_Latn glg_Latn grn_Latn guj_Gujr
hat_Latn hau_Latn heb_Hebr hin_Deva hne_Deva hrv_Latn hun_Latn hye_Armn ibo_Latn ilo_Latn ind_Latn
isl_Latn ita_Latn jav_Latn jpn_Jpan kab_Latn kac_Latn kam_Latn kan_Knda kas_Arab kas_Deva kat_Geor
kaz_Cyrl kbp_Latn kea_Latn khk_Cyrl khm_Khmr kik_Latn kin_Latn kir_Cyrl kmb_Latn kmr_Latn knc_Arab
knc_Latn kon_Latn kor_Hang lao_Laoo lij_Latn lim_Latn lin_Latn lit_Latn lmo_Latn ltg_Latn ltz_Latn
lua_Latn lug_Latn luo_Latn lus_Latn lvs_Latn mag_Deva mai_Deva mal_Mlym mar_Deva min_Arab min_Latn
mkd_Cyrl mlt_Latn mni_Beng mos_Latn mri_Latn mya_Mymr nld_Latn nno_Latn nob_Latn npi_Deva nqo_Nkoo
nso_Latn nus_Latn nya_Latn oci_Latn ory_Orya pag_Latn pan_Guru pap_Latn pbt_Arab pes_Arab plt_Latn
pol_Latn por_Latn prs_Arab quy_Latn ron_Latn run_Latn rus_Cyrl sag_Latn san_Deva sat_Olck scn_Latn
shn_Mymr sin_Sinh slk_Latn slv_Latn smo_Latn sna_Latn snd_Arab som_Latn sot_Latn spa_Latn srd_Latn
srp_Cyrl ssw_Latn sun_Latn swe_Latn swh_Latn szl_Latn tam_Taml taq_Latn taq_Tfng tat_Cyrl tel_Telu
tgk_Cyrl tgl_Latn tha_Thai tir_Ethi tpi_Latn tsn_Latn tso_Latn tuk_Latn tum_Latn tur_Latn twi_Latn
tzm_Tfng uig_Arab ukr_Cyrl umb_Latn urd_Arab uzn_Latn vec_Latn vie_Latn war_Latn wol_Latn xho_Latn
ydd_Hebr yor_Latn yue_Hant zho_Hans zho_Hant zsm_Latn zul_Latn
""".split())

#: LASER Tatoeba v1 test sets: ``data/tatoeba/v1/tatoeba.<code>-eng.{<code>,eng}``.
TATOEBA_LANGUAGES: tuple[str, ...] = tuple("""
afr amh ang ara arq arz ast awa aze bel ben ber bos bre bul cat cbk ceb ces cha cmn cor csb cym dan
deu dsb dtp ell epo est eus fao fin fra fry gla gle glg gsw heb hin hrv hsb hun hye ido ile ina ind
isl ita jav jpn kab kat kaz khm kor kur kzj lat lfn lit lvs mal mar max mhr mkd mon nds nld nno nob
nov oci orv pam pes pms pol por ron rus slk slv spa sqi srp swe swg swh tam tat tel tgl tha tuk tur
tzl uig ukr urd uzb vie war wuu xho yid yue zsm
""".split())

#: AfriQA languages: code -> (name, pivot language of the translations and gold passages).
AFRIQA_LANGUAGES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "bem": ("Bemba", "en"), "fon": ("Fon", "fr"), "hau": ("Hausa", "en"), "ibo": ("Igbo", "en"),
    "kin": ("Kinyarwanda", "en"), "swa": ("Swahili", "en"), "twi": ("Twi", "en"),
    "wol": ("Wolof", "fr"), "yor": ("Yorùbá", "en"), "zul": ("Zulu", "en"),
})

#: CIRAL languages (ISO 639-1 as in the anserini-tools file names).
CIRAL_LANGUAGES: tuple[str, ...] = ("ha", "so", "sw", "yo")

#: XQuAD (``deepmind/xquad``) and XQuAD-R (``google-research-datasets/lareqa``) languages.
XQUAD_LANGUAGES: tuple[str, ...] = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
XQUAD_R_LANGUAGES: tuple[str, ...] = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")

# --------------------------------------------------------------------------- key normalisation
#: Individual-language (or alternative) codes -> the key used for the language.
ALIASES: Mapping[str, str] = MappingProxyType({
    "swh": "swa", "arb": "ara", "cmn": "zho", "zsm": "msa", "pes": "fas", "lvs": "lav",
    "khk": "mon", "npi": "nep", "uzn": "uzb", "plt": "mlg", "gaz": "orm", "pbt": "pus",
    "azj": "aze", "als": "sqi", "ydd": "yid", "fil": "tgl", "ekk": "est", "kur": "kmr",
    # ISO 639-2/B spellings people still type
    "ger": "deu", "fre": "fra", "rum": "ron", "chi": "zho", "gre": "ell", "per": "fas",
    "dut": "nld", "alb": "sqi", "arm": "hye", "geo": "kat", "mac": "mkd", "may": "msa",
    "bur": "mya", "baq": "eus", "cze": "ces", "slo": "slk", "wel": "cym", "ice": "isl", "tib": "bod",
})
#: ISO 639-1 codes used by the sources (and a few common ones) -> key.
ISO639_1: Mapping[str, str] = MappingProxyType({
    "ar": "ara", "de": "deu", "el": "ell", "en": "eng", "es": "spa", "hi": "hin", "ro": "ron",
    "ru": "rus", "th": "tha", "tr": "tur", "vi": "vie", "zh": "zho", "ha": "hau", "so": "som",
    "sw": "swa", "yo": "yor", "ig": "ibo", "zu": "zul", "rw": "kin", "wo": "wol", "tw": "twi",
    "fr": "fra", "pt": "por", "it": "ita", "nl": "nld", "ja": "jpn", "ko": "kor", "am": "amh",
    "xh": "xho", "bn": "ben", "te": "tel", "tl": "tgl", "fa": "fas", "id": "ind", "ur": "urd",
    "da": "dan", "fi": "fin", "hu": "hun", "no": "nor", "pl": "pol", "sv": "swe", "uk": "ukr",
    "he": "heb", "cs": "ces", "ee": "ewe", "ln": "lin", "lg": "lug", "om": "orm", "ti": "tir",
    "st": "sot", "tn": "tsn", "sn": "sna", "ny": "nya", "mg": "mlg", "ne": "nep", "mr": "mar",
    "ta": "tam", "ml": "mal", "kn": "kan", "gu": "guj", "pa": "pan", "ms": "msa", "my": "mya",
    "km": "khm", "lo": "lao", "ka": "kat", "hy": "hye", "sk": "slk", "bg": "bul", "hr": "hrv",
    "sr": "srp", "sl": "slv", "lt": "lit", "lv": "lav", "et": "est", "ca": "cat", "eu": "eus",
    "gl": "glg", "af": "afr", "is": "isl", "ga": "gle", "cy": "cym", "kk": "kaz", "uz": "uzb",
    "az": "aze", "mn": "mon", "ps": "pus", "ku": "kur", "si": "sin",
})
#: Individual languages whose ISO 639-1 code is their macrolanguage's (Norwegian ``no``).
_ISO1_VIA_MACROLANGUAGE: Mapping[str, str] = MappingProxyType({"nob": "no", "nno": "no"})

#: Where one source has several codes for one key, the code reached by the plain key.
_PRIMARY: Mapping[tuple[str, str], str] = MappingProxyType({
    ("ntrex", "zho"): "zho-CN", ("ntrex", "srp"): "srp-Cyrl", ("ntrex", "gsw"): "gsw-ZH",
    ("ntrex", "eng"): "eng-US",
    ("sib200", "ace"): "ace_Latn", ("sib200", "ara"): "arb_Arab", ("sib200", "bjn"): "bjn_Latn",
    ("sib200", "kas"): "kas_Arab", ("sib200", "knc"): "knc_Latn", ("sib200", "min"): "min_Latn",
    ("sib200", "taq"): "taq_Latn", ("sib200", "zho"): "zho_Hans",
})

SOURCES_WITH_LANGUAGES = ("afriqa", "ciral", "ntrex", "sib200", "tatoeba", "xquad", "xquad-r")


def _base_key(code: str) -> str:
    """The language key of a bare code (no script/region suffix)."""
    c = code.strip().lower()
    c = ISO639_1.get(c, c)
    return ALIASES.get(c, c)


def iso639_1(code: str) -> str | None:
    """The ISO 639-1 code of a language given in any spelling (``swh_Latn``, ``swa``, ``sw`` -> ``sw``).

    Works on the code alone (the language need not be in any source); ``None`` when the language
    has no ISO 639-1 code known here. A script or region suffix is ignored.
    """
    c = (code or "").strip().lower()
    if c in ISO639_1:
        return c
    key = _base_key(_split(c)[0])
    return _ISO1_OF_KEY.get(key) or _ISO1_VIA_MACROLANGUAGE.get(key)


def _split(code: str) -> tuple[str, str | None]:
    for sep in ("_", "-"):
        if sep in code:
            base, suffix = code.split(sep, 1)
            return base, suffix
    return code, None


_ISO1_OF_KEY: dict[str, str] = {}
for _iso1, _key in ISO639_1.items():
    _ISO1_OF_KEY.setdefault(_base_key(_key), _iso1)


def upstream_codes() -> dict[str, list[str]]:
    """``{source: [its own language codes, in upstream order]}`` for the language-bearing sources."""
    return {
        "afriqa": list(AFRIQA_LANGUAGES),
        "ciral": list(CIRAL_LANGUAGES),
        "ntrex": [c for c, _ in NTREX_LANGUAGES],
        "sib200": list(SIB200_LANGUAGES),
        "tatoeba": list(TATOEBA_LANGUAGES),
        "xquad": list(XQUAD_LANGUAGES),
        "xquad-r": list(XQUAD_R_LANGUAGES),
    }


def _build_keys() -> dict[str, dict[str, str]]:
    """``{key: {source: code}}`` for every code of every source (see the module docstring)."""
    table: dict[str, dict[str, str]] = {}
    for source, codes in upstream_codes().items():
        by_base: dict[str, list[str]] = {}
        for code in codes:
            base, _ = _split(code)
            by_base.setdefault(_base_key(base), []).append(code)
        for key, group in by_base.items():
            if len(group) == 1:
                primary = group[0]
            else:
                bare = [c for c in group if _split(c)[1] is None]
                primary = bare[0] if bare else _PRIMARY.get((source, key))
                if primary is None:  # a new upstream variant set: fail loudly while developing
                    raise AssertionError(f"no primary code for {source} {key}: {group}")
            for code in group:
                suffix = _split(code)[1]
                k = key if code == primary else f"{key}-{suffix}"
                if source in table.setdefault(k, {}):
                    raise AssertionError(f"two {source} codes for key {k}: {table[k][source]}, {code}")
                table[k][source] = code
    return table


@dataclass(frozen=True)
class Language:
    """One language and its code in each source that has it.

    Parameters
    ----------
    key : the toolkit's code (ISO 639-3, macrolanguage where a source uses an individual code;
        ``<key>-<suffix>`` for a secondary script or regional variant).
    name : English name where known (from NTREX-128 or AfriQA), else ``None``.
    codes : ``{source: code}`` for the sources that have the language upstream.
    """

    key: str
    name: str | None
    codes: Mapping[str, str] = field(default_factory=dict)

    def code(self, source: str) -> str | None:
        """The language's code in ``source``, or ``None`` when the source does not have it."""
        return self.codes.get(source)


def _build_languages() -> dict[str, Language]:
    ntrex_names = dict(NTREX_LANGUAGES)
    out = {}
    for key, codes in sorted(_build_keys().items()):
        if key == "eng":
            name = "English"
        elif "ntrex" in codes:
            name = ntrex_names[codes["ntrex"]]
        elif "afriqa" in codes:
            name = AFRIQA_LANGUAGES[codes["afriqa"]][0]
        else:
            name = None
        out[key] = Language(key, name, MappingProxyType(dict(sorted(codes.items()))))
    return out


#: Every language of every source, by key.
LANGUAGES: Mapping[str, Language] = MappingProxyType(_build_languages())

_LOOKUP: dict[str, str] = {}
for _lang in LANGUAGES.values():
    _LOOKUP[_lang.key.lower()] = _lang.key
for _lang in LANGUAGES.values():
    for _code in _lang.codes.values():
        _LOOKUP.setdefault(_code.lower(), _lang.key)


def resolve_language(code: str) -> Language:
    """The :class:`Language` for a key, alias or source-specific code.

    Accepts ``hau``, ``swa``/``swh``/``swh_Latn``/``sw``, ``zho``/``zh``/``cmn``/``zho-CN``,
    ``zho_Hant`` (a variant key), ... case-insensitively.

    Raises
    ------
    ConfigError
        When no source has the language; the message lists close matches.
    """
    raw = (code or "").strip()
    if not raw:
        raise ConfigError("empty language code")
    low = raw.lower()
    key = _LOOKUP.get(low)
    if key is None:
        base, suffix = _split(low)
        bk = _base_key(base)
        key = _LOOKUP.get(bk if suffix is None else f"{bk}-{suffix}".lower())
        if key is None and suffix is None:
            key = _LOOKUP.get(bk)
    if key is None:
        near = sorted(k for k in LANGUAGES if k.startswith(low[:2]))[:12]
        hint = f"; similar codes: {', '.join(near)}" if near else ""
        raise ConfigError(f"unknown language {raw!r}: no source (AfriQA, CIRAL, NTREX-128, SIB-200, "
                          f"Tatoeba, XQuAD) has it; use an ISO 639-3 code{hint}")
    return LANGUAGES[key]


def languages_of(source: str) -> list[Language]:
    """All languages ``source`` has upstream, sorted by key."""
    if source not in SOURCES_WITH_LANGUAGES:
        raise ConfigError(f"unknown source {source!r}; choose from {', '.join(SOURCES_WITH_LANGUAGES)}")
    return [lang for lang in LANGUAGES.values() if source in lang.codes]


def source_language_codes(source: str, requested: Iterable[str] | None) -> list[str]:
    """Map requested language codes (any spelling) to ``source``'s own codes, in order.

    ``None`` or ``["all"]`` means every language the source has upstream. A language the source
    does not have is a :class:`ConfigError` naming it.
    """
    all_codes = upstream_codes()[source] if source in SOURCES_WITH_LANGUAGES else None
    if all_codes is None:
        raise ConfigError(f"unknown source {source!r}")
    if requested is None or list(requested) == ["all"]:
        return list(all_codes)
    out: list[str] = []
    for item in requested:
        if item in all_codes:  # exact source code always wins
            code = item
        else:
            lang = resolve_language(item)
            code = lang.code(source)
            if code is None:
                raise ConfigError(f"{source} has no {item!r} ({lang.name or lang.key}); it has: "
                                  f"{', '.join(all_codes)}")
        if code not in out:
            out.append(code)
    return out


def pick_languages(requested: Iterable[str] | None, codes: Sequence[str], source: str, label: str) -> list[str]:
    """The ``requested`` languages (any spelling) as ``source`` codes among ``codes``, in order, once each.

    ``None`` means all ``codes``. A language outside ``codes`` is a :class:`ConfigError`
    (``"<label> has no language 'x'; it has ..."``).
    """
    if requested is None:
        return list(codes)
    out: list[str] = []
    for item in requested:
        code = item if item in codes else resolve_language(item).code(source)
        if code is None or code not in codes:
            raise ConfigError(f"{label} has no language {item!r}; it has {', '.join(codes)}")
        if code not in out:
            out.append(code)
    return out
