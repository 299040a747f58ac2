"""Shared fixtures: in-process clouds and clients, live clouds, and database URLs."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tests.helpers import ApiClient, LiveCloud, make_cloud, unavailable

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/test"


@pytest.fixture
def cloud_factory(tmp_path):
    """make(nova=..., cinder=..., stackling=..., topology=..., database_url=...,
    glance=...) -> Cloud."""
    clouds = []

    def make(**kwargs):
        cloud = make_cloud(tmp_path / f"cloud{len(clouds)}", **kwargs)
        clouds.append(cloud)
        return cloud

    yield make
    for cloud in clouds:
        cloud.stop()


@pytest.fixture
def cloud(cloud_factory):
    return cloud_factory()


@pytest.fixture
def api(cloud) -> ApiClient:
    """Logged in as the admin, scoped to the admin project."""
    return ApiClient(cloud)


@pytest.fixture
def demo(cloud) -> ApiClient:
    """Logged in as the demo user (role member), scoped to the demo project."""
    return ApiClient(cloud, "demo", "demo")


def _scratch_database(admin_url: str, kind: str):
    """Create an empty database on a server; yield its URL; drop it afterwards."""
    name = f"stackling_{uuid.uuid4().hex[:10]}"
    try:
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        unavailable(f"{kind} is not reachable at {admin_url}: {exc.orig}")
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(
        hide_password=False)
    yield url
    with engine.connect() as conn:
        if kind == "postgresql":
            conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        else:
            conn.exec_driver_sql(f"DROP DATABASE {name}")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database_url(request):
    """Each test using this runs on SQLite, PostgreSQL and MariaDB."""
    if request.param == "sqlite":
        yield None
    elif request.param == "postgresql":
        yield from _scratch_database(PG_ADMIN, "postgresql")
    else:
        yield from _scratch_database(MARIADB_ADMIN, "mariadb")


@pytest.fixture(scope="session")
def live_cloud(tmp_path_factory):
    """One cloud started with `stackling start -d` for the end-to-end tests of a session."""
    cloud = LiveCloud(tmp_path_factory.mktemp("live"))
    cloud.start()
    yield cloud
    cloud.stop()
