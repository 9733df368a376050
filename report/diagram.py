"""Diagrams of a topology: SVG for people to open, Mermaid for the README.

The SVG is written directly (no Graphviz binary, no layout library): the shape is
always the same grid, a box per region with a column per AZ and a row per tier,
global routing above and the Azure tier below, so a fixed layout reads better
than a general graph layout would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from report.model import TIERS, Region, Topology

FONT = "font-family='Helvetica, Arial, sans-serif'"
MARGIN = 20
REGION_GAP = 30
LABEL_WIDTH = 70
ZONE_WIDTH = 160
ROW_HEIGHT = 58
CELL_PAD = 6
LINE = 14
COLORS = {
    "region": ("#f5f8fc", "#5b7fa6"),
    "public": ("#e8f4ea", "#4f8a5b"),
    "private": ("#fff4e0", "#b7832f"),
    "isolated": ("#f3e9f7", "#8a5aa6"),
    "global": ("#eef1f5", "#55606e"),
    "azure": ("#e9f3fb", "#2f6fa8"),
    "empty": ("#fafafa", "#c4c4c4"),
}


@dataclass
class _Canvas:
    width: int = 0
    height: int = 0
    parts: list[str] = field(default_factory=list)

    def box(self, x: float, y: float, w: float, h: float, style: str, dashed: bool = False) -> None:
        fill, stroke = COLORS[style]
        dash = " stroke-dasharray='4 3'" if dashed else ""
        self.parts.append(f"<rect x='{x:g}' y='{y:g}' width='{w:g}' height='{h:g}' rx='6' fill='{fill}' stroke='{stroke}'{dash}/>")

    def text(self, x: float, y: float, lines: list[str], size: int = 12, bold_first: bool = False, anchor: str = "start", color: str = "#1f2933") -> None:
        for index, line in enumerate(lines):
            weight = " font-weight='bold'" if bold_first and index == 0 else ""
            self.parts.append(
                f"<text x='{x:g}' y='{y + index * LINE:g}' {FONT} font-size='{size}' fill='{color}' text-anchor='{anchor}'{weight}>{escape(line)}</text>"
            )

    def line(self, x1: float, y1: float, x2: float, y2: float, dashed: bool = False, label: str = "") -> None:
        dash = " stroke-dasharray='6 4'" if dashed else ""
        self.parts.append(f"<line x1='{x1:g}' y1='{y1:g}' x2='{x2:g}' y2='{y2:g}' stroke='#55606e' stroke-width='1.5' marker-end='url(#arrow)'{dash}/>")
        if label:
            # Beside the arrow, not across it.
            self.text((x1 + x2) / 2 + 6, (y1 + y2) / 2 + 4, [label], size=11, color="#55606e")

    def svg(self) -> str:
        head = (
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' viewBox='0 0 {self.width} {self.height}'>\n"
            "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' orient='auto-start-reverse'>"
            "<path d='M 0 0 L 10 5 L 0 10 z' fill='#55606e'/></marker></defs>\n"
            f"<rect width='100%' height='100%' fill='white'/>\n"
        )
        return head + "\n".join(self.parts) + "\n</svg>\n"


def routing_summary(topology: Topology) -> list[str]:
    """The lines that describe global routing in the diagram's entry box."""
    routing = topology.routing
    if not routing.declared:
        return ["Clients call the exported regional endpoints", "(no Route 53 routing declared)"]
    policies = sorted({record.policy for record in routing.records})
    return [
        f"Route 53: {', '.join(policies) or 'no'} records",
        f"{len(routing.health_checks)} health check(s)",
    ]


def entry_policies(topology: Topology, region: str) -> list[str] | None:
    """How global routing reaches a region: the policies of the records naming it; None when no routing is declared."""
    if not topology.routing.declared:
        return None
    return sorted({record.policy for record in topology.routing.records if record.target_region == region})


def _cell_lines(region: Region, tier: str, zone: str) -> list[str]:
    if tier == "public":
        lines = ["ALB node" for lb in region.load_balancers if zone in lb.zones and not lb.internal]
        lines += ["NAT gateway"] if zone in region.nat_zones else []
        return lines
    if tier == "private":
        lines = [f"{fleet.per_zone()[zone]} x {fleet.instance_type}" for fleet in region.fleets if zone in fleet.zones]
        lines += ["ALB node (internal)" for lb in region.load_balancers if zone in lb.zones and lb.internal]
        return lines
    return []


def _database_lines(region: Region) -> list[str]:
    return [db.label for db in region.databases]


def _region_width(region: Region) -> int:
    return LABEL_WIDTH + ZONE_WIDTH * max(1, len(region.zones)) + 2 * CELL_PAD


def _region_footer(region: Region) -> list[str]:
    lines = [f"ASG {f.name}: min {f.min_size} / desired {f.desired} / max {f.max_size}" for f in region.fleets]
    lines += [f"Lambda {fn.name}: {fn.memory_mb} MB, {fn.timeout_seconds} s" for fn in region.functions]
    return lines


