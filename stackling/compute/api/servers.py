"""/servers: create (202, built by a worker), list/detail, show, update, delete, actions."""

from __future__ import annotations

import ipaddress
import re
import secrets
import traceback
import uuid as uuidlib
from typing import Any

from sqlalchemy import bindparam, select

from stackling import clients, decisions, exception, rpc
from stackling.compute import block_device as bd
from stackling.compute import cinder as volume_api
from stackling.compute import neutron, volume_zones
from stackling.compute.api import (
    common,
    disk_config,
    flavors,
    keypairs,
    quotas,
    server_actions,
    server_groups,
    server_tags,
    server_volumes,
    views,
)
from stackling.compute.objects import bdm, instance_action
from stackling.compute.objects import instance as instances
from stackling.compute.objects import zones as az
from stackling.db.models import Service, utcnow
from stackling.db.models_compute import Instance
from stackling.web.app import Request, empty_response, json_response, read_json

BASE_KEYS = {"name", "imageRef", "flavorRef", "metadata", "availability_zone", "networks",
             "min_count", "max_count", "return_reservation_id", "security_groups",
             "user_data", "config_drive", "key_name", "accessIPv4", "accessIPv6", "adminPass",
             "OS-DCF:diskConfig", "block_device_mapping", "block_device_mapping_v2"}



def _base(req: Request) -> str:
    return req.app.cloud.public_url("compute")


def access_ip(field: str, value: Any, family: int) -> str | None:
    """accessIPv4/accessIPv6 as Nova stores them: validated, IPv6 compressed (netaddr str)."""
    import ipaddress

    if value is None:
        return None
    kind = f"ipv{family}"
    try:
        addr = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        addr = None
    if addr is None or addr.version != family:
        raise exception.ValidationError(field=field, value=value,
                                        detail=f"{value!r} is not a '{kind}'")
    return str(addr)


# -- reading ---------------------------------------------------------------------------


def _data(s, inst, faults: dict[str, dict], services: dict,
          down_time: int, volumes: list[tuple[str, bool]], metadata: dict[str, str],
          host_zones: dict[str, str] | None = None) -> views.ServerData:
    from stackling import servicegroup

    svc = services.get(inst.host or "")
    return views.ServerData(
        uuid=inst.uuid, id=inst.id, name=inst.display_name, project_id=inst.project_id,
        user_id=inst.user_id, vm_state=inst.vm_state, task_state=inst.task_state,
        power_state=inst.power_state, host=inst.host, node=inst.node,
        availability_zone=(host_zones or {}).get(inst.host or "", inst.availability_zone)
        if host_zones is not None and inst.host else inst.availability_zone,
        requested_az=inst.requested_az, volumes=volumes,
        image_ref=inst.image_ref, flavor=inst.flavor,
        metadata=metadata,
        created_at=inst.created_at, updated_at=inst.updated_at,
        launched_at=inst.launched_at, terminated_at=inst.terminated_at,
        description=inst.display_description, hostname=inst.hostname, key_name=inst.key_name,
        user_data=inst.user_data, config_drive=inst.config_drive,
        access_ip_v4=inst.access_ip_v4, access_ip_v6=inst.access_ip_v6,
        reservation_id=inst.reservation_id, launch_index=inst.launch_index,
        locked=inst.locked, locked_reason=inst.locked_reason, tags=inst.tags or [],
        scheduler_hints=inst.scheduler_hints or {}, fault=faults.get(inst.uuid),
        host_up=servicegroup.is_up(svc, down_time) if svc else None,
        host_disabled=bool(svc and svc.disabled), deleted=bool(inst.deleted))


def _load(req: Request, insts: list, s) -> list[views.ServerData]:
    """What the views show of these instances (ORM objects or read-only rows)."""
    # A fault shows in ERROR and DELETED only, whose vm_states are these.
    faults = instances.faults_of(s, [i.uuid for i in insts
                                     if i.vm_state in ("error", "deleted")])
    # The hosts' services give host_status only, and only where it is shown.
    services = az.computes_on(s, {i.host for i in insts if i.host}) \
        if _shows_host_status(req) else {}
    down_time = az.down_time(common.conf(req))
    volumes = bdm.volumes_of(s, [i.uuid for i in insts])
    host_zones = None
    if volume_zones.is_2016(req.app.cloud.config.stackling.stackling.behaviour_release):
        # 2016 kept the requested zone on the instance; the view showed the host's zone.
        conf = common.conf(req)
        zones = az.host_zones(s, {i.host for i in insts if i.host})
        host_zones = {i.host: zones.get(i.host, conf.default_availability_zone)
                      for i in insts if i.host}
    metadata = instances.metadata_of(s, [i.id for i in insts])
    out = [_data(s, i, faults, services, down_time, volumes.get(i.uuid, []),
                 metadata.get(i.id, {}), host_zones) for i in insts]
    networks = neutron.server_networks(req.app.cloud, req.context, [d.uuid for d in out])
    for d in out:
        addresses, d.security_groups = networks[d.uuid]
        if d.vm_state != "building":      # Nova hides the addresses while building
            d.addresses = addresses
    return out


