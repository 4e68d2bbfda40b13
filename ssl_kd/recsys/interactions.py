"""User–item interaction files, implicit feedback and the per-user train / validation / test split.

Layouts read (docs/methods/htd.md, 'Data'):

- GroupLens ``u.data`` (MovieLens-100K): ``user<TAB>item<TAB>rating<TAB>timestamp`` per line, no header; also the
  ``user::item::rating::timestamp`` lines of MovieLens-1M's ``ratings.dat`` (the separator is read from the first
  line). A folder root is searched for ``u.data``, then ``ratings.dat``.
- RecBole atomic ``.inter`` files: tab-separated with a header of ``name:type`` columns, e.g.
  ``user_id:token<TAB>item_id:token<TAB>rating:float<TAB>timestamp:float``; the user, item and (optional) rating
  columns are found by their names ``user_id``, ``item_id``, ``rating``. A folder root must hold one ``.inter`` file.
- ``ml100k``: RecBole's bundled copy of MovieLens-100K (``recbole/dataset_example/ml-100k/ml-100k.inter``), located
  through the installed package's files without importing RecBole.

Implicit feedback: every interaction counts (or, with ``min_rating``, those rated at least that); repeated
(user, item) pairs count once. User and item ids are the sorted raw tokens (numerically when all are integers).

Split (seeded, per user): each user's interactions are shuffled with ``split_seed``; round(test_fraction · n) of
them (at least 1) go to test, round(valid_fraction · n) (at least 1) to validation, the rest (at least 1) to
training. Users with fewer than ``min_user_interactions`` interactions keep all of them in training and are not
evaluated; they are counted in ``RecSplits.train_only_users``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ssl_kd.errors import DataError

RECBOLE_ML100K = Path("dataset_example") / "ml-100k" / "ml-100k.inter"
UDATA_NAMES = ("u.data", "ratings.dat")


@dataclass(frozen=True)
class RawInteractions:
    """Interactions as read: raw user and item tokens, and ratings (NaN where the file has none)."""

    source: Path
    users: list[str]
    items: list[str]
    ratings: Tensor


@dataclass(frozen=True)
class SplitOptions:
    """How raw interactions become an implicit-feedback split (the data config's fields of the same names)."""

    min_rating: float | None = None
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    min_user_interactions: int = 3


@dataclass
class RecSplits:
    """Id-mapped interactions: ``train`` / ``valid`` / ``test`` are (n, 2) int64 rows ``(user, item)``.

    ``users[u]`` / ``items[i]`` are the raw tokens of ids u / i. ``train_only_users`` counts the users kept wholly in
    training (too few interactions to hold some out); ``duplicates`` the repeated (user, item) rows merged;
    ``below_min_rating`` the rows left out by ``min_rating``.
    """

    name: str
    users: list[str]
    items: list[str]
    train: Tensor
    valid: Tensor
    test: Tensor
    train_only_users: int = 0
    duplicates: int = 0
    below_min_rating: int = 0

    @property
    def num_users(self) -> int:
        return len(self.users)

    @property
    def num_items(self) -> int:
        return len(self.items)


def _read_text(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"interaction file not found: {path}")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error})") from None


