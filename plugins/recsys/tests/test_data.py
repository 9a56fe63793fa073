"""Interaction cleaning, leave-last-out, feature tables, the MovieLens parser (on a synthetic
folder in its format: the real data never enters the repository)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
import torch

from selfsup_recsys.data import (
    FeatureTable,
    build_retrieval_data,
    clean_interactions,
    leave_last_out,
    load_movielens_100k,
    read_table,
    reduce_training,
)
from selfsup_recsys.data.movielens import GENRES, ITEM_COLUMNS, ITEM_COLUMNS_EXTENDED
from selfsup_recsys.data.synthetic import synthetic_interactions


def _frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])


def test_duplicates_keep_the_earliest_and_missing_columns_raise() -> None:
    df = _frame([(1, 5, 30), (1, 5, 10), (1, 6, 20), (2, 5, None)])
    with pytest.warns(UserWarning, match="1 repeated"):
        out, stats = clean_interactions(df)
    assert out[["user", "item", "time"]].values.tolist() == [[1, 5, 10], [1, 6, 20]]
    assert stats["duplicates"] == 1 and stats["missing_values"] == 1
    with pytest.raises(KeyError, match="not found"):
        clean_interactions(df, user="uid")


def test_leave_last_out_by_time_with_ties_and_short_users() -> None:
    rows = [(1, 10, 5), (1, 11, 1), (1, 12, 3), (1, 13, 3), (2, 20, 1), (2, 21, 2), (3, 30, 1)]
    df, _ = clean_interactions(_frame(rows))
    with pytest.warns(UserWarning, match="2 user"):
        splits = leave_last_out(df)
    assert splits.test[["user", "item"]].values.tolist() == [[1, 10]]
    assert splits.val[["user", "item"]].values.tolist() == [[1, 13]]  # tie at t=3: row order
    assert sorted(splits.train["item"]) == [11, 12, 20, 21, 30]
    with pytest.raises(ValueError, match=">= 3"):
        leave_last_out(df, min_interactions=2)


def test_reduce_training_fraction() -> None:
    train = _frame([(u, u, u) for u in range(1000)])
    kept = reduce_training(train, 0.1, seed=0)
    assert 60 < len(kept) < 140 and reduce_training(train, 1.0) is train
    with pytest.raises(ValueError, match="train_fraction"):
        reduce_training(train, 0.0)


def test_feature_table_encodings_and_unknowns() -> None:
    meta = pd.DataFrame(
        {"item": ["a", "b", "c"], "tags": ["x|y", "", "y"], "kind": ["k1", None, "k1"],
         "price": [1.0, 3.0, "n/a"]}
    )  # fmt: skip
    with pytest.warns(UserWarning, match="1 of 4 entities have no feature row"):
        table = FeatureTable(
            ["a", "b", "c", "d"], meta, "item",
            {"tags": "bag", "kind": "categorical", "price": "numeric"}, id_feature="item_id",
        )  # fmt: skip
    f = table.features
    assert f["item_id"].tolist() == [1, 2, 3, 4]
    assert f["tags"].tolist() == [[0, 1], [-1, -1], [0, -1], [-1, -1]]  # y (2 rows) = 0, x = 1
    assert f["kind"].tolist() == [1, 0, 1, 0]
    torch.testing.assert_close(f["price"], torch.tensor([-1.0, 1.0, 0.0, 0.0]))
    assert [s.cardinality for s in table.specs[:3]] == [5, 2, 2]
    new = table.encode(pd.DataFrame({"item": ["zz"], "tags": ["x|q"], "kind": ["k1"]}), "item")
    assert new["item_id"].tolist() == [0] and new["tags"].tolist() == [[1]]
    with pytest.raises(KeyError, match="unknown id"):
        table.rows(["a", "zz"])
    assert table.rows(["zz", "c"], unknown="skip").tolist() == [-1, 2]
    with pytest.raises(KeyError, match="not found"):
        FeatureTable(["a"], meta, "item", {"color": "categorical"})


def test_build_retrieval_data_history_seen_and_counts() -> None:
    inter, items, users = synthetic_interactions(num_users=12, num_items=10, per_user=5)
    data = build_retrieval_data(
        inter, items, users, item_columns={"genres": "bag", "decade": "categorical",
        "price": "numeric"}, user_columns={"age": "categorical"},
    )  # fmt: skip
    assert len(data.val) == len(data.test) == 12 and len(data.train) == 12 * 3
    u, i = data.test[0].tolist()
    seen = data.seen("test")[0].tolist()
    assert data.val[0, 1].item() in seen and i not in seen and len(seen) == 4
    assert int(data.train_counts.sum()) == len(data.train)
    assert data.item_mi.shape == (4, 4) and float(data.item_mi[0, 1]) > 0
    batch = data.batch(data.train[:4], torch.tensor([0, 1, 2]), data.item_log_prob())
    assert batch["ssl_item"]["genres"].shape[0] == 3 and batch["item_log_prob"].shape == (4,)
    pop = data.popularity("val", ks=(1, 5))
    assert 0.0 <= pop["recall@5"] <= 1.0 and "tail/ndcg@5" in pop


def test_read_table_csv_parquet_and_missing(tmp_path) -> None:
    inter, _, _ = synthetic_interactions(num_users=3, num_items=5, per_user=2)
    inter.to_csv(tmp_path / "x.csv", index=False)
    assert read_table(str(tmp_path / "x.csv")).shape == inter.shape
    with pytest.raises(FileNotFoundError, match="SELFSUP_DATA"):
        read_table(str(tmp_path / "missing.csv"))


def _fake_ml100k(root) -> None:
    """Three synthetic movies and two users written in the ml-100k file formats."""
    (root / "u.data").write_text("1\t1\t5\t100\n1\t2\t3\t200\n2\t3\t4\t50\n")
    flags = ["0"] * len(GENRES)
    rows = []
    for i, (title, date, g) in enumerate(
        [("Caf\xe9 Story (1995)", "01-Jan-1995", (5, 8)), ("The Toy Robot (1995)", "", (1,)),
         ("unknown", "", (0,))], start=1,
    ):  # fmt: skip
        f = list(flags)
        for flag in g:
            f[flag] = "1"
        rows.append("|".join([str(i), title, date, "", "http://x"] + f))
    (root / "u.item").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    (root / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")


def test_movielens_parser_on_a_synthetic_folder(tmp_path) -> None:
    _fake_ml100k(tmp_path)
    inter, items, users = load_movielens_100k(str(tmp_path))
    assert inter.values.tolist() == [[1, 1, 100], [1, 2, 200], [2, 3, 50]]
    assert items["genres"].tolist() == ["Comedy|Drama", "Action", "unknown"]
    assert items["year"].tolist()[0] == "1995" and pd.isna(items["year"].tolist()[1])
    # derived features of ITEM_COLUMNS_EXTENDED: no year -> no decade; one genre -> no pair
    assert items["decade"].tolist()[0] == "1990s" and pd.isna(items["decade"].tolist()[1])
    assert items["genre_pairs"].tolist() == ["Comedy+Drama", "", ""]
    assert set(ITEM_COLUMNS_EXTENDED) - set(ITEM_COLUMNS) == {"decade", "genre_pairs"}
    assert items["title_words"].tolist()[:2] == ["café|story", "toy|robot"]
    assert users["age"].tolist() == ["1", "5"] and users["zip"].tolist() == ["85", "94"]
    with pytest.raises(FileNotFoundError, match="grouplens"):
        load_movielens_100k(str(tmp_path / "nowhere"))


def test_no_warnings_for_clean_synthetic_data() -> None:
    inter, items, users = synthetic_interactions()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean_interactions(inter)
