"""`make plugin-definitions`: write plugin-definitions/<plugin>.yml from this project's meltano.yml.

Each file is a Meltano plugin definition another project can use as it is:

    meltano add --plugin-type loader --from-ref plugin-definitions/target-netsuite.yml target-netsuite

or paste under `plugins: <type>:` of its meltano.yml. meltano.yml stays the one source: tests/ops fail when a
definition file no longer matches it (run this script again). The mapper's definition carries the
`salesforce-to-netsuite` mapping too (`meltano add --from-ref` keeps only the definition; paste `mappings:` under
the mapper to get it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "plugin-definitions"
#: Where another project installs each connector from: this repository at its release tag.
REPOSITORY = "git+https://YOUR-GIT-HOST/YOUR-ORG/salesforce-netsuite.git"
CONNECTORS = {  # plugin name: (plugin type, folder in this repository, one-line description)
    "tap-salesforce-custom": ("extractors", "tap-salesforce-custom",
                              "Salesforce: incremental REST and Bulk API 2.0 reads with safe bookmarks"),
    "netsuite-mapper": ("mappers", "transform_mappers",
                        "Salesforce records to NetSuite REST payloads, as configuration"),
    "target-netsuite": ("loaders", "target-netsuite",
                        "NetSuite REST Record API: idempotent upserts, concurrency, dead letters"),
    "tap-netsuite-custom": ("extractors", "tap-netsuite-custom",
                            "NetSuite: incremental SuiteQL reads on lastModifiedDate with safe bookmarks"),
    "target-salesforce-custom": ("loaders", "target-salesforce-custom",
                                 "Salesforce: updates and external-id upserts via Collections and Bulk API 2.0"),
}
HEADER = """\
# Meltano plugin definition of {name} {version} (generated from meltano.yml by scripts/plugin_definitions.py).
# Replace YOUR-GIT-HOST/YOUR-ORG with where this repository lives, then either
#   meltano add --plugin-type {kind} --from-ref {path} {name}
# or paste everything below, as one item of the `plugins: {ptype}:` list, into your meltano.yml.
"""


def version_of(folder: str) -> str:
    for line in (ROOT / folder / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise SystemExit(f"no version in {folder}/pyproject.toml")


def definitions() -> dict[str, str]:
    """File name → text of every definition, as this meltano.yml declares the plugins."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    texts = {}
    for name, (ptype, folder, description) in CONNECTORS.items():
        plugin = next(p for p in project["plugins"][ptype] if p["name"] == name)
        version = version_of(folder)
        definition = {
            "name": name,
            "variant": "sfns",
            "label": name,
            "description": description,
            "namespace": plugin["namespace"],
            # The connector alone: its build requires connector-kit from the same clone and commit
            # (connector_kit/kit_requirement.py); naming the kit here too would ask for it twice, by two URLs.
            "pip_url": f"{REPOSITORY}@v{version}#subdirectory={folder}",
            "executable": plugin["executable"],
            "capabilities": plugin["capabilities"],
        }
        for key in ("settings_group_validation", "settings", "mappings"):
            if key in plugin:
                definition[key] = plugin[key]
        path = f"plugin-definitions/{name}.yml"
        header = HEADER.format(name=name, version=version, path=path, kind=ptype[:-1], ptype=ptype)
        body = yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=120)
        texts[f"{name}.yml"] = header + body
    return texts


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for file, text in definitions().items():
        (OUT / file).write_text(text, encoding="utf-8")
        print(OUT / file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