def _shows_host_status(req: Request) -> bool:
    return req.version.matches("2.16") and common.can(
        req, "os_compute_api:servers:show:host_status")


def _view(req: Request, d: views.ServerData, reduced: bool = False,
          server_groups: bool = True) -> dict:
    return views.show(
        d, req.version, _base(req), req.context.project_id, is_admin=req.context.is_admin,
        show_host_status=_shows_host_status(req),
        show_extra_specs=common.can(req, "os_compute_api:os-flavor-extra-specs:index",
                                    {"project_id": req.context.project_id}),
        reduced=reduced, show_server_groups=server_groups)


def show_server(req: Request, server_id: str):
    with req.app.cloud.db.reader() as s:
        inst = instances.visible_row(s, req.context, server_id)
        common.authorize(req, "os_compute_api:servers:show", {"project_id": inst.project_id})
        data = _load(req, [inst], s)[0]
    return json_response({"server": _view(req, data)})


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "t", "yes", "y", "on", "")


_INSTANCES = Instance.__table__
# The server list's SQL filters, each on a bind parameter of its name (values: _list).
_LIST_FILTERS: dict[str, Any] = {
    "project_id": lambda c: c.project_id == bindparam("project_id"),
    "changes_since": lambda c: c.updated_at >= bindparam("changes_since"),
    "live": lambda c: c.deleted == 0,
    "changes_before": lambda c: c.updated_at <= bindparam("changes_before"),
    "vm_state": lambda c: c.vm_state == bindparam("vm_state"),
    "rebooting": lambda c: c.task_state.in_(("rebooting", "reboot_pending",
                                             "reboot_started")),
    "availability_zone": lambda c: c.availability_zone == bindparam("availability_zone"),
    "host": lambda c: c.host == bindparam("host"),
    "node": lambda c: c.node == bindparam("node"),
    "flavor": lambda c: c.flavor["id"].as_string() == bindparam("flavor"),
    "image": lambda c: c.image_ref == bindparam("image"),
    "reservation_id": lambda c: c.reservation_id == bindparam("reservation_id"),
    "uuids": lambda c: c.uuid.in_(bindparam("uuids", expanding=True)),
}
_LISTS: dict[tuple, Any] = {}
# What the index (not detail) reads: its view shows ids and names; tags only to filter.
_INDEX_COLUMNS = ("uuid", "display_name")


def _list_statement(filters: dict[str, Any], columns: tuple[str, ...] | None = None) -> Any:
    """The list filtered on ``filters``' names, built once per set of names: building and
    keying a new statement costs more than running it (clients poll the list while their
    servers build). ``columns``: only these (the index: decoding the JSON columns of every
    row it does not show was most of a polled list's cost); None: whole rows. Read-only
    rows: the views only read them."""
    names = tuple(name for name in _LIST_FILTERS if name in filters)
    stmt = _LISTS.get((names, columns))
    if stmt is None:
        c = _INSTANCES.c
        stmt = select(*(c[k] for k in columns)) if columns else select(_INSTANCES)
        stmt = (stmt.where(*(_LIST_FILTERS[name](c) for name in names))
                .order_by(c.created_at.desc(), c.id.desc()))
        stmt = _LISTS.setdefault((names, columns), stmt)
    return stmt


