"""`pio ARGS` (used for `pio pkg pack`) where SPDX's license list may be out of reach.

`pio pkg pack` validates library.json's "license" against SPDX's list, which it downloads from
raw.githubusercontent.com (platformio.package.manifest.schema.ManifestSchema.load_spdx_licenses).
Where that download fails (no network in CI or here), this runs the very same command with that
one function answering from a short list of SPDX ids instead; everything else (PackagePacker, the
export rules of library.json, the validation of the packed archive's manifest) is PlatformIO's own.
Where the download works, nothing is replaced.

    python3 pio_pack_offline.py pkg pack FOLDER --output FILE
"""

from __future__ import annotations

import sys

import requests
from platformio.__main__ import main
from platformio.package.manifest.schema import ManifestSchema

# a few ids from https://spdx.org/licenses/ (MIT is ours); an unknown one is still refused
SPDX_IDS = ("MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "GPL-3.0-only", "LGPL-2.1-or-later", "MPL-2.0")


def _offline_spdx() -> dict[str, list[dict[str, str]]]:
    return {"licenses": [{"licenseId": i} for i in SPDX_IDS]}


if __name__ == "__main__":
    try:
        ManifestSchema.load_spdx_licenses()
    except requests.exceptions.RequestException:
        ManifestSchema.load_spdx_licenses = staticmethod(_offline_spdx)  # type: ignore[method-assign]
    sys.exit(main(["pio", *sys.argv[1:]]))
