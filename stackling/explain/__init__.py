"""Explain placement: why a server or volume landed where it did, or why it failed.

The chain comes from the recorded decisions (``stackling.decisions``). Each fix offered
is checked by re-running the decisions with that one change (``counterfactuals``), never
guessed. Served to admins at ``GET /_stackling/explain/{servers|volumes}/{id}`` on the
identity port, and printed by ``stackling explain``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackling import decisions, exception, policy
from stackling.web.app import Request, json_response

if TYPE_CHECKING:
    from stackling.cloud import Cloud

policy.register({"stackling:explain": policy.ADMIN})

# kind -> fns(cloud, resource_id, chain) -> list of fixes (filled on first use).
FIX_FINDERS: dict[str, list] = {"servers": [], "volumes": []}
# kind -> fn(cloud, id_or_name) -> (resource_id, summary dict) ; raises NotFound.
RESOLVERS: dict[str, Any] = {}


def _register() -> None:
    """Nova's and Cinder's resolvers and fix finders (imported late: they import both)."""
    from stackling.explain import servers, volumes

    RESOLVERS.setdefault("servers", servers.resolve_server)
    RESOLVERS.setdefault("volumes", volumes.resolve_volume)
    for kind, finders in (("servers", (servers.find_fixes, volumes.find_fixes)),
                          ("volumes", (volumes.find_fixes,))):
        FIX_FINDERS[kind].extend(f for f in finders if f not in FIX_FINDERS[kind])


def explain(cloud: Cloud, kind: str, ident: str) -> dict[str, Any]:
    _register()
    resolver = RESOLVERS.get(kind)
    if resolver is None:
        raise exception.NotFound(f"stackling cannot explain {kind} yet.")
    resource_id, summary = resolver(cloud, ident)
    chain = decisions.history(cloud, kind[:-1], resource_id)
    fixes: list[dict[str, Any]] = []
    for finder in FIX_FINDERS.get(kind, []):
        fixes.extend(finder(cloud, resource_id, chain))
    if any("works" in f for f in fixes):
        # A finder that re-ran the whole chain (``works`` set, true or false) supersedes
        # the ones that checked only one service's step of it.
        fixes = [f for f in fixes if "works" in f]
    return {"kind": kind[:-1], "id": resource_id, "resource": summary, "chain": chain,
            "fixes": fixes}


def render_text(result: dict[str, Any]) -> str:
    res = result["resource"]
    lines = [f"{result['kind']} {res.get('name') or ''} ({result['id']}): "
             f"status {res.get('status')}"
             + (f", zone {res['availability_zone']}" if res.get("availability_zone") else "")
             + (f", host {res['host']}" if res.get("host") else "")]
    if res.get("fault"):
        lines.append(f"  fault: {res['fault']}")
    lines.append("")
    lines.append("What was decided, in order:")
    if not result["chain"]:
        lines.append("  (no placement decision was recorded)")
    for i, d in enumerate(result["chain"], 1):
        mark = {"ok": "ok", "failed": "FAILED", "fallback": "FALLBACK"}.get(d["outcome"],
                                                                          d["outcome"])
        lines.append(f"  {i}. [{d['service']}] {d['step']}: {mark}")
        for text in d["summary"].splitlines():
            lines.append(f"       {text}")
    works = [f for f in result["fixes"] if f.get("works", True)]
    not_enough = [f for f in result["fixes"] if not f.get("works", True)]
    if works:
        lines.append("")
        lines.append("What would change the outcome (each checked by re-running the "
                     "decisions with that change):")
        for fix in works:
            lines.append(f"  - {fix['change']}")
            lines.append(f"      → {fix['outcome']}")
    if not_enough:
        lines.append("")
        lines.append("Checked the same way, and not enough on its own:")
        for fix in not_enough:
            lines.append(f"  - {fix['change']}")
            lines.append(f"      → {fix['outcome']}")
    return "\n".join(lines) + "\n"


def explain_handler(req: Request, kind: str, ident: str):
    policy.authorize(req.context, "stackling:explain")
    if kind not in ("servers", "volumes"):
        raise exception.NotFound("Only servers and volumes can be explained.")
    result = explain(req.app.cloud, kind, ident)
    if req.GET.get("format") == "text":
        import webob

        resp = webob.Response(content_type="text/plain", charset="utf-8")
        resp.text = render_text(result)
        return resp
    return json_response(result)


ROUTES = [("/_stackling/explain/{kind}/{ident}", {"GET": explain_handler})]