def _list(req: Request, detail: bool):
    ctx = req.context
    rule = "os_compute_api:servers:detail" if detail else "os_compute_api:servers:index"
    common.authorize(req, rule, {"project_id": ctx.project_id})
    params = req.GET
    admin = common.can(req, "os_compute_api:servers:allow_all_filters")
    f: dict[str, Any] = {}      # the SQL filters (_LIST_FILTERS) with their values
    all_tenants = "all_tenants" in params and _truthy(params.get("all_tenants"))
    if all_tenants:
        common.authorize(req, rule + ":get_all_tenants")
        project = params.get("project_id") or params.get("tenant_id")
        if project:
            f["project_id"] = project
    else:
        f["project_id"] = ctx.project_id
    since = params.get("changes-since")
    if since:
        f["changes_since"] = _query_time("changes-since", since)
    else:
        f["live"] = None
    before = params.get("changes-before") if req.version.matches("2.66") else None
    if before:
        f["changes_before"] = _query_time("changes-before", before)
    status = params.get("status")
    if status:
        vm_state = views.STATUS_TO_VM.get(status.upper())
        if vm_state is None:
            return json_response({"servers": []})
        f["vm_state"] = vm_state
        if status.upper() == "REBOOT":
            f["rebooting"] = None
    if admin or req.version.matches("2.83"):
        if params.get("availability_zone"):
            f["availability_zone"] = params["availability_zone"]
    if admin:
        if params.get("host"):
            f["host"] = params["host"]
        if params.get("node"):
            f["node"] = params["node"]
    for key in ("flavor", "image", "reservation_id"):
        if params.get(key):
            f[key] = params[key]
    ips = [params[k] for k in ("ip", "ip6") if params.get(k) and (
        k == "ip" or admin or req.version.matches("2.5"))]
    if ips:      # Nova asks Neutron which servers have such an address
        f["uuids"] = list(neutron.instance_uuids_by_ip(req.app.cloud, ctx, ips))
    by_tags = req.version.matches("2.26") and any(
        k in params for k in ("tags", "tags-any", "not-tags", "not-tags-any"))
    columns = None if detail else _INDEX_COLUMNS + (("tags",) if by_tags else ())
    q = _list_statement(f, columns)
    with req.app.cloud.db.reader() as s:
        rows = s.execute(q, f).all()
        name = params.get("name")
        if name:
            matches = common.name_matcher("name", name)
            rows = [i for i in rows if matches(i.display_name)]
        if by_tags:
            rows = [i for i in rows if server_tags.matches(i.tags, params)]
        marker = params.get("marker")
        if marker:
            ids = [i.uuid for i in rows]
            if marker not in ids:
                raise exception.BadRequest(f"marker [{marker}] not found")
            rows = rows[ids.index(marker) + 1:]
        max_limit = common.conf(req).api.max_limit
        limit = params.get("limit")
        n = min(common.validate_integer(limit, "limit", 0), max_limit) if limit is not None \
            else max_limit
        more = len(rows) > n or (limit is not None and len(rows) == n and n > 0)
        rows = rows[:n]
        # The index shows ids and names only: nothing else to read for it.
        data = _load(req, rows, s) if detail else rows
    body: dict[str, Any] = {"servers": [
        _view(req, d, server_groups=False) for d in data] if detail else [
        views.basic(r.uuid, r.display_name, _base(req), ctx.project_id) for r in data]}
    if more and data and len(data) == n:
        path = "servers/detail" if detail else "servers"
        extra = "".join(f"&{k}={v}" for k, v in params.items() if k not in ("limit", "marker"))
        body["servers_links"] = [{"rel": "next", "href": (
            f"{_base(req)}/v2.1/{ctx.project_id}/{path}?limit={n}{extra}"
            f"&marker={data[-1].uuid}")}]
    return json_response(body)


def _query_time(name: str, text: str):
    """A date-time query parameter, with Nova's query-schema 400."""
    try:
        return _parse_time(text)
    except ValueError:
        raise exception.BadRequest(
            f"Invalid input for query parameters {name}. Value: {text}. '{text}' is not "
            "a 'date-time'") from None


def _parse_time(text: str):
    import datetime as dt

    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def list_servers(req: Request):
    return _list(req, detail=False)


def list_servers_detail(req: Request):
    return _list(req, detail=True)


# -- create ----------------------------------------------------------------------------


def parse_availability_zone(value: Any) -> tuple[str | None, str | None, str | None]:
    """``zone``, ``zone:host``, ``zone::node`` or ``zone:host:node`` (API.parse_availability_zone)."""
    if value is None:
        return None, None, None
    if value.count(":") > 2:
        raise exception.InvalidInput(reason="Unable to parse availability_zone")
    parts = value.split(":")
    parts += [""] * (3 - len(parts))
    zone, host, node = (p or None for p in parts)
    return zone, host, node


def _allowed_keys(req: Request) -> set[str]:
    keys = set(BASE_KEYS) | {"os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"}
    v = req.version
    if not v.matches("2.57"):
        keys.add("personality")
    if v.matches("2.19"):
        keys.add("description")
    if v.matches("2.52"):
        keys.add("tags")
    if v.matches("2.63"):
        keys.add("trusted_image_certificates")
    if v.matches("2.74"):
        keys |= {"host", "hypervisor_hostname"}
    if v.matches("2.90"):
        keys.add("hostname")
    return keys