def _rating(path: Path, number: int, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{path}:{number}: rating {text!r} is not a number") from None


def read_udata(path: Path) -> RawInteractions:
    """A GroupLens ``user item rating timestamp`` file (tab- or ``::``-separated, no header).

    Raises:
        DataError: missing file, or a line without exactly 4 fields, an empty id or a non-numeric rating (the
            message names the file and the 1-based line number).
    """
    path = Path(path)
    lines = _read_text(path)
    first = next((line for line in lines if line.strip()), "")
    separator = "::" if "::" in first else "\t"
    users, items, ratings = [], [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [part.strip() for part in line.split(separator)]
        if len(fields) != 4:
            shown = "tab" if separator == "\t" else "'::'"
            raise DataError(
                f"{path}:{number}: expected 4 {shown}-separated fields (user, item, rating, timestamp), "
                f"got {len(fields)}"
            )
        if not fields[0] or not fields[1]:
            raise DataError(f"{path}:{number}: empty {'user' if not fields[0] else 'item'} field")
        users.append(fields[0])
        items.append(fields[1])
        ratings.append(_rating(path, number, fields[2]))
    return RawInteractions(path, users, items, torch.tensor(ratings, dtype=torch.float64))


def read_inter(path: Path) -> RawInteractions:
    """A RecBole atomic ``.inter`` file: a ``name:type`` header naming ``user_id``, ``item_id`` (and ``rating``).

    Raises:
        DataError: missing file, a header without ``user_id`` / ``item_id``, or a line whose field count differs
            from the header's, with an empty id or a non-numeric rating (file and line named).
    """
    path = Path(path)
    lines = _read_text(path)
    if not lines or not lines[0].strip():
        raise DataError(f"{path}:1: expected a header such as 'user_id:token<TAB>item_id:token<TAB>rating:float'")
    names = [column.split(":", 1)[0].strip() for column in lines[0].split("\t")]
    missing = [name for name in ("user_id", "item_id") if name not in names]
    if missing:
        raise DataError(f"{path}:1: the header has no {' or '.join(missing)} column (columns: {', '.join(names)})")
    user_col, item_col = names.index("user_id"), names.index("item_id")
    rating_col = names.index("rating") if "rating" in names else None
    users, items, ratings = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = [part.strip() for part in line.split("\t")]
        if len(fields) != len(names):
            raise DataError(
                f"{path}:{number}: expected {len(names)} tab-separated fields as in the header, got {len(fields)}"
            )
        if not fields[user_col] or not fields[item_col]:
            raise DataError(f"{path}:{number}: empty {'user_id' if not fields[user_col] else 'item_id'} field")
        users.append(fields[user_col])
        items.append(fields[item_col])
        ratings.append(float("nan") if rating_col is None else _rating(path, number, fields[rating_col]))
    return RawInteractions(path, users, items, torch.tensor(ratings, dtype=torch.float64))


def _in_folder(root: Path, names: tuple[str, ...], what: str) -> Path:
    if root.is_file():
        return root
    if not root.exists():
        raise DataError(f"{what} path not found: {root}")
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root} holds no {what} file (looked for {', '.join(names)})")


def udata_file(root: Path) -> Path:
    """``root`` itself if it is a file, else its ``u.data`` or ``ratings.dat``."""
    return _in_folder(Path(root), UDATA_NAMES, "u.data")


def inter_file(root: Path) -> Path:
    """``root`` itself if it is a file, else the one ``*.inter`` file in the folder."""
    root = Path(root)
    if root.is_dir():
        found = sorted(root.glob("*.inter"))
        if len(found) != 1:
            listing = ", ".join(p.name for p in found) or "none"
            raise DataError(f"{root} must hold exactly one .inter file (found: {listing}); give the file as root")
        return found[0]
    return _in_folder(root, (), ".inter")


def bundled_ml100k() -> Path:
    """RecBole's bundled ``ml-100k.inter``, found through the installed package's files (RecBole is not imported)."""
    spec = importlib.util.find_spec("recbole")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / RECBOLE_ML100K
        if path.is_file():
            return path
    raise DataError(
        "dataset 'ml100k' reads MovieLens-100K from RecBole's package files, but RecBole is not installed "
        "(pip install --no-deps recbole); or give the GroupLens folder: data.name=movielens_udata data.root=PATH"
    )


def _token_order(token: str) -> tuple[int, int | str]:
    return (0, int(token)) if token.isdigit() else (1, token)


def _vocabulary(tokens: list[str]) -> tuple[list[str], Tensor]:
    labels = sorted(set(tokens), key=_token_order)
    index = {label: i for i, label in enumerate(labels)}
    return labels, torch.tensor([index[token] for token in tokens], dtype=torch.int64)


def split_interactions(name: str, raw: RawInteractions, options: SplitOptions) -> RecSplits:
    """Implicit feedback and the seeded per-user split of ``raw`` (see the module docstring)."""
    keep = torch.ones(len(raw.users), dtype=torch.bool)
    if options.min_rating is not None:
        if torch.isnan(raw.ratings).any():
            raise DataError(f"{raw.source}: data.min_rating is set but the file has no rating column")
        keep = raw.ratings >= options.min_rating
    kept = keep.nonzero().squeeze(1).tolist()
    if not kept:
        raise DataError(f"{raw.source}: no interactions left (min_rating {options.min_rating})")
    users, user_ids = _vocabulary([raw.users[i] for i in kept])
    items, item_ids = _vocabulary([raw.items[i] for i in kept])
    pairs = torch.unique(user_ids * len(items) + item_ids)  # sorted, so the split does not depend on file order
    user, item = pairs // len(items), pairs % len(items)

    generator = torch.Generator().manual_seed(options.split_seed)
    shuffled = torch.randperm(len(pairs), generator=generator)
    order = shuffled[torch.argsort(user[shuffled], stable=True)]  # grouped by user, random within each user
    user, item = user[order], item[order]
    counts = torch.bincount(user, minlength=len(users))
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(user)) - first[user]
    size = counts[user]
    evaluated = size >= options.min_user_interactions
    n_test = torch.clamp(torch.floor(options.test_fraction * size + 0.5), min=1).long() * evaluated
    n_valid = torch.clamp(torch.floor(options.valid_fraction * size + 0.5), min=1).long() * evaluated
    n_test = torch.minimum(n_test, size - 1)
    n_valid = torch.minimum(n_valid, (size - n_test - 1).clamp(min=0))  # at least one training interaction
    is_test = rank < n_test
    is_valid = ~is_test & (rank < n_test + n_valid)
    is_train = ~is_test & ~is_valid
    rows = torch.stack([user, item], dim=1)
    return RecSplits(
        name=name,
        users=users,
        items=items,
        train=rows[is_train],
        valid=rows[is_valid],
        test=rows[is_test],
        train_only_users=int(((counts > 0) & (counts < options.min_user_interactions)).sum()),
        duplicates=len(kept) - len(pairs),
        below_min_rating=len(raw.users) - len(kept),
    )