def svg(topology: Topology) -> str:
    """The topology as a self-contained SVG: regions with their zones and tiers, global routing and the Azure tier."""
    canvas = _Canvas()
    title_y = MARGIN + 14
    canvas.text(MARGIN, title_y, [f"{topology.stack}: {topology.mode}, primary {topology.primary_region}"], size=16, bold_first=True)

    widths = [_region_width(region) for region in topology.regions]
    regions_width = sum(widths) + REGION_GAP * (len(widths) - 1)
    global_y, global_h = title_y + 16, 50
    canvas.box(MARGIN, global_y, regions_width, global_h, "global")
    canvas.text(MARGIN + regions_width / 2, global_y + 20, routing_summary(topology), anchor="middle", bold_first=True)

    region_y = global_y + global_h + 40
    header_h = 2 * LINE + 12
    footer_lines = max((len(_region_footer(region)) for region in topology.regions), default=0)
    region_h = header_h + LINE + 8 + ROW_HEIGHT * len(TIERS) + footer_lines * LINE + 2 * CELL_PAD
    x = MARGIN
    db_anchor: dict[str, tuple[float, float]] = {}
    for region, width in zip(topology.regions, widths):
        canvas.box(x, region_y, width, region_h, "region")
        canvas.text(x + CELL_PAD, region_y + 18, [f"{region.name} ({topology.role(region.name)})", f"VPC {region.cidr or '-'}"], bold_first=True)
        policies = entry_policies(topology, region.name)
        if policies is None or policies:
            canvas.line(x + width / 2, global_y + global_h, x + width / 2, region_y, label=", ".join(policies or []))
        zones_x = x + CELL_PAD + LABEL_WIDTH
        for column, zone in enumerate(region.zones):
            canvas.text(zones_x + column * ZONE_WIDTH + ZONE_WIDTH / 2, region_y + header_h + 6, [zone], anchor="middle", bold_first=True)
        rows_y = region_y + header_h + LINE + 4
        for row, tier in enumerate(TIERS):
            y = rows_y + row * ROW_HEIGHT
            canvas.text(x + CELL_PAD, y + ROW_HEIGHT / 2 + 4, [tier])
            if tier == "isolated":
                lines = _database_lines(region)
                span = ZONE_WIDTH * max(1, len(region.zones)) - CELL_PAD
                canvas.box(zones_x, y + 3, span, ROW_HEIGHT - 6, "isolated" if lines else "empty", dashed=not lines)
                canvas.text(zones_x + span / 2, y + ROW_HEIGHT / 2 + 4 - (max(1, len(lines)) - 1) * LINE / 2, lines or ["isolated subnets, no database"], anchor="middle")
                # Replication arrows leave from the right end of the row, clear of the footer text below it.
                db_anchor[region.name] = (zones_x + span - 24, y + ROW_HEIGHT - 3)
                continue
            for column, zone in enumerate(region.zones):
                lines = _cell_lines(region, tier, zone)
                cx = zones_x + column * ZONE_WIDTH
                canvas.box(cx, y + 3, ZONE_WIDTH - CELL_PAD, ROW_HEIGHT - 6, tier if lines else "empty", dashed=not lines)
                canvas.text(cx + (ZONE_WIDTH - CELL_PAD) / 2, y + ROW_HEIGHT / 2 + 4 - (max(1, len(lines)) - 1) * LINE / 2, lines or ["-"], anchor="middle")
        canvas.text(x + CELL_PAD, rows_y + len(TIERS) * ROW_HEIGHT + 12, _region_footer(region), size=11)
        x += width + REGION_GAP

    bottom = region_y + region_h
    replicas = [(region.name, db) for region in topology.regions for db in region.databases if db.is_replica]
    primary_db = next((region.name for region in topology.regions for db in region.databases if not db.is_replica), None)
    if replicas and primary_db:
        lane = bottom + 16
        px, py = db_anchor[primary_db]
        for offset, (region_name, _) in enumerate(replicas):
            rx, ry = db_anchor[region_name]
            y = lane + offset * 18
            canvas.parts.append(f"<polyline points='{px:g},{py:g} {px:g},{y:g} {rx:g},{y:g} {rx:g},{ry + 6:g}' fill='none' stroke='#8a5aa6' stroke-width='1.5' stroke-dasharray='6 4' marker-end='url(#arrow)'/>")
        canvas.text(px + 8, lane - 3, ["asynchronous replication"], size=11, color="#8a5aa6")
        bottom = lane + len(replicas) * 18

    if topology.azure.declared:
        bottom = _azure(canvas, topology, MARGIN, bottom + 24, regions_width)

    canvas.width = int(MARGIN * 2 + regions_width)
    canvas.height = int(bottom + MARGIN)
    return canvas.svg()