def _check_image(req: Request, image_ref: str) -> dict:
    """The image must exist in the Image API (once that API serves /v2/images/{id})."""
    client = clients.ServiceClient.for_context(req.context, "image")
    try:
        image = client.get(f"/v2/images/{image_ref}")
    except clients.ApiError as err:
        if err.status != 404:
            raise exception.BadRequest("Can not find requested image") from None
        # A 404 for the route itself means the Image API has no image resource yet.
        try:
            client.get("/v2/images")
        except clients.ApiError as listing:
            if listing.status == 404:
                return {}
        raise exception.BadRequest("Can not find requested image") from None
    except KeyError:  # no image app in this process
        return {}
    if isinstance(image, dict) and image.get("status", "active") != "active":
        raise exception.BadRequest(f"Image {image_ref} is not active.")
    return image if isinstance(image, dict) else {}


def _check_image_fits(image: dict, flavor: dict) -> None:
    """nova.compute.api._validate_flavor_image_nostatus: min_ram, then min_disk."""
    min_ram = int(image.get("min_ram") or 0)
    if min_ram and flavor["ram"] < min_ram:
        raise exception.BadRequest("Flavor's memory is too small for requested image.")
    min_disk = int(image.get("min_disk") or 0)
    if min_disk and flavor["disk"] and flavor["disk"] < min_disk:
        raise exception.BadRequest("Flavor's disk is too small for requested image.")


def _check_security_groups(req: Request, requested: Any) -> None:
    """Each requested group must exist for the project (API._check_requested_secgroups)."""
    if requested is None:
        return
    if not isinstance(requested, list) or not all(isinstance(g, dict) for g in requested):
        raise exception.ValidationError(field="security_groups", value=requested,
                                        detail=f"{requested!r} is not of type 'array'")
    for name in sorted({g["name"] for g in requested if g.get("name")}):
        neutron.check_security_group(req.app.cloud, req.context, str(name))


def _networks(req: Request, server: dict) -> list[dict] | None:
    """The requested networks, checked as nova-api checks them (schema, then Neutron).

    Returns entries of ``network_id``/``port_id``/``fixed_ip``/``tag``; ``[]`` for none.
    """
    if req.version.matches("2.37") and "networks" not in server:
        raise exception.ValidationError(field="server", value=server,
                                        detail="'networks' is a required property")
    nets = server.get("networks")
    if nets is None and "networks" in server:
        raise exception.ValidationError(field="networks", value=nets,
                                        detail="None is not valid under any of the given "
                                               "schemas")
    if isinstance(nets, str) and nets in ("auto", "none"):
        if not req.version.matches("2.37"):
            raise exception.ValidationError(field="networks", value=nets,
                                            detail=f"{nets!r} is not of type 'array'")
    elif nets is not None and not isinstance(nets, list):
        raise exception.ValidationError(field="networks", value=nets,
                                        detail=f"{nets!r} is not valid under any of the "
                                               "given schemas")
    if nets == "none":
        return []
    requested = _parse_networks(req, nets) if isinstance(nets, list) else None
    ctx = req.context
    api = neutron.NeutronAPI(req.app.cloud, ctx.token or "", ctx.project_id or "")
    if requested is None:
        chosen = api.auto_network() if nets == "auto" else api.default_network()
        return [{"network_id": chosen}] if chosen else []
    api.validate(requested)
    return requested


def _parse_networks(req: Request, nets: list) -> list[dict]:
    out, ports = [], set()
    for net in nets:
        if not isinstance(net, dict):
            raise exception.ValidationError(field="networks", value=net,
                                            detail=f"{net!r} is not of type 'object'")
        allowed = {"uuid", "port", "fixed_ip"} | ({"tag"} if req.version.matches("2.42") or
                                                  str(req.version) == "2.32" else set())
        common.reject_extra("networks", net, allowed)
        port, uuid, fixed_ip = net.get("port"), net.get("uuid"), net.get("fixed_ip")
        if port:
            if port in ports:
                raise exception.BadRequest(f"Port ID '{port}' was specified twice: you cannot "
                                           f"attach a port multiple times.")
            ports.add(port)
            if fixed_ip:
                raise exception.BadRequest(f"Specified Fixed IP '{fixed_ip}' cannot be used "
                                           f"with port '{port}': the two cannot be specified "
                                           f"together.")
        elif not uuid:
            raise exception.BadRequest("Bad network format: missing 'uuid'")
        elif not _is_uuid(uuid):
            if req.version.matches("2.37"):
                raise exception.ValidationError(field="uuid", value=uuid,
                                                detail=f"{uuid!r} is not a 'uuid'")
            raise exception.BadRequest(f"Bad networks format: network uuid is not in proper "
                                       f"format ({uuid})")
        if fixed_ip is not None:
            try:
                ipaddress.ip_address(fixed_ip)
            except ValueError:
                raise exception.ValidationError(
                    field="fixed_ip", value=fixed_ip,
                    detail=f"{fixed_ip!r} is not a 'ip-address'") from None
        out.append({"network_id": None if port else uuid, "port_id": port,
                    "fixed_ip": fixed_ip, "tag": net.get("tag")})
    return out


