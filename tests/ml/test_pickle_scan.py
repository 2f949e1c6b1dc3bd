"""The static pickle scan reads every global a pickle would import, without running it, and fails closed."""

import os
import pickle
import pickletools

import pytest

from ml.pickle_scan import UnsafeFileError, file_pickles, pickle_globals


class Payload:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_protocol_names_the_callable(protocol):
    assert ("posix", "system") in pickle_globals(pickle.dumps([Payload(), Payload()], protocol=protocol))


def test_a_global_named_through_the_memo_is_followed():
    # Protocol 4+ memoises the module and name strings; a second STACK_GLOBAL can reuse them with BINGET.
    data = pickletools.optimize(pickle.dumps({"a": Payload(), "b": Payload()}, protocol=4))
    assert set(pickle_globals(data)) == {("posix", "system")}
    handmade = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x8c\x04true\x85R."
    assert pickle_globals(handmade) == [("os", "system")]


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"\x80\x04NN\x93.", "only running it would reveal"),  # STACK_GLOBAL of names not pushed as strings
        (b"\x80\x02\x82\x01.", "copyreg extension"),  # EXT1
        (b"not a pickle", "not a PyTorch or pickle file"),
    ],
)
def test_what_cannot_be_read_without_running_it_is_refused(data, reason):
    with pytest.raises(UnsafeFileError, match=reason):
        pickle_globals(data)


def test_python2_names_are_mapped_as_the_unpickler_maps_them():
    assert pickle_globals(b"c__builtin__\nset\n(tR.") == [("builtins", "set")]


def test_a_zip_with_many_pickles_is_bounded(tmp_path):
    import zipfile

    path = tmp_path / "big.pt"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(3):
            archive.writestr(f"archive/{'data' if i == 0 else i}.pkl", b"N." + b"\x00" * 600)
    with pytest.raises(UnsafeFileError, match="over the 1000-byte limit"):
        list(file_pickles(path, max_pickle_bytes=1000))
