"""Mapper throughput: records/s for N Salesforce Account records read from a file, through

- `cat` (the pipe's ceiling: no parsing at all),
- `netsuite-mapper` with the shipped `salesforce-to-netsuite` mapping (nested customer payloads, countries, states,
  phones, addresses),
- `netsuite-mapper` with a flat mapping, once as SDK `stream_maps` and once as a compiled payload template,
- `meltano-map-transform` (PyPI, in its own venv under bench/.venvs/) with the same flat `stream_maps`.

Every run is a shell pipe `cat FILE | <tool> --config C | wc -l`, so each tool pays the same pipe costs, and the
output line count checks that every record came out. Results go to bench/results/mapper.md.

    .venv/bin/python bench/mapper_bench.py --records 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MMT_VENV = BENCH / ".venvs" / "meltano-map-transform"
MMT_VERSION = "0.12.3"
STATE_EVERY = 10_000

_PLACES = [("United States", "San Francisco", "California", "94105"), ("USA", "Austin", "TX", "78701"),
           ("Deutschland", "München", "Bayern", "80331"), ("UK", "London", None, "EC1A 1BB"),
           ("Canada", "Montréal", "Québec", "H2Y 1C6"), ("France", "Paris", None, "75001"),
           ("日本", "東京", "東京都", "100-0001"), (None, None, None, None)]
# Phone numbers are unique per record, so the mapper's phone cache never helps: the worst case is measured.
_PHONES = ["(415) {a:03d}-{n:04d}", "+49 30 {a:03d}{n:04d}", "+44 20 7{a:03d} {n:04d}", None]
_NAMES = ["Acme", "Globex", "Müller & Söhne", "株式会社サンプル", "Zürich Versicherungs", "Łódź Tech", "Initech"]
FLAT_FIELDS = {"externalId": "Id", "phone": "Phone", "fax": "Fax", "url": "Website", "accountNumber": "AccountNumber",
               "billingStreet": "BillingStreet", "billingCity": "BillingCity", "billingState": "BillingState",
               "billingZip": "BillingPostalCode", "billingCountry": "BillingCountry", "shippingCity": "ShippingCity",
               "shippingCountry": "ShippingCountry"}


def account_schema() -> dict:
    fields = ["Name", "Phone", "Fax", "Website", "AccountNumber", "Description"] + [
        f"{p}{x}" for p in ("Billing", "Shipping") for x in ("Street", "City", "State", "PostalCode", "Country")]
    properties = {"Id": {"type": ["string"]}, "IsDeleted": {"type": ["boolean"]},
                  "SystemModstamp": {"type": ["string"], "format": "date-time"},
                  **{name: {"type": ["string", "null"]} for name in fields}}
    return {"type": "SCHEMA", "stream": "Account", "schema": {"type": "object", "properties": properties},
            "key_properties": ["Id"]}


def generate(path: Path, records: int) -> None:
    """A deterministic file of Account records shaped like the tap's output, with a STATE every 10,000."""
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(account_schema()) + "\n")
        for n in range(1, records + 1):
            billing, shipping = rng.choice(_PLACES), rng.choice(_PLACES)
            phone = rng.choice(_PHONES)
            record = {
                "Id": f"001{n:012d}AAA", "IsDeleted": False,
                "SystemModstamp": f"2024-05-{1 + n % 28:02d}T12:00:00.000000+00:00",
                "Name": f"{rng.choice(_NAMES)} {n}",
                "Phone": phone.format(a=200 + n // 10_000 % 800, n=n % 10_000) if phone else None,
                "Fax": None, "Website": "https://example.com" if n % 3 else None,
                "AccountNumber": f"CD{n:06d}", "Description": "Long-standing customer. " * (n % 4),
                "BillingStreet": "1 Market St\nSuite 300" if billing[1] else None, "BillingCity": billing[1],
                "BillingState": billing[2], "BillingPostalCode": billing[3], "BillingCountry": billing[0],
                "ShippingStreet": None, "ShippingCity": shipping[1], "ShippingState": shipping[2],
                "ShippingPostalCode": shipping[3], "ShippingCountry": shipping[0],
            }
            out.write(json.dumps({"type": "RECORD", "stream": "Account", "record": record},
                                 ensure_ascii=False) + "\n")
            if n % STATE_EVERY == 0:
                state = {"bookmarks": {"Account": {"replication_key_value": record["SystemModstamp"]}}}
                out.write(json.dumps({"type": "STATE", "value": state}) + "\n")


def shipped_mapping() -> dict:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugin = next(p for p in project["plugins"]["mappers"] if p["name"] == "netsuite-mapper")
    defaults = {s["name"]: s["value"] for s in plugin.get("settings", []) if "value" in s}
    dev = next(e for e in project["environments"] if e["name"] == "dev")["config"]["plugins"]["mappers"]
    ids = next(m for m in dev if m["name"] == "netsuite-mapper")["config"]  # the sandbox's: subsidiary, currency, item
    return {**defaults, **ids, **next(m for m in plugin["mappings"] if m["name"] == "salesforce-to-netsuite")["config"]}


def flat_stream_maps() -> dict:
    """The flat mapping both tools understand: SDK stream-map syntax only."""
    account = {"__alias__": "customer", "__else__": "__NULL__", "__key_properties__": ["externalId"],
               "companyName": "Name[:83]", **FLAT_FIELDS}
    return {"stream_maps": {"Account": account, "__else__": "__NULL__"}}


def flat_payload() -> dict:
    """The same flat mapping as a netsuite-mapper payload template (compiled expressions)."""
    return {"stream_maps": {"Account": {"__alias__": "customer"}, "__else__": "__NULL__"},
            "payloads": {"customer": {"companyName": "Name", **FLAT_FIELDS}}, "field_lengths": {"companyName": 83}}


def ensure_meltano_map_transform() -> Path:
    executable = MMT_VENV / "bin" / "meltano-map-transform"
    if not executable.exists():
        uv = Path(sys.executable).with_name("uv")
        subprocess.run([str(uv), "venv", "--python", sys.executable, str(MMT_VENV)], check=True)
        subprocess.run([str(uv), "pip", "install", "--python", str(MMT_VENV / "bin" / "python"),
                        f"meltano-map-transform=={MMT_VERSION}"], check=True)
    return executable


def timed(command: str) -> tuple[float, int]:
    """Wall time of a shell pipe and the number of lines it printed."""
    start = time.perf_counter()
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {command} | wc -l"], capture_output=True, check=True)
    return time.perf_counter() - start, int(done.stdout.decode().strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    # The generated file is ~600 MB per million records: kept outside the repository.
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mapper-bench")
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "mapper.md")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / f"accounts_{args.records}.jsonl"
    if not data.exists():
        print(f"generating {data} ...", flush=True)
        generate(data, args.records)
    configs = {"shipped": shipped_mapping(), "flat_maps": flat_stream_maps(), "flat_payload": flat_payload()}
    for name, config in configs.items():
        (args.workdir / f"{name}.json").write_text(json.dumps(config))
    mapper = Path(sys.executable).with_name("netsuite-mapper")
    mmt = ensure_meltano_map_transform()
    runs = [
        ("cat (pipe ceiling)", "-", f"cat '{data}' | cat"),
        ("netsuite-mapper", "shipped salesforce-to-netsuite (nested)",
         f"cat '{data}' | '{mapper}' --config '{args.workdir / 'shipped.json'}' 2>/dev/null"),
        ("netsuite-mapper", "flat, payload template",
         f"cat '{data}' | '{mapper}' --config '{args.workdir / 'flat_payload.json'}' 2>/dev/null"),
        ("netsuite-mapper", "flat, SDK stream_maps",
         f"cat '{data}' | '{mapper}' --config '{args.workdir / 'flat_maps.json'}' 2>/dev/null"),
        (f"meltano-map-transform {MMT_VERSION}", "flat, SDK stream_maps",
         f"cat '{data}' | '{mmt}' --config '{args.workdir / 'flat_maps.json'}' 2>/dev/null"),
    ]
    size_mb = data.stat().st_size / 1e6
    rows = []
    for tool, mapping, command in runs:
        seconds, lines = timed(command)
        rows.append((tool, mapping, seconds, lines))
        print(f"{tool:32} {mapping:40} {seconds:8.1f} s {args.records / seconds:12,.0f} rec/s  {lines} lines",
              flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    table = "\n".join(
        f"| {tool} | {mapping} | {seconds:.1f} | {args.records / seconds:,.0f} | {lines:,} |"
        for tool, mapping, seconds, lines in rows)
    args.output.write_text(f"""# Mapper throughput

`{' '.join(['python', 'bench/mapper_bench.py', '--records', str(args.records)])}`, on this machine
({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): {args.records:,} Salesforce Account records
({size_mb:,.0f} MB of Singer JSON, a STATE every {STATE_EVERY:,} records) piped from a file through each tool to
`wc -l`. Wall time includes start-up (about 2 s for the SDK-based tools). Output lines = SCHEMA + RECORDs + STATEs.

| tool | mapping | seconds | records/s | output lines |
|---|---|---:|---:|---:|
{table}
""")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