def _is_uuid(value: Any) -> bool:
    try:
        uuidlib.UUID(str(value))
    except ValueError:
        return False
    return True


def create_server(req: Request):
    """202 with id, links, adminPass; the build goes on in a worker."""
    ctx = req.context
    cloud = req.app.cloud
    conf = common.conf(req)
    body = read_json(req)
    server = common.body_key(body, "server")
    common.reject_extra("server", server, _allowed_keys(req))
    target = {"project_id": ctx.project_id, "user_id": ctx.user_id}
    common.authorize(req, "os_compute_api:servers:create", target)
    if "name" not in server:
        raise exception.ValidationError(field="server", value=server,
                                        detail="'name' is a required property")
    name = common.check_name("name", server["name"])
    access_ip("accessIPv4", server.get("accessIPv4"), 4)     # 400 before anything is made
    access_ip("accessIPv6", server.get("accessIPv6"), 6)
    requested_disk = disk_config.from_api("server", server)
    if "flavorRef" not in server:
        raise exception.ValidationError(field="server", value=server,
                                        detail="'flavorRef' is a required property")
    bdms, legacy_bdm, image_ref = server_volumes.parse(server, req.version)
    if bdms:
        common.authorize(req, "os_compute_api:servers:create:attach_volume", target)
    if image_ref:
        image_ref = str(image_ref).rstrip("/").rsplit("/", 1)[-1]
        try:
            uuidlib.UUID(image_ref)
        except ValueError:
            raise exception.BadRequest("Invalid imageRef provided.") from None
    server["_requested_networks"] = _networks(req, server)
    metadata = server.get("metadata", {})
    if not isinstance(metadata, dict) or any(
            not isinstance(v, str) or not 1 <= len(k) <= 255 or len(v) > 255
            for k, v in metadata.items()):
        raise exception.ValidationError(field="metadata", value=metadata,
                                        detail="is not a valid metadata dict")
    with cloud.db.reader() as s:
        quotas.check_metadata(s, conf, ctx.project_id, len(metadata))
    if server.get("key_name") is not None:
        server["key_name"] = keypairs.check_key_name(cloud, ctx.user_id, server["key_name"])
    if server.get("trusted_image_certificates"):
        raise exception.BadRequest(
            "Image signature certificate validation support is not yet enabled.")
    # zone (reference 3.5)
    zone_value = server.get("availability_zone")
    if zone_value is not None:
        common.check_name("availability_zone", zone_value)
    zone, force_host, force_node = parse_availability_zone(zone_value)
    if force_host or force_node:
        common.authorize(req, "os_compute_api:servers:create:forced_host", {})
    if zone is None and conf.default_schedule_zone:
        zone = conf.default_schedule_zone
    # Nova takes the hints beside "server" in the body (some clients put them inside).
    raw_hints = (body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints")
                 or server.get("os:scheduler_hints")
                 or server.get("OS-SCH-HNT:scheduler_hints") or {})
    if not isinstance(raw_hints, dict):
        raise exception.ValidationError(field="os:scheduler_hints", value=raw_hints,
                                        detail=f"{raw_hints!r} is not of type 'object'")
    hints: dict[str, Any] = dict(raw_hints)
    server_groups.check_hint(req, hints)
    requested_host = server.get("host")
    requested_node = server.get("hypervisor_hostname")
    with cloud.db.reader() as s:
        if zone and not force_host:
            if zone not in az.available_zones(s, conf):
                raise exception.BadRequest("The requested availability zone is not available")
        if requested_host or requested_node:
            common.authorize(req, "os_compute_api:servers:create:requested_destination", {})
            names = {r.host for r in s.scalars(select(Service).where(
                Service.project == "nova", Service.binary == "nova-compute"))}
            for wanted in (requested_host, requested_node):
                if wanted and wanted not in names:
                    raise exception.BadRequest(f"Compute host {wanted} could not be found.")
        if force_host:
            host_zones = az.host_zones(s, [force_host])
            if force_host in host_zones:
                zone = host_zones[force_host] if zone != host_zones[force_host] else zone
            elif zone != conf.default_availability_zone:
                zone = None
    for key, value in (("_force_host", force_host), ("_force_node", force_node),
                       ("_requested_host", requested_host),
                       ("_requested_node", requested_node)):
        if value:
            hints[key] = value
    flavor_id = str(server["flavorRef"]).rstrip("/").rsplit("/", 1)[-1]
    try:
        flavor = flavors.get(cloud, flavor_id, ctx)
    except flavors.FlavorNotFound as exc:
        raise exception.BadRequest(exc.message) from None
    if flavor["disabled"]:
        raise exception.BadRequest(f"Flavor {flavor_id} could not be found.")
    image = _check_image(req, image_ref) if image_ref else None
    if image:
        _check_image_fits(image, flavor)
    if disk_config.inherit(image_ref, (image or {}).get("auto_disk_config"), requested_disk):
        hints[disk_config.HINT] = True
    _check_security_groups(req, server.get("security_groups"))
    server["_security_groups"] = list(dict.fromkeys(
        g["name"] for g in server.get("security_groups") or [] if g.get("name")))
    min_count = common.validate_integer(server.get("min_count", 1), "min_count", 1)
    max_count = common.validate_integer(server.get("max_count", min_count), "max_count", 1)
    if min_count > max_count:
        raise exception.BadRequest("min_count must be <= max_count")
    plan = None
    requested_zone = zone
    if bdms or bd.image_defined(image or {}):
        with cloud.db.reader() as s:
            quotas.check_instances(s, conf, ctx.project_id, flavor["vcpus"], flavor["ram"],
                                   min_count, max_count)
        plan = server_volumes.prepare(req, server, bdms, legacy_bdm, image_ref, flavor,
                                      image, zone, min_count, max_count)
        image_ref, zone = plan.image_ref, plan.zone
        if plan.is_bfv:
            hints["_is_bfv"] = True
    release = cloud.config.stackling.stackling.behaviour_release
    flavor_snapshot = {k: flavor[k] for k in ("id", "name", "ram", "vcpus", "disk",
                                              "ephemeral", "swap", "extra_specs")}
    reservation_id = "r-" + secrets.token_hex(4)
    tags = server.get("tags") or []
    hostname = server.get("hostname") or re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    created: list[str] = []
    first_uuid = str(uuidlib.uuid4())
    if plan is not None:
        server_volumes.reserve(req, first_uuid, plan.bdms, release)
    try:
        with cloud.db.writer() as s:
            count = quotas.check_instances(s, conf, ctx.project_id, flavor["vcpus"],
                                           flavor["ram"], min_count, max_count)
            _add_instances(s, req, server, count, first_uuid, name, hostname, image_ref,
                           flavor_snapshot, flavor, reservation_id, tags, zone, hints,
                           metadata, plan, created)
            if plan is not None or requested_zone != zone:
                for uuid in created:
                    _record_zone(cloud, ctx, uuid, requested_zone, zone, plan, s)
    except Exception:
        if plan is not None:
            server_volumes.local_cleanup_reservations(cloud, ctx, plan.bdms)
        raise
    caller = volume_api.Caller.from_context(ctx).as_dict()
    for i, uuid in enumerate(created):
        try:
            cloud.rpc.cast("scheduler", "build_instance", instance_uuid=uuid, caller=caller)
        except Exception as exc:
            # The message bus refused the cast: the servers it did not reach go to ERROR
            # (never left in BUILD/scheduling with nobody to schedule them); 500.
            for left in created[i:]:
                instances.fail_build(cloud, left, type(exc).__name__, traceback.format_exc())
            raise
    if server.get("return_reservation_id"):
        return json_response({"reservation_id": reservation_id}, status=202)
    links = views.links(_base(req), ctx.project_id, created[0])
    result = {"id": created[0], "links": links, "OS-DCF:diskConfig": disk_config.view(hints),
              "security_groups": server.get("security_groups", [{"name": "default"}]),
              "adminPass": server.get("adminPass") or secrets.token_urlsafe(9)}
    return json_response({"server": result}, status=202,
                         headers={"Location": links[0]["href"]})


