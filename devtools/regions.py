"""Render the region lists of checks/engine/regions.py into the files that repeat them:
infra/main.bicep (the verifier's allowed locations, the regions where the journal may be
geo-redundant), infra/modules/functionapp.bicep and local.settings.sample.json (the default of
ALLOWED_BACKUP_REGIONS). tests/test_regions_render.py fails when a file drifts from the code.

    python -m devtools.regions            # exit 1 and name the files that differ
    python -m devtools.regions --write    # rewrite them
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable

from checks.engine.regions import EEA_REGIONS, REGIONS

ROOT = Path(__file__).resolve().parent.parent
MAIN, FUNCTIONAPP = ROOT / "infra" / "main.bicep", ROOT / "infra" / "modules" / "functionapp.bicep"
SAMPLE = ROOT / "local.settings.sample.json"
EEA_PAIRED = tuple(r for r in EEA_REGIONS if REGIONS[r].pair is not None)


def _bicep_list(names: tuple[str, ...], indent: str) -> str:
    return "[\n" + "".join(f"{indent}  '{n}'\n" for n in names) + f"{indent}]"


def _block(text: str, start: str, end: str, inner: str) -> str:
    """Replace what lies between the marker lines `start` and `end` (kept) by `inner`."""
    pattern = re.compile(rf"^({re.escape(start)}\n)(.*?)(^{re.escape(end)}$)", re.S | re.M)
    if not pattern.search(text):
        raise ValueError(f"markers not found: {start!r} .. {end!r}")
    return pattern.sub(lambda m: m.group(1) + inner + "\n" + m.group(3), text, count=1)


BEGIN, END = "// regions: begin (rendered from checks/engine/regions.py by devtools/regions.py)", "// regions: end"


def render_main(text: str) -> str:
    inner = (f"@allowed({_bicep_list(EEA_REGIONS, '')})\n"
             "@description('Region of the verifier: an EEA region (HDS: the journal and logs stay in the EEA).')\n"
             "@metadata({\n  azd: {\n    type: 'location'\n  }\n})\nparam location string\n\n"
             "// EEA regions with a paired region: only there can the journal be geo-redundant (GRS); Azure offers\n"
             "// no GRS in a nonpaired region (the journal is zone-redundant there)\n"
             f"var geoPairedRegions = {_bicep_list(EEA_PAIRED, '')}")
    return _block(text, BEGIN, END, inner)


def render_functionapp(text: str) -> str:
    line = "{ name: 'ALLOWED_BACKUP_REGIONS', value: '%s' }" % ",".join(EEA_REGIONS)
    return re.sub(r"\{ name: 'ALLOWED_BACKUP_REGIONS', value: '[^']*' \}", line, text, count=1)


def render_sample(text: str) -> str:
    return re.sub(r'"ALLOWED_BACKUP_REGIONS": "[^"]*"', f'"ALLOWED_BACKUP_REGIONS": "{",".join(EEA_REGIONS)}"',
                  text, count=1)


RENDERERS: tuple[tuple[Path, Callable[[str], str]], ...] = (
    (MAIN, render_main), (FUNCTIONAPP, render_functionapp), (SAMPLE, render_sample))


def drifted() -> list[Path]:
    """The files whose region lists differ from checks/engine/regions.py."""
    return [path for path, render in RENDERERS if render(path.read_text()) != path.read_text()]


def main(argv: list[str]) -> int:
    if argv not in ([], ["--write"]):
        print("usage: python -m devtools.regions [--write]", file=sys.stderr)
        return 2
    stale = drifted()
    if argv == ["--write"]:
        for path, render in RENDERERS:
            path.write_text(render(path.read_text()))
        print("rewritten: " + (", ".join(str(p.relative_to(ROOT)) for p in stale) or "nothing (all up to date)"))
        return 0
    for path in stale:
        print(f"{path.relative_to(ROOT)}: region list differs from checks/engine/regions.py "
              f"(python -m devtools.regions --write)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
