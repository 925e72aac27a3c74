"""Safe tar extraction: good archives extract, malicious members are refused before any write."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dlrun.data.archives import safe_extract, unsafe_reason
from dlrun.errors import DlrunError
from text_corpus import make_tar


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _tar_with(path: Path, *members: tarfile.TarInfo, contents: dict[str, bytes] | None = None) -> Path:
    """A .tar.gz with a harmless file first, then `members` (links, devices, odd names)."""
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("data/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        for member in members:
            data = (contents or {}).get(member.name)
            if data is not None:
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def test_extracts_plain_files_and_reports_top_level_entries(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", {"aclImdb/train/pos/0_9.txt": b"fine", "aclImdb/README": b"readme"})
    target = tmp_path / "out"
    created = safe_extract(archive, target)
    assert created == [target / "aclImdb"]
    assert (target / "aclImdb/train/pos/0_9.txt").read_bytes() == b"fine"
    assert _tree(target) == {"aclImdb", "aclImdb/README", "aclImdb/train", "aclImdb/train/pos", "aclImdb/train/pos/0_9.txt"}


def test_extraction_replaces_an_incomplete_previous_copy(tmp_path: Path) -> None:
    target = tmp_path / "out"
    (target / "aclImdb" / "stale").mkdir(parents=True)
    safe_extract(make_tar(tmp_path / "a.tar.gz", {"aclImdb/new.txt": b"x"}), target)
    assert _tree(target) == {"aclImdb", "aclImdb/new.txt"}


def _symlink(name: str, to: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, to
    return info


def _special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


def _hardlink(name: str, to: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, to
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (tarfile.TarInfo("../escape.txt"), "leaves the target directory"),
        (tarfile.TarInfo("data/../../escape.txt"), "leaves the target directory"),
        (_symlink("data/link", "../../outside"), "symbolic link"),
        (_symlink("data/passwd", "/etc/passwd"), "symbolic link"),
        (_hardlink("data/hard", "data/ok.txt"), "hard link"),
        (_special("data/dev", tarfile.CHRTYPE), "device file"),
        (_special("data/blk", tarfile.BLKTYPE), "device file"),
        (_special("data/fifo", tarfile.FIFOTYPE), "fifo"),
    ],
)
@pytest.mark.fault('tar member escaping the target dir, absolute, link or device', 'refused before anything is written')
def test_malicious_member_is_refused_and_nothing_is_written(tmp_path: Path, member: tarfile.TarInfo, reason: str) -> None:
    contents = {member.name: b"evil"} if member.type == tarfile.REGTYPE else None
    archive = _tar_with(tmp_path / "evil.tar.gz", member, contents=contents)
    sandbox = tmp_path / "sandbox"
    target = sandbox / "target"
    target.mkdir(parents=True)
    before = _tree(tmp_path)
    with pytest.raises(DlrunError) as err:
        safe_extract(archive, target)
    message = str(err.value)
    assert reason in message and member.name in message and "\n" not in message
    assert _tree(tmp_path) == before  # not even the harmless first member, nothing outside the target


def test_absolute_member_is_refused(tmp_path: Path) -> None:
    escape = tmp_path / "absolute_escape.txt"
    archive = _tar_with(tmp_path / "evil.tar.gz", tarfile.TarInfo(str(escape)), contents={str(escape): b"evil"})
    with pytest.raises(DlrunError, match="absolute path"):
        safe_extract(archive, tmp_path / "target")
    assert not escape.exists() and list((tmp_path / "target").iterdir()) == []


@pytest.mark.fault('tar with a symlink and a file written through it', 'refused before anything is written')
def test_symlink_then_file_through_it_is_refused(tmp_path: Path) -> None:
    """The classic two-step escape: a symlink to outside, then a file written through it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = _tar_with(tmp_path / "evil.tar.gz", _symlink("data/out", str(outside)), tarfile.TarInfo("data/out/pwned.txt"),
                        contents={"data/out/pwned.txt": b"pwned"})
    with pytest.raises(DlrunError, match="symbolic link"):
        safe_extract(archive, tmp_path / "target")
    assert list(outside.iterdir()) == []


def test_unsafe_reason_accepts_regular_members() -> None:
    file_member, dir_member = tarfile.TarInfo("a/b.txt"), tarfile.TarInfo("a")
    dir_member.type = tarfile.DIRTYPE
    assert unsafe_reason(file_member) is None and unsafe_reason(dir_member) is None


@pytest.mark.fault('corrupt tar archive', 'one-line error naming the file')
def test_corrupt_archive_is_a_one_line_error(tmp_path: Path) -> None:
    good = make_tar(tmp_path / "good.tar.gz", {f"d/{i}.txt": os.urandom(2000) for i in range(20)})
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DlrunError, match="truncated.tar.gz"):
        safe_extract(truncated, tmp_path / "out")
    assert not any(p.name.startswith(".extract-") for p in (tmp_path / "out").iterdir())
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive")
    with pytest.raises(DlrunError, match="cannot read archive"):
        safe_extract(garbage, tmp_path / "out2")
