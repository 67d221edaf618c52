"""Parsing CLUSTER NODES, CLUSTER SLOTS and CLUSTER INFO into the answers' shapes."""

from __future__ import annotations

from typing import Any

MAX_SLOTS = 16384


def text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def number_or_text(value: str) -> int | str:
    stripped = value.strip()
    if stripped.lstrip("-").isdigit():
        return int(stripped)
    return stripped


def parse_cluster_info(raw: Any) -> dict[str, int | str]:
    """``field:value`` lines, numbers as integers."""
    info: dict[str, int | str] = {}
    for line in text(raw).splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            info[name.strip()] = number_or_text(value)
    return info


def slot_range(entry: str) -> dict[str, int]:
    """``"0-5460"`` or ``"5461"`` as ``{"start", "end"}`` (the reference's shape)."""
    start, _, end = entry.partition("-")
    return {"start": int(start), "end": int(end or start)}


def slot_range_size(entry: str) -> int:
    bounds = slot_range(entry)
    return bounds["end"] - bounds["start"] + 1


def role_of(flags: list[str]) -> str:
    if "master" in flags:
        return "master"
    if "slave" in flags:
        return "replica"
    return "unknown"


def parse_cluster_nodes(raw: Any) -> list[dict[str, Any]]:
    """One entry per line of CLUSTER NODES, ordered by address.

    Line format: ``<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent>
    <pong-recv> <config-epoch> <link-state> <slot> ...``; migrating/importing entries
    (``[slot->-id]``) are not slots the node owns. ``ping_sent``/``pong_recv`` are the
    digits as written, ``slot_ranges`` ``{start, end}`` objects (the reference's types);
    ``ping_sent_ms``/``pong_recv_ms`` and ``slots`` give them as numbers and as text.
    """
    nodes: list[dict[str, Any]] = []
    for line in text(raw).splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        node_id, address, flags, master, ping, pong, epoch, link = parts[:8]
        host, _, port = address.split("@", 1)[0].rpartition(":")
        flag_list = [flag for flag in flags.split(",") if flag]
        ranges = [entry for entry in parts[8:] if not entry.startswith("[")]
        nodes.append(
            {
                "node_id": node_id,
                "host": host,
                "port": int(port) if port.isdigit() else 0,
                "role": role_of(flag_list),
                "flags": flag_list,
                "master_id": None if master == "-" else master,
                # the reference's types: the times as CLUSTER NODES writes them, ranges as
                # objects; the same values as numbers and texts under keys of our own
                "ping_sent": ping,
                "pong_recv": pong,
                "config_epoch": int(epoch),
                "link_state": link,
                "slots_count": sum(slot_range_size(entry) for entry in ranges),
                "slot_ranges": [slot_range(entry) for entry in ranges],
                "ping_sent_ms": int(ping),
                "pong_recv_ms": int(pong),
                "slots": ranges,
            }
        )
    nodes.sort(key=lambda node: (node["host"], node["port"]))
    return nodes


def endpoint(entry: Any) -> dict[str, Any]:
    """``[host, port, id, ...]`` of a CLUSTER SLOTS reply."""
    return {"host": text(entry[0]), "port": int(entry[1]), "node_id": text(entry[2]) if len(entry) > 2 else None}


def parse_cluster_slots(raw: Any) -> dict[str, Any]:
    """The slot ranges with their master and replicas, and how much of 0-16383 they cover."""
    distribution: list[dict[str, Any]] = []
    for entry in raw or []:
        start, end = int(entry[0]), int(entry[1])
        distribution.append(
            {
                "start_slot": start,
                "end_slot": end,
                "slots_count": end - start + 1,
                "master": endpoint(entry[2]),
                "replicas": [endpoint(replica) for replica in entry[3:]],
            }
        )
    distribution.sort(key=lambda item: item["start_slot"])
    total = sum(item["slots_count"] for item in distribution)
    return {
        "status": "success",
        "total_slots": total,
        "max_slots": MAX_SLOTS,
        "coverage_percentage": round(total * 100 / MAX_SLOTS, 2),
        "slot_distribution": distribution,
    }