def _azure(canvas: _Canvas, topology: Topology, x: float, y: float, width: float) -> float:
    azure = topology.azure
    columns: list[list[str]] = []
    if azure.front_doors:
        columns.append(["Front Door"] + [f"{fd.sku}, {fd.origins} origin(s)" for fd in azure.front_doors])
    if azure.gateways:
        columns.append(["API Management"] + [f"{g.sku} x{g.capacity}, {g.location}" for g in azure.gateways])
    if azure.accounts:
        columns.append(["Azure OpenAI"] + [f"{a.location}: {len(a.deployments)} deployment(s)" for a in azure.accounts])
    rows = max(len(column) for column in columns)
    inner_h = rows * LINE + 16
    height = inner_h + 40
    canvas.box(x, y, width, height, "azure")
    canvas.text(x + CELL_PAD, y + 18, ["Azure"], bold_first=True)
    column_w = min(260.0, (width - 2 * CELL_PAD) / len(columns) - 40)
    cx = x + CELL_PAD + 60
    for index, lines in enumerate(columns):
        canvas.box(cx, y + 28, column_w, inner_h, "azure")
        canvas.text(cx + column_w / 2, y + 28 + 16, lines, anchor="middle", bold_first=True)
        if index:
            canvas.line(cx - 40, y + 28 + inner_h / 2, cx, y + 28 + inner_h / 2)
        cx += column_w + 40
    return y + height


def _id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def mermaid(topology: Topology) -> str:
    """The topology as a Mermaid flowchart (the README embeds it)."""
    lines = ["flowchart TB"]
    routing = topology.routing
    lines.append('  clients(["Clients"])')
    entry = "clients"
    if routing.declared:
        lines.append(f'  dns{{{{"{" - ".join(routing_summary(topology))}"}}}}')
        lines.append("  clients --> dns")
        entry = "dns"
    for region in topology.regions:
        rid = _id(region.name)
        lines.append(f'  subgraph {rid}["{region.name} ({topology.role(region.name)}), VPC {region.cidr or "-"}"]')
        lines.append("    direction TB")
        for lb in region.load_balancers:
            lines.append(f'    {_id(rid, "lb", lb.name)}["ALB {lb.name} in {len(lb.zones)} AZs"]')
        if region.nat_zones:
            lines.append(f'    {_id(rid, "nat")}["NAT gateway in {", ".join(region.nat_zones)}"]')
        for fleet in region.fleets:
            spread = ", ".join(f"{count} in {zone}" for zone, count in fleet.per_zone().items())
            lines.append(f'    {_id(rid, "asg", fleet.name)}["{fleet.desired} x {fleet.instance_type}: {spread} (min {fleet.min_size}, max {fleet.max_size})"]')
        for db in region.databases:
            lines.append(f'    {_id(rid, "db", db.name)}[("{db.label}")]')
        for fn in region.functions:
            lines.append(f'    {_id(rid, "fn", fn.name)}["Lambda {fn.name} {fn.memory_mb} MB"]')
        lines.append("  end")
        policies = entry_policies(topology, region.name)
        for lb in region.load_balancers:
            if policies is None:
                lines.append(f"  {entry} --> {_id(rid, 'lb', lb.name)}")
            elif policies:
                lines.append(f"  {entry} -->|{', '.join(policies)}| {_id(rid, 'lb', lb.name)}")
            for fleet in region.fleets:
                lines.append(f"  {_id(rid, 'lb', lb.name)} --> {_id(rid, 'asg', fleet.name)}")
        for fleet in region.fleets:
            for db in region.databases:
                lines.append(f"  {_id(rid, 'asg', fleet.name)} --> {_id(rid, 'db', db.name)}")
    primaries = [(_id(r.name), db) for r in topology.regions for db in r.databases if not db.is_replica]
    for region in topology.regions:
        for db in region.databases:
            if db.is_replica and primaries:
                source_rid, source = primaries[0]
                lines.append(f"  {_id(source_rid, 'db', source.name)} -. async .-> {_id(_id(region.name), 'db', db.name)}")
    lines.extend(_mermaid_azure(topology))
    return "\n".join(lines) + "\n"


def _mermaid_azure(topology: Topology) -> list[str]:
    azure = topology.azure
    if not azure.declared:
        return []
    lines = ['  subgraph azure["Azure"]', "    direction LR"]
    chain: list[list[str]] = []
    if azure.front_doors:
        chain.append([_id("fd", fd.name) for fd in azure.front_doors])
        lines += [f'    {_id("fd", fd.name)}["Front Door {fd.sku}"]' for fd in azure.front_doors]
    if azure.gateways:
        chain.append([_id("apim", g.name) for g in azure.gateways])
        lines += [f'    {_id("apim", g.name)}["API Management {g.sku} x{g.capacity}"]' for g in azure.gateways]
    if azure.accounts:
        chain.append([_id("aoai", a.name) for a in azure.accounts])
        lines += [f'    {_id("aoai", a.name)}["Azure OpenAI {a.location}"]' for a in azure.accounts]
    lines.append("  end")
    lines.append(f"  clients --> {chain[0][0]}")
    for upstream, downstream in zip(chain, chain[1:]):
        lines += [f"  {a} --> {b}" for a in upstream for b in downstream]
    return lines
