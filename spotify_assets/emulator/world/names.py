"""Vocabulary the catalogue draws names from: word lists per culture (English, accented,
"&" band names, Japanese, Cyrillic), genres and their MusicBrainz parents, extra tags, ISRC
countries, label words, and the podcast shows.

The name generators that combine these words (`_artist_name`, `_title`, `_album_name`) are
methods of the catalogue builder (catalog_base.py, catalog_releases.py), as they draw from its
random generator.
"""

from __future__ import annotations

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


EN_ADJ = _words(
    "Velvet Silver Neon Quiet Golden Electric Paper Hollow Crimson Wild Lonely Broken "
    "Distant Summer Winter Midnight Faded Bright Lucky Empty Northern Southern Secret "
    "Gentle Restless Burning Frozen Little Savage Sweet"
)
EN_NOUN = _words(
    "Harbor Light Echo River Garden Mirror Signal Fever Parade Ocean Satellite Horizon "
    "Canyon Machine Window Heart Shadow Season Highway Letter Thunder Diamond Valley "
    "Station Wolf Feather Engine Island Comet Ghost"
)
EN_VERB = _words("Hold Call Chase Keep Leave Find Break Follow Wake Save Burn Trust Miss Dance Run")
FIRST = _words(
    "Maya Elliot Jonah Clara Nina Oscar Ruby Theo Iris Felix Hazel Leo Mara Isaac June "
    "Silas Ada Milo Vera Arlo"
)
LAST = _words(
    "Hart Quinn Rowe Sutton Vale Marsh Keller Brooks Lane Frost Carver Monroe Pryce Wilde "
    "Ashby Finch Mercer Holloway Stone Reyes"
)
ACC_FIRST = _words(
    "Renée Zoë José Björn Anaïs Chloé Søren Héloïse Raphaël Inés Mónica François Jürgen "
    "Noémie Dolorès Ångela"
)
ACC_LAST = _words(
    "Lavoie Brandt Ortíz Sundqvist Moreau Dvořák Müller Núñez Løvland Göransson Baptiste "
    "Côté Šimek Østergaard Peña"
)
ACC_SOLO = _words("Solène Amélie Noé Zoé Belén Océane Mathéo Léonie Aurélie Inès")
ACC_WORDS = _words("Café Déjà Señorita Fiancée Rosé Naïve Crème Éclat Sérénade Mañana")
JA_FAMILY = _words("星野 宮本 小林 高橋 中村 松本 山田 佐藤 鈴木 渡辺")
JA_GIVEN = _words("ゆかり リョウ ミナミ ハルカ ケンジ アオイ サキ ユウト ヒカリ レン")
JA_WORD = _words("夜明け 雨 東京 星 夏 風 海 月 花火 約束 桜 夢 銀河 青空")
JA_BAND = _words("パレード クラブ ドライブ ノート バンド オーケストラ")
RU_FIRST_F = _words("Мария Алиса Ольга Дарья Вера")
RU_LAST_F = _words("Соколова Морозова Громова Ветрова Лебедева")
RU_FIRST_M = _words("Иван Дмитрий Пётр Артём Фёдор")
RU_LAST_M = _words("Соколов Морозов Громов Ветров Лебедев")
RU_ADJ = _words("Белая Тихая Последняя Летняя Холодная Ночная Золотая Звёздная")
RU_NOUN = _words("ночь звезда весна дорога река песня зима осень")
RU_BAND = ("Северный Ветер", "Белые Ночи", "Полярный Экспресс", "Гроза", "Звёздный Путь")

CULTURES = ("en", "acc", "amp", "ja", "ru")
CULTURE_WEIGHTS = (50, 15, 10, 13, 12)
GENRES: dict[str, tuple[str, ...]] = {
    "en": (
        "indie rock",
        "dream pop",
        "synthpop",
        "alt country",
        "neo soul",
        "post-punk",
        "shoegaze",
        "hip hop",
        "house",
        "folk",
        "singer-songwriter",
        "jazz",
    ),
    "acc": ("chanson", "french pop", "nordic folk", "electropop", "flamenco pop", "jazz"),
    "amp": ("indie rock", "folk", "alt country", "soul", "britpop"),
    "ja": ("j-pop", "city pop", "j-rock", "anime", "shibuya-kei"),
    "ru": ("russian rock", "russian post-punk", "russian indie", "estrada"),
}
# MusicBrainz genre parents, so MB genres are a little broader than Spotify's.
PARENT_GENRE = {
    "indie rock": "rock",
    "dream pop": "pop",
    "synthpop": "electronic",
    "alt country": "country",
    "neo soul": "soul",
    "post-punk": "rock",
    "shoegaze": "rock",
    "hip hop": "hip hop",
    "house": "electronic",
    "folk": "folk",
    "singer-songwriter": "folk",
    "jazz": "jazz",
    "chanson": "chanson",
    "french pop": "pop",
    "nordic folk": "folk",
    "electropop": "electronic",
    "flamenco pop": "pop",
    "soul": "soul",
    "britpop": "rock",
    "j-pop": "pop",
    "city pop": "pop",
    "j-rock": "rock",
    "anime": "pop",
    "shibuya-kei": "pop",
    "russian rock": "rock",
    "russian post-punk": "rock",
    "russian indie": "rock",
    "estrada": "pop",
}
EXTRA_TAGS = ("female vocalists", "male vocalists", "90s", "2010s", "live", "instrumental")
ISRC_COUNTRIES = {
    "en": ("US", "GB", "CA", "AU", "SE"),
    "acc": ("FR", "DE", "ES", "SE", "DK", "NO"),
    "amp": ("US", "GB", "IE"),
    "ja": ("JP",),
    "ru": ("RU",),
}
MB_COUNTRY = {"en": "US", "acc": "FR", "amp": "GB", "ja": "JP", "ru": "RU"}
LABEL_WORDS = ("Records", "Recordings", "Sound", "Music", "Tone", "Audio")

SHOWS: tuple[tuple[str, str, int, int, int], ...] = (
    # name, culture, episode count, min minutes, max minutes
    ("The Long Listen", "en", 30, 35, 60),
    ("Deep Dive Daily", "en", 40, 20, 35),
    ("Tech Talk Tonight", "en", 25, 40, 60),
    ("Histoire & Café", "acc", 20, 25, 50),
    ("東京ポッドキャスト", "ja", 24, 20, 45),
    ("Morning Brief", "en", 60, 8, 15),
    ("Разговоры о музыке", "ru", 18, 30, 55),
    ("The Slow Garden", "en", 22, 25, 45),
)
