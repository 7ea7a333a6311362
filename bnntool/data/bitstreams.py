"""BNN-PYNQ's published stock bitstreams as a file set that ``bnntool fetch bnn-pynq-bitstreams``
gets like a dataset: from upstream's repository pinned to one commit, every file checked against
the size, MD5 and SHA-256 recorded here, all or nothing; ``--mirror`` takes a folder or URL laid
out ``bnn-pynq-bitstreams/<official file name>``.

Covered: the ``.bit``, ``.hwh`` and ``.tcl`` of the five overlays for ``pynqZ1-Z2`` (PYNQ-Z1 and
PYNQ-Z2), and the ``.hwh`` and ``.tcl`` of the five for ``ultra96``. Not covered: the five
``ultra96`` ``.bit`` files. Upstream's tree at the pinned commit holds them (git blob ids in
:data:`NOT_COVERED`), but no copy was available to take their SHA-256 from, so bnntool does not
fetch them (an Ultra96 runs a custom bitstream from ``bnntool build``, like every board without
stock bitstreams). The checksums below are those of the files in upstream's tree at the commit
(checked byte for byte against a clone of it).
"""

from __future__ import annotations

from bnntool.board.platforms import STOCK_OVERLAYS
from bnntool.data.catalog import DatasetInfo, RemoteFile

NAME = "bnn-pynq-bitstreams"
REPOSITORY = "Xilinx/BNN-PYNQ"
COMMIT = "d39c1c75403db571f54dd0f0cf27ae5104ac968e"
BASE_URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/bnn/bitstreams/"
OVERLAYS = STOCK_OVERLAYS

_PYNQ_TCL = ("c048215fdb24e031444fe7342764a583",
             "8689617fc53127662d90e9eff53a6288f08cc3444e5f3b426cc9c19d1ed632be")  # fmt: skip
_ULTRA96_TCL = ("ba5f48fdb8ed387adc04e24c2109ec3f",
                "c8bcd5f0c5bf490c5410fd5c01b51a5672fb6cd54fc19c5c2b085d19741775a9")  # fmt: skip

