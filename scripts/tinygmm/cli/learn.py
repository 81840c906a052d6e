"""``tinygmm learn|pull``: stream a CSV into a learning device, read its learned model back (docs/online.md)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from ..data.reader import load_csv
from ..device.client import WINDOW, DeviceClient, DeviceError, learned_field
from ..device.learned import learned_model
from ..errors import TinyGMMError
from ..export.atomic import write_all
from .device import PORT_HELP, check_output, connect


def _learning(client: DeviceClient) -> None:
    """Refuse a device whose firmware does not learn (its INFO has no mode=)."""
    if client.control("DUMP").line.startswith("ERR unknown-command"):
        raise TinyGMMError(
            "the device does not learn: build its firmware with custom_gmm_learn = adapt or scratch (docs/online.md)"
        )


def _pull(client: DeviceClient, out: Path, source: str) -> None:
    model = learned_model(client.dump(), client.info(), source)
    try:
        write_all({out: model.to_json()})
    except OSError as exc:
        raise TinyGMMError(f"cannot write {out}: {exc.strerror or exc}") from None
    learned = model.options["learned_on_device"]["samples_learned"]
    print(f"wrote {out}: model {model.model_hash} ({model.n_components} components, {learned} samples learned)")


def cmd_learn(a: argparse.Namespace) -> int:
    out = check_output(a.json) if a.json else None
    with connect(a.port, a.timeout, a.window) as client:
        info = client.info()
        _learning(client)
        data = load_csv(a.data, info.names, dropna=True, check_constant=False)
        if data.dropped_lines:
            print(f"learn: {len(data.dropped_lines)} row(s) with empty or non-numeric cells skipped", file=sys.stderr)
        replies = client.learn_many(data.X)
        learned = [r for r in replies if r.ok or r.line.startswith("OK duplicate")]  # (its first reply was lost)
        warming = sum(1 for r in replies if r.line.startswith("WARMING"))
        refused = Counter(r.line for r in replies if r.line.startswith("ERR"))
        count = learned_field(learned[-1]) if learned else None
        print(
            f"learn: {len(learned)} learned, {warming} in the warm-up, {sum(refused.values())} refused "
            f"of {len(replies)} rows" + (f"; the device has learned {count} samples" if count is not None else "")
        )
        for why, n in refused.most_common(5):
            print(f"  {n} x {why}", file=sys.stderr)
        if a.save:
            print(f"save: {client.control('SAVE').line}")
        if out is not None:
            _pull(client, out, f"tinygmm learn {a.data}")
    return 0


def cmd_pull(a: argparse.Namespace) -> int:
    out = check_output(a.json)
    with connect(a.port, a.timeout) as client:
        _learning(client)
        if a.load:
            r = client.control("LOAD")
            if not r.line.startswith("OK"):
                raise DeviceError(f"the device could not load its saved state: {r.line}")
        _pull(client, out, f"tinygmm pull --port {a.port}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--port", required=True, help=PORT_HELP)
        p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for an answer (default 2)")

    p = sub.add_parser("learn", help="stream a CSV's feature columns into a learning device (LEARN)")
    common(p)
    p.add_argument("data", help="CSV with the device's feature columns (by name, as its INFO names them)")
    p.add_argument("--save", action="store_true", help="then SAVE the learned state (EEPROM; a file or RAM on native)")
    p.add_argument("--json", help="then read the learned model back into this model JSON (as pull)")
    p.add_argument("--window", type=int, default=WINDOW, help=f"requests in flight (default {WINDOW})")
    p.set_defaults(func=cmd_learn)

    p = sub.add_parser("pull", help="read a learning device's model (DUMP) into a model JSON")
    common(p)
    p.add_argument("--json", required=True, help="the model JSON to write (report, verify and export --model take it)")
    p.add_argument("--load", action="store_true", help="LOAD the saved state first")
    p.set_defaults(func=cmd_pull)
