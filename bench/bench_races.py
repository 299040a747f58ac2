"""Issue 9's long race runs, outside CI: quota usage under N clients creating and deleting
volumes for S seconds (per database), and the delete-during-build race repeated T times.

    python bench/bench_races.py quota --url postgresql --clients 16 --seconds 60
    python bench/bench_races.py race --url sqlite --tries 100

Each prints its figures and exits non-zero when an invariant broke (a 5xx, usage that
differs from what exists, a reservation left, a volume left behind).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import MARIADB_ADMIN, PG_ADMIN  # noqa: E402
from tests.functional.test_bfv import FAST, bfv, image_bdm, upload_image  # noqa: E402
from tests.functional.test_reliability import (  # noqa: E402
    V344,
    create_volume,
    status_of,
    usage_matches_what_exists,
)
from tests.helpers import ApiClient, make_cloud, settle, wait_for  # noqa: E402

ADMINS = {"postgresql": PG_ADMIN, "mariadb": MARIADB_ADMIN}


def scratch_url(kind: str) -> tuple[str | None, object]:
    """A fresh database of that engine (None for SQLite) and how to drop it."""
    if kind == "sqlite":
        return None, lambda: None
    name = f"stackling_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(ADMINS[kind], isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name}")
    return sa.engine.make_url(ADMINS[kind]).set(database=name).render_as_string(
        hide_password=False), drop


def quota(args: argparse.Namespace, cloud, api) -> bool:
    api.put("volume", f"/v3/{api.project_id}/os-quota-sets/{api.project_id}",
            {"quota_set": {"volumes": -1, "gigabytes": -1}})
    deadline = time.monotonic() + args.seconds
    counts = {"requests": 0, "5xx": 0}
    lock = threading.Lock()

    def client(n: int) -> None:
        rnd, mine = random.Random(n), []
        while time.monotonic() < deadline:
            resp = api.post("volume", f"/v3/{api.project_id}/volumes",
                            {"volume": {"size": rnd.choice((1, 2))}})
            with lock:
                counts["requests"] += 1
                counts["5xx"] += resp.status >= 500
            if resp.status == 202:
                mine.append(resp.json["volume"]["id"])
            if mine and rnd.random() < 0.6:
                vid = mine.pop(0)
                for _ in range(200):
                    r = api.delete("volume", f"/v3/{api.project_id}/volumes/{vid}")
                    with lock:
                        counts["requests"] += 1
                        counts["5xx"] += r.status >= 500
                    if r.status != 400:
                        break
                    time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.seconds + 300)
    settle(cloud, timeout=120)
    try:
        usage_matches_what_exists(cloud)
        exact = True
    except AssertionError as exc:
        exact, counts["mismatch"] = False, str(exc)
    print(f"quota on {args.url}: {args.clients} clients × {args.seconds:.0f} s, "
          f"{counts['requests']} requests, {counts['5xx']} answers ≥ 500, usage and "
          f"reservations {'exact' if exact else 'WRONG ' + counts.get('mismatch', '')}")
    return exact and counts["5xx"] == 0


def race(args: argparse.Namespace, cloud, api) -> bool:
    for section, body in (("volume", {"quota_set": {"volumes": -1, "gigabytes": -1}}),
                          ("compute", {"quota_set": {"instances": -1, "cores": -1,
                                                     "ram": -1}})):
        prefix = "/v3" if section == "volume" else "/v2.1"
        api.put(section, f"{prefix}/os-quota-sets/{api.project_id}", body)
    image = upload_image(api)
    kept = create_volume(api, imageRef=image)
    settle(cloud)
    rnd = random.Random(9)
    for i in range(args.tries):
        bdms = [image_bdm(image)] if i % 4 else [
            {"boot_index": 0, "uuid": kept, "source_type": "volume",
             "destination_type": "volume", "delete_on_termination": False}]
        sid = bfv(api, bdms, name=f"race{i}").json["server"]["id"]
        time.sleep(rnd.random() * 0.03)
        api.delete("compute", f"/v2.1/servers/{sid}")
        if not i % 4:
            settle(cloud)
            wait_for(lambda: status_of(api, kept) == "available", timeout=30)
    settle(cloud, timeout=120)
    left = api.get("volume", f"/v3/{api.project_id}/volumes/detail", headers=V344).json
    leaked = [v["id"] for v in left["volumes"] if v["id"] != kept or v["attachments"]]
    print(f"delete during build on {args.url}: {args.tries} tries, {len(leaked)} volumes "
          f"leaked")
    return not leaked


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("quota", "race"))
    ap.add_argument("--url", choices=("sqlite", "postgresql", "mariadb"), default="sqlite")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--tries", type=int, default=100)
    args = ap.parse_args()
    url, drop = scratch_url(args.url)
    cloud = make_cloud(Path(tempfile.mkdtemp(prefix="stackling-races-")), nova=FAST,
                       database_url=url)
    try:
        api = ApiClient(cloud)
        api._token = api.login()
        ok = (quota if args.what == "quota" else race)(args, cloud, api)
    finally:
        cloud.stop()
        drop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
