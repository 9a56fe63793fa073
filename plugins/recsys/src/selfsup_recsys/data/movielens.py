"""MovieLens-100K from a local ``ml-100k`` folder (GroupLens; research use only, never shipped).

Files read: ``u.data`` (user, item, rating, timestamp; tab separated), ``u.item`` (``|``
separated, Latin-1: id, title, release date, video release date, URL, 19 genre flags) and
``u.user`` (id, age, gender, occupation, zip). Every rating counts as an implicit interaction.
"""

from __future__ import annotations

import os
import re

import pandas as pd

__all__ = [
    "GENRES", "ITEM_COLUMNS", "ITEM_COLUMNS_EXTENDED", "USER_COLUMNS", "load_movielens_100k",
]  # fmt: skip

GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip

#: Item features: genres (bag), release year (categorical), title words (bag).
ITEM_COLUMNS = {"genres": "bag", "year": "categorical", "title_words": "bag"}
#: ``ITEM_COLUMNS`` plus two derived features: release decade (categorical) and genre pairs (bag,
#: e.g. ``Action+Comedy``). Same information, but CFM (Yao et al. 2021) gets correlated groups to
#: mask together (year <-> decade, genres <-> genre pairs) instead of id paired with one feature.
ITEM_COLUMNS_EXTENDED = {**ITEM_COLUMNS, "decade": "categorical", "genre_pairs": "bag"}
#: User features: age bucket, gender, occupation, zip-code prefix (all categorical).
USER_COLUMNS = {"age": "categorical", "gender": "categorical", "occupation": "categorical",
                "zip": "categorical"}  # fmt: skip

_AGE_BINS = (18, 25, 35, 45, 50, 56)  # the MovieLens-1M age groups
_STOP = {"the", "a", "an", "of", "and", "in", "to", "la", "le", "de", "on", "for", "with"}


def _path(root: str, name: str) -> str:
    full = os.path.join(root, name)
    if not os.path.exists(full):
        raise FileNotFoundError(
            f"MovieLens-100K file {full!r} not found; pass the folder holding u.data, u.item and "
            "u.user (for example /path/to/data/movielens-100k/ml-100k: InteractionDataModule's "
            "data_root=/path/to/data or SELFSUP_DATA=/path/to/data, and path="
            "movielens-100k/ml-100k). The data is not downloaded: get it from grouplens.org "
            "(research use only)."
        )
    return full


def _title_words(title: str) -> str:
    title = re.sub(r"\(\d{4}\)\s*$", "", title or "").lower()
    words = [w for w in re.findall(r"[^\W_]+(?:'[^\W_]+)*", title) if w not in _STOP and len(w) > 1]
    return "|".join(dict.fromkeys(words))


def _genre_pairs(genres: str) -> str:
    names = sorted(g for g in genres.split("|") if g)
    return "|".join(f"{a}+{b}" for i, a in enumerate(names) for b in names[i + 1 :])


def _age_bucket(age: float) -> str:
    return str(sum(age >= b for b in _AGE_BINS))


def load_movielens_100k(root: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(interactions, items, users)`` frames of an ``ml-100k`` folder.

    Returns:
        interactions: columns ``user, item, timestamp`` (raw integer ids);
        items: ``item, genres ("|"-joined), year (str or None), title_words ("|"-joined),
        decade (e.g. ``"1990s"`` or None), genre_pairs ("|"-joined ``A+B``)``;
        users: ``user, age (bucket), gender, occupation, zip (first 2 characters)``.

    Raises:
        FileNotFoundError: a file is missing (the message says where to get the data).
    """
    ratings = pd.read_csv(
        _path(root, "u.data"), sep="\t", header=None, names=["user", "item", "rating", "timestamp"]
    )
    names = ["item", "title", "release", "video", "url", *GENRES]
    raw = pd.read_csv(_path(root, "u.item"), sep="|", header=None, names=names, encoding="latin-1")
    flags = raw[list(GENRES)].to_numpy()
    items = pd.DataFrame(
        {
            "item": raw["item"],
            "genres": ["|".join(g for g, f in zip(GENRES, row, strict=True) if f) for row in flags],
            "year": raw["release"].astype("string").str[-4:].where(raw["release"].notna(), None),
            "title_words": raw["title"].fillna("").map(_title_words),
        }
    )
    items["decade"] = items["year"].str[:3].add("0s").where(items["year"].notna(), None)
    items["genre_pairs"] = items["genres"].map(_genre_pairs)
    users = pd.read_csv(
        _path(root, "u.user"), sep="|", header=None,
        names=["user", "age", "gender", "occupation", "zip"], dtype={"zip": str},
    )  # fmt: skip
    users["age"] = users["age"].map(_age_bucket)
    users["zip"] = users["zip"].str[:2]
    interactions = ratings[["user", "item", "timestamp"]]
    # later errors and warnings name the file a row came from
    for frame, name in ((interactions, "u.data"), (items, "u.item"), (users, "u.user")):
        frame.attrs["source"] = os.path.join(root, name)
    return interactions, items, users