def _add_instances(s, req: Request, server: dict, count: int, first_uuid: str, name: str,
                   hostname: str, image_ref: str, flavor_snapshot: dict, flavor: dict,
                   reservation_id: str, tags: list, zone: str | None, hints: dict,
                   metadata: dict, plan, created: list[str]) -> None:
    ctx = req.context
    for index in range(count):
        uuid = instances.add(
            s, metadata,
            uuid=first_uuid if index == 0 else str(uuidlib.uuid4()),
            project_id=ctx.project_id, user_id=ctx.user_id or "",
            display_name=name if count == 1 else f"{name}-{index + 1}",
            display_description=server.get("description"),
            hostname=hostname if count == 1 else f"{hostname}-{index + 1}",
            vm_state="building", task_state="scheduling", power_state=0,
            image_ref=image_ref, flavor=flavor_snapshot, vcpus=flavor["vcpus"],
            memory_mb=flavor["ram"], root_gb=flavor["disk"],
            ephemeral_gb=flavor["ephemeral"], user_data=server.get("user_data"),
            config_drive="True" if server.get("config_drive") else "",
            access_ip_v4=access_ip("accessIPv4", server.get("accessIPv4"), 4),
            access_ip_v6=access_ip("accessIPv6", server.get("accessIPv6"), 6),
            reservation_id=reservation_id, launch_index=index, tags=list(tags),
            key_name=server.get("key_name"),
            requested_networks=server.get("_requested_networks") or [],
            security_groups=server.get("_security_groups") or [],
            availability_zone=zone, requested_az=zone, scheduler_hints=hints,
            updated_at=utcnow())
        instance_action.record(s, ctx, uuid, instance_action.CREATE)
        if plan is not None:
            bdms = plan.bdms if index == 0 else [
                {k: v for k, v in b.items() if k != "attachment_id"} for b in plan.bdms]
            bdm.add_all(s, uuid, [dict(b) for b in bdms])
        created.append(uuid)


