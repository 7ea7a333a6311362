"""The datasets bnntool knows: their files, official URLs, checksums and class names.

Checksums are the publishers' (MD5) plus SHA-256 where it is known. ``content_md5`` is the MD5
of a gzip file's decompressed content: repackaged copies such as Debian's
``dataset-fashion-mnist`` have other gzip headers but the same content, and are accepted by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bnntool.errors import DatasetError


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset, as its publisher ships it."""

    name: str
    url: str
    md5: str
    sha256: str | None = None
    size: int | None = None
    content_md5: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset: what it is, where its files come from, and where a system may already hold it."""

    name: str
    title: str
    files: tuple[RemoteFile, ...]
    classes: tuple[str, ...]
    image_shape: tuple[int, ...]
    license: str
    system_dirs: tuple[str, ...] = ()

    def file(self, name: str) -> RemoteFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)


_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_GTSRB_URL = "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# The 43 GTSRB classes in ClassId order, named as in BNN-PYNQ's road-sign classes.txt.
GTSRB_CLASSES = (
    "20 Km/h",
    "30 Km/h",
    "50 Km/h",
    "60 Km/h",
    "70 Km/h",
    "80 Km/h",
    "End 80 Km/h",
    "100 Km/h",
    "120 Km/h",
    "No overtaking",
    "No overtaking for large trucks",
    "Priority crossroad",
    "Priority road",
    "Give way",
    "Stop",
    "No vehicles",
    "Prohibited for vehicles with a permitted gross weight over 3.5t including their "
    "trailers, and for tractors except passenger cars and buses",
    "No entry for vehicular traffic",
    "Danger Ahead",
    "Bend to left",
    "Bend to right",
    "Double bend (first to left)",
    "Uneven road",
    "Road slippery when wet or dirty",
    "Road narrows (right)",
    "Road works",
    "Traffic signals",
    "Pedestrians in road ahead",
    "Children crossing ahead",
    "Bicycles prohibited",
    "Risk of snow or ice",
    "Wild animals",
    "End of all speed and overtaking restrictions",
    "Turn right ahead",
    "Turn left ahead",
    "Ahead only",
    "Ahead or right only",
    "Ahead or left only",
    "Pass by on right",
    "Pass by on left",
    "Roundabout",
    "End of no-overtaking zone",
    "End of no-overtaking zone for vehicles with a permitted gross weight over 3.5t including "
    "their trailers, and for tractors except passenger cars and buses",
)


def _idx_files(base: str, table: dict[str, tuple[str, str, int, str]]) -> tuple[RemoteFile, ...]:
    return tuple(
        RemoteFile(name, base + name, md5, sha256, size, content_md5)
        for name, (md5, sha256, size, content_md5) in table.items()
    )


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST handwritten digits, 28x28 grey, 60k train / 10k test",
        files=_idx_files(
            _MNIST_URL,
            {
                "train-images-idx3-ubyte.gz": (
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    9912422,
                    "6bbc9ace898e44ae57da46a324031adb",
                ),
                "train-labels-idx1-ubyte.gz": (
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    28881,
                    "a25bea736e30d166cdddb491f175f624",
                ),
                "t10k-images-idx3-ubyte.gz": (
                    "9fb629c4189551a2d022fa330f9573f3",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    1648877,
                    "2646ac647ad5339dbf082846283269ea",
                ),
                "t10k-labels-idx1-ubyte.gz": (
                    "ec29112dd5afa0611ce80d1b7f02629c",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                    4542,
                    "27ae3e4e09519cfbb04c329615203637",
                ),
            },
        ),
        classes=tuple(str(d) for d in range(10)),
        image_shape=(28, 28),
        license="CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. J. C. Burges)",
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST (Zalando), 28x28 grey, 60k train / 10k test",
        files=_idx_files(
            _FASHION_URL,
            {
                "train-images-idx3-ubyte.gz": (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                    26421880,
                    "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                ),
                "train-labels-idx1-ubyte.gz": (
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                    29515,
                    "9018921c3c673c538a1fc5bad174d6f9",
                ),
                "t10k-images-idx3-ubyte.gz": (
                    "bef4ecab320f06d8554ea6380940ec79",
                    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                    4422102,
                    "8181f5470baa50b63fa0f6fddb340f0a",
                ),
                "t10k-labels-idx1-ubyte.gz": (
                    "bb300cfdad3c16e7a12a480ee83cd310",
                    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                    5148,
                    "15d484375f8d13e6eb1aabb0c3f46965",
                ),
            },
        ),
        classes=FASHION_MNIST_CLASSES,
        image_shape=(28, 28),
        license="MIT (Zalando SE)",
        # Debian's dataset-fashion-mnist package installs the four files here.
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
    "cifar-10": DatasetInfo(
        name="cifar-10",
        title="CIFAR-10 (python version), 32x32 RGB, 50k train / 10k test",
        files=(
            RemoteFile(
                "cifar-10-python.tar.gz",
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "c58f30108f718f92721af3b95e74349a",
                size=170498071,
            ),
        ),
        classes=CIFAR10_CLASSES,
        image_shape=(32, 32, 3),
        license="no formal license; cite A. Krizhevsky, 2009",
    ),
    "gtsrb": DatasetInfo(
        name="gtsrb",
        title="German Traffic Sign Recognition Benchmark, 43 classes, cut to 32x32 RGB",
        files=(
            RemoteFile(
                "GTSRB_Final_Training_Images.zip",
                _GTSRB_URL + "GTSRB_Final_Training_Images.zip",
                "f33fd80ac59bff73c82d25ab499e03a3",
            ),
            RemoteFile(
                "GTSRB_Final_Test_Images.zip",
                _GTSRB_URL + "GTSRB_Final_Test_Images.zip",
                "c7e4e6327067d32654124b0fe9e82185",
            ),
            RemoteFile(
                "GTSRB_Final_Test_GT.zip",
                _GTSRB_URL + "GTSRB_Final_Test_GT.zip",
                "fe31e9c9270bbcd7b84b7f21a9d9d9e5",
            ),
        ),
        classes=GTSRB_CLASSES,
        image_shape=(32, 32, 3),
        license="GTSRB terms (Institut für Neuroinformatik, Ruhr-Universität Bochum)",
    ),
}

_ALIASES = {
    "cifar10": "cifar-10",
    "cifar": "cifar-10",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "road-signs": "gtsrb",
}


def dataset_names() -> list[str]:
    """Names of the datasets ``bnntool fetch`` knows, in catalog order."""
    return list(DATASETS)


def get_dataset(name: str) -> DatasetInfo:
    """Look up a dataset by name or alias; unknown names raise a one-line :class:`DatasetError`."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return DATASETS[key]
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)} "
            "(run 'bnntool datasets' to list them)"
        ) from None


def get_file_set(name: str) -> DatasetInfo:
    """A dataset, or another file set ``bnntool fetch`` knows (``bnn-pynq-bitstreams``)."""
    from bnntool.data.bitstreams import NAME, STOCK_BITSTREAMS

    if name.strip().lower() == NAME:
        return STOCK_BITSTREAMS
    return get_dataset(name)