# platform -> file -> (bytes, md5, sha256)
_TABLE: dict[str, dict[str, tuple[int, str, str]]] = {
    "pynqZ1-Z2": {
        "cnvW1A1-pynqZ1-Z2.bit": (4045675, "00189c8262480b56a3a14ca3285192cc",
            "6c422d8b7dd7b7f246a41079a46ffec61f69a675849f0cc6bc0f9317bf812a9a"),
        "cnvW1A1-pynqZ1-Z2.hwh": (236416, "e5fba106d8a699e7e88661f3157f4fe2",
            "f0b1bba8b505704f6aa4e7306ba850b72916737c1874882debb9b0c94c9bbc18"),
        "cnvW1A1-pynqZ1-Z2.tcl": (47232, *_PYNQ_TCL),
        "cnvW1A2-pynqZ1-Z2.bit": (4045675, "3217f6cd23cfab85ee1ff710e62d0252",
            "d2f52cd8fe711722da22483c0beb633b2b284e81fc782fd4804a46e100693fde"),
        "cnvW1A2-pynqZ1-Z2.hwh": (236416, "15078fd9ad7ae00b01bd60fbe1071c10",
            "1a53260848442620898ba444c7585911d9f744bc1f256f60cf39fe0ae190ac6b"),
        "cnvW1A2-pynqZ1-Z2.tcl": (47232, *_PYNQ_TCL),
        "cnvW2A2-pynqZ1-Z2.bit": (4045675, "dea4e772432bc800fbfd3215995efd7c",
            "aba4d322086f339c98fd3407091e00079a41250056c2652a3e39b99a7eacabd3"),
        "cnvW2A2-pynqZ1-Z2.hwh": (236416, "bcf195127e936ee965658eb9e5056a37",
            "1f61c89dcb9d89d89eb9f17cb351f567141351875d7de035e0d6d512a749d873"),
        "cnvW2A2-pynqZ1-Z2.tcl": (47232, *_PYNQ_TCL),
        "lfcW1A1-pynqZ1-Z2.bit": (4045675, "c5ebffbbed85d1058f98b39023e69a0c",
            "9ea7811ca8f36c4ae2f2d9d89dcca5046ae633de32de9d3487f4c6bdf6991dd9"),
        "lfcW1A1-pynqZ1-Z2.hwh": (236416, "b66a06631c2c4a9d7b23236b6c53df54",
            "ebe84f8a0eb3d52bd0cfaeaa50bcd40b568f6e27db79ee46ef17342fc5ae5669"),
        "lfcW1A1-pynqZ1-Z2.tcl": (47232, *_PYNQ_TCL),
        "lfcW1A2-pynqZ1-Z2.bit": (4045675, "7f2dbb0234b87a98d9a6745f450d51a7",
            "0b2fcc322a5db16bd73340dd944329d9da447791e32aaeff128b43c9a92c7838"),
        "lfcW1A2-pynqZ1-Z2.hwh": (236416, "bf7691efdfe815cb7e5731de921c5f97",
            "44545bc1e19409eed99a74f79eeaf151c56fed86e7be4bf0193aa3dec9cdb903"),
        "lfcW1A2-pynqZ1-Z2.tcl": (47232, *_PYNQ_TCL),
    },
    "ultra96": {
        "cnvW1A1-ultra96.hwh": (276080, "da7434738a241ba39ab1fecdc494d51e",
            "c43d3b532fe1ba8f3966de919336c734f189a7005452d985a300f0742b550fe1"),
        "cnvW1A1-ultra96.tcl": (42815, *_ULTRA96_TCL),
        "cnvW1A2-ultra96.hwh": (276080, "3a2e42074150ac7c1309159ec0d4be4d",
            "6ec7087cd3d88f90ca63186a480d23e8ff80b3fdd7927139ca342cada3fc5a26"),
        "cnvW1A2-ultra96.tcl": (42815, *_ULTRA96_TCL),
        "cnvW2A2-ultra96.hwh": (276080, "609d1802125f4cf80daf5971fc588986",
            "b6144a5b2bf9cb581c66032a134d3a654c1e27ee930b87f9b4e6461c2b5df481"),
        "cnvW2A2-ultra96.tcl": (42815, *_ULTRA96_TCL),
        "lfcW1A1-ultra96.hwh": (276080, "b34dcc9429e916eccf0fa21e67c4057f",
            "eea800a1189499719db7f550e77c0e8008ced5ca25e0a7ca87de3cf0900ed85d"),
        "lfcW1A1-ultra96.tcl": (42815, *_ULTRA96_TCL),
        "lfcW1A2-ultra96.hwh": (276080, "c7ce9e25c27a86b228fa21d1ea3c0db7",
            "e48d67a00872612244f710d9e11017318d7bd5fdc9be961008ee71951ec820ca"),
        "lfcW1A2-ultra96.tcl": (42815, *_ULTRA96_TCL),
    },
}  # fmt: skip

# Upstream holds these at COMMIT (git blob ids), but bnntool has no SHA-256 of them: not fetched.
NOT_COVERED = {
    "cnvW1A1-ultra96.bit": "a2b850810547f862ee66e59f5f1909438c93b179",
    "cnvW1A2-ultra96.bit": "58209ecacc4fdaa4af1ae3f4adac49d262537028",
    "cnvW2A2-ultra96.bit": "667c39bf9517079db123a3f38f2364d7312bfd8e",
    "lfcW1A1-ultra96.bit": "46f116cdc85554e11c683cacaa8cbf97b2ffeff0",
    "lfcW1A2-ultra96.bit": "f0052a080fe623e4d7a32ae2fc0bfe4ce96343bc",
}


def _remote(platform: str, name: str, entry: tuple[int, str, str]) -> RemoteFile:
    size, md5, sha256 = entry
    return RemoteFile(name, f"{BASE_URL}{platform}/{name}", md5, sha256, size)


STOCK_BITSTREAMS = DatasetInfo(
    name=NAME,
    title=f"BNN-PYNQ's stock bitstreams (.bit/.hwh/.tcl), {REPOSITORY}@{COMMIT[:7]}",
    files=tuple(_remote(p, n, e) for p, files in _TABLE.items() for n, e in files.items()),
    classes=(),
    image_shape=(),
    license="BSD-3-Clause (Xilinx, Inc.)",
)


def platform_files(platform: str) -> tuple[RemoteFile, ...]:
    """The catalog's files of one stock platform (empty for an unknown one)."""
    names = _TABLE.get(platform, {})
    return tuple(f for f in STOCK_BITSTREAMS.files if f.name in names)


def runnable(platform: str) -> bool:
    """Whether the catalog holds a ``.bit`` (with its ``.hwh``) of every overlay for it."""
    names = _TABLE.get(platform, {})
    return all(f"{o}-{platform}.bit" in names and f"{o}-{platform}.hwh" in names for o in OVERLAYS)