def _record_zone(cloud, ctx, uuid: str, requested: str | None, zone: str | None,
                 plan, session) -> None:
    """The server's zone decision, written with the server's row."""
    conf = cloud.config
    if requested == zone:
        summary = (f"Server zone: {zone} (requested or [DEFAULT] default_schedule_zone)"
                   if zone else "No zone requested and [DEFAULT] default_schedule_zone is "
                   "unset: the server may go to any host")
        outcome = decisions.OK
    else:
        summary = (f"No zone requested; [cinder] cross_az_attach = False and the volumes "
                   f"are in {zone}: the server is placed in the volumes' zone {zone}")
        outcome = decisions.OK
    decisions.record(cloud, resource_type="server", resource_id=uuid, service="nova-api",
                     step="server zone", outcome=outcome, summary=summary,
                     request_id=ctx.request_id, session=session,
                     inputs={"requested_az": requested, "zone": zone,
                             "default_schedule_zone": conf.nova.default_schedule_zone,
                             "cross_az_attach": conf.nova.cinder.cross_az_attach,
                             "release": conf.stackling.stackling.behaviour_release,
                             "volumes": {k: v.get("availability_zone")
                                         for k, v in (plan.volumes if plan else {}).items()}})


# -- update, delete, actions -----------------------------------------------------------


def update_server(req: Request, server_id: str):
    data = common.body_key(read_json(req), "server")
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    if req.version.matches("2.19"):
        allowed.add("description")
    if req.version.matches("2.90"):
        allowed.add("hostname")
    common.reject_extra("server", data, allowed)
    with req.app.cloud.db.writer() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:servers:update", {"project_id": inst.project_id})
        values = {"updated_at": utcnow()}
        if "name" in data:
            values["display_name"] = common.check_name("name", data["name"])
        if "description" in data:
            values["display_description"] = data["description"]
        if "hostname" in data:
            values["hostname"] = data["hostname"]
        if "accessIPv4" in data:
            values["access_ip_v4"] = access_ip("accessIPv4", data["accessIPv4"], 4)
        if "accessIPv6" in data:
            values["access_ip_v6"] = access_ip("accessIPv6", data["accessIPv6"], 6)
        auto_disk = disk_config.from_api("server", data)
        if auto_disk is not None:
            values["scheduler_hints"] = disk_config.with_setting(inst.scheduler_hints, auto_disk)
        instances.update_fields(inst, **values)
        s.flush()
        d = _load(req, [inst], s)[0]
    return json_response({"server": _view(req, d, reduced=True)})



def delete_server(req: Request, server_id: str):
    """204; a scheduled server is torn down by its compute host, others go at once."""
    cloud = req.app.cloud
    with cloud.db.writer() as s:
        inst = instances.get(s, req.context, server_id)
        common.authorize(req, "os_compute_api:servers:delete", {"project_id": inst.project_id})
        server_actions.check_locked(req, inst)
        instance_action.record(s, req.context, inst.uuid, instance_action.DELETE)
        networking = {"requested": inst.requested_networks, "info": inst.network_info,
                      "project_id": inst.project_id}
        host = inst.host
        # Nova's servicegroup check: a cast to a down host would only wait in its queue.
        host_up = bool(host) and any(
            svc.up for svc in az.nova_services(s, cloud.config.nova, host, "nova-compute"))
        deleted, bdms = False, []
        if host_up or not host:
            deleted, host, bdms = instances.begin_delete(s, server_id)
            host_up = bool(host)
    caller = volume_api.Caller.from_context(req.context)
    if deleted:
        # Never reached a host: the API cleans up the volumes (_local_cleanup_bdm_volumes).
        server_volumes.local_cleanup(cloud, caller, server_id, bdms)
        neutron.deallocate_for_instance(cloud, server_id, networking, caller.token)
        return empty_response(204)
    if host_up:
        try:
            cloud.rpc.cast(f"compute.{host}", "terminate_instance", instance_uuid=server_id,
                           caller=caller.as_dict(), request_id=req.context.request_id)
            return empty_response(204)
        except rpc.NoSuchTopic:  # in-process: no manager for this host any more
            pass
    # Its nova-compute is down (or gone): the API deletes locally (Nova's _local_delete),
    # cleaning up the volumes.
    server_volumes.local_cleanup(cloud, caller, server_id)
    neutron.deallocate_for_instance(cloud, server_id, networking, caller.token)
    instances.delete_instance_row(cloud, server_id, release_claim=True)
    return empty_response(204)




# -- metadata --------------------------------------------------------------------------


def _meta(req: Request, server_id: str, rule: str, update=None):
    writer = update is not None
    ctx_manager = req.app.cloud.db.writer() if writer else req.app.cloud.db.reader()
    with ctx_manager as s:
        inst = instances.get(s, req.context, server_id, metadata=True)
        common.authorize(req, f"os_compute_api:server-metadata:{rule}",
                         {"project_id": inst.project_id})
        if update is not None:
            update(inst)
            if rule != "delete":      # Nova checks the merged metadata against the quota
                quotas.check_metadata(s, common.conf(req), inst.project_id,
                                      len(inst.metadata_items))
            instances.update_fields(inst, updated_at=utcnow())
            s.flush()
        return {m.key: m.value for m in inst.metadata_items}


def _set_meta(inst: Instance, values: dict, replace: bool) -> None:
    for k, v in values.items():
        if not isinstance(v, str) or not 1 <= len(k) <= 255 or len(v) > 255:
            raise exception.ValidationError(field="metadata", value=values,
                                            detail="is not a valid metadata dict")
    instances.set_metadata(inst, values, replace)


def list_metadata(req: Request, server_id: str):
    return json_response({"metadata": _meta(req, server_id, "index")})


def create_metadata(req: Request, server_id: str):
    values = common.body_key(read_json(req), "metadata")
    return json_response({"metadata": _meta(req, server_id, "create",
                                            lambda i: _set_meta(i, values, False))})


def replace_metadata(req: Request, server_id: str):
    values = common.body_key(read_json(req), "metadata")
    return json_response({"metadata": _meta(req, server_id, "update_all",
                                            lambda i: _set_meta(i, values, True))})


def show_metadata_item(req: Request, server_id: str, key: str):
    meta = _meta(req, server_id, "show")
    if key not in meta:
        raise exception.NotFound("Metadata item was not found")
    return json_response({"meta": {key: meta[key]}})


def update_metadata_item(req: Request, server_id: str, key: str):
    values = common.body_key(read_json(req), "meta")
    if key not in values:
        raise exception.BadRequest("Request body and URI mismatch")
    if len(values) > 1:
        raise exception.BadRequest("Request body contains too many items")
    _meta(req, server_id, "update", lambda i: _set_meta(i, values, False))
    return json_response({"meta": values})


def delete_metadata_item(req: Request, server_id: str, key: str):
    def drop(inst: Instance) -> None:
        if not instances.delete_metadata_item(inst, key):
            raise exception.NotFound("Metadata item was not found")

    _meta(req, server_id, "delete", drop)
    return empty_response(204)
