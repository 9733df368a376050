"""Markdown pages of the report: availability, cost and the side-by-side comparison.

Output is deterministic (no timestamps, fixed ordering and rounding) so that the
checked-in pages can be compared with a fresh run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from report import availability, cost
from report.availability import DrillEvidence, Estimate, SlaTable
from report.cost import LineItem, PriceTable
from report.model import Topology


def percent(value: float | None) -> str:
    """Enough decimals to show the first two significant digits of the unavailability."""
    if value is None:
        return "no SLA"
    unavailable = (1.0 - value) * 100
    decimals = 2 if unavailable <= 0 else min(12, max(2, 1 - math.floor(math.log10(unavailable))))
    return f"{value * 100:.{decimals}f}".rstrip("0").rstrip(".") + " %"


def minutes(seconds: float) -> str:
    """`seconds` as minutes with one decimal, e.g. `7.0 min`."""
    return f"{seconds / 60:.1f} min"


def dollars(value: float) -> str:
    """`value` as dollars with thousands separators and cents, e.g. `$10,288.22`."""
    return f"${value:,.2f}"


def downtime(value: float | None) -> str:
    """The downtime a month at `value` availability, in minutes, seconds or `< 1 s`; `-` without an SLA."""
    if value is None:
        return "-"
    minutes_down = availability.downtime_minutes_per_month(value)
    if minutes_down >= 1:
        return f"{minutes_down:.1f} min"
    return f"{minutes_down * 60:.0f} s" if minutes_down * 60 >= 1 else "< 1 s"


def rto_text(estimate: Estimate) -> str:
    """The estimated RTO: minutes, or `manual` (plus the standby's scale-up) when DNS does not fail over itself."""
    recovery = estimate.recovery
    if not recovery.automated:
        return "manual" + (f" + {minutes(recovery.scale_up_seconds)} scale-up" if recovery.scale_up_seconds else "")
    return minutes(recovery.rto_seconds)


def rto_with_stated(estimate: Estimate) -> str:
    """The estimated RTO followed by the stack's stated one, when it states one."""
    stated = estimate.stated_rto_seconds
    return rto_text(estimate) + (f" (stated {minutes(stated)})" if stated is not None else "")


def rpo_text(estimate: Estimate) -> str:
    """The recovery point in seconds, or `n/a` without a cross-region replica."""
    loss = estimate.data_loss
    return f"{loss.rpo_seconds:g} s" if loss.rpo_seconds is not None else "n/a"


def availability_page(topology: Topology, estimate: Estimate, table: SlaTable, evidence: DrillEvidence | None = None) -> str:
    """The Markdown availability page of one stack: composite, terms, paths, recovery, data loss and drill evidence."""
    lines = [
        f"# Availability: {topology.stack}",
        "",
        f"Composite of the published SLAs (`report/data/sla.yaml`, dated {table.date}) of each service in the",
        "request path, as the program declares them. An SLA is a commitment, not a measurement: read the",
        "figure as a floor. Model and formulas: [docs/report.md](../../report.md).",
        "",
        "| Path | Role | Service | SLA used |",
        "| --- | --- | --- | --- |",
    ]
    if estimate.dns:
        lines.append(f"| global | entry | {estimate.dns.label} | {percent(estimate.dns.availability)} |")
    for path in estimate.regions:
        for part in path.parts:
            lines.append(f"| {path.region} | {path.role} | {part.label} | {percent(part.availability)} |")
        lines.append(f"| {path.region} | {path.role} | **region in series** | **{percent(path.availability)}** |")
    common = estimate.common_mode
    for cause in common.causes:
        share = availability.common_mode_availability(cause.minutes_per_year)
        lines.append(f"| shared | every region | Common mode: {cause.what} ({cause.events_per_year:g}/year x {cause.minutes_per_event:g} min) | {percent(share)} |")
    lines.append(f"| shared | every region | **common mode in series** | **{percent(common.availability)}** |")
    combine = (
        "regions in parallel: 1 - (1 - A1)(1 - A2)..."
        if estimate.mode == "active-active"
        else f"the primary region ({topology.primary_region}) alone during normal operation"
    )
    shared = ("Route 53 and " if estimate.dns else "") + "the common-mode term"
    lines += [
        "",
        f"**Composite ({estimate.mode}, {combine}, in series with {shared}): "
        f"{percent(estimate.composite)}**, about {downtime(estimate.composite)} of downtime a month.",
        "",
        f"The common-mode causes are stated assumptions (`report/data/common_mode.yaml`, dated {common.date}): the parallel",
        "formula holds only for failures the regions do not share.",
    ]
    if estimate.proxy:
        lines.append(
            "Through the Lambda proxy, which tries its own region first and then the others (Lambda, its region's NAT gateway, "
            f"the regions in parallel, the common mode): {percent(estimate.proxy.availability)}."
        )
    if estimate.azure:
        parts = " x ".join(f"{part.label} {percent(part.availability)}" for part in estimate.azure)
        lines.append(f"Azure path ({parts}): {percent(estimate.azure_composite)}.")
    lines += ["", "## Which term dominates", ""] + _term_lines(estimate)
    lines += ["", "## Recovery time", ""] + _recovery_lines(estimate, table)
    loss = estimate.data_loss
    lines += ["", "## Recovery point", ""]
    if loss.replicated:
        lines.append(f"RPO {loss.rpo_seconds:g} s: cross-region replication is asynchronous; {loss.bound}.")
        lines.append("Multi-AZ instances replicate synchronously within their region, so losing one AZ loses no committed data.")
    else:
        lines.append(f"Not applicable: {loss.bound}.")
    lines += ["", "## Drills", ""] + _drill_lines(topology, estimate, evidence)
    return "\n".join(lines) + "\n"


def _term_lines(estimate: Estimate) -> list[str]:
    """Each factor of the composite with the downtime it allows, the largest named."""
    dominant = estimate.dominant
    lines = ["| Term (in series) | Availability | Downtime / month |", "| --- | --- | --- |"]
    for term in estimate.terms:
        mark = "**" if term == dominant else ""
        lines.append(f"| {mark}{term.label}{mark} | {percent(term.availability)} | {downtime(term.availability)} |")
    lines.append("")
    lines.append(f"Largest term: {dominant.label}.")
    if dominant.label == availability.COMMON_MODE:
        lines[-1] += " Another region cannot shrink it; rolling changes out one region at a time and fewer shared names can."
    return lines


def _drill_lines(topology: Topology, estimate: Estimate, evidence: DrillEvidence | None) -> list[str]:
    stack = topology.stack
    if evidence is None:
        return [
            f"No drill record yet. Run one (`python -m ops.drill --stack {stack} --scenario region-outage-{topology.primary_region}`),",
            f"commit its record under `drill-records/{stack}/` and regenerate: the availability its measured time to route",
            "around implies appears here, next to the figure above.",
        ]
    lines = [f"Last region drill: `{evidence.scenario}`, started {evidence.started_at} (`drill-records/{stack}/{evidence.source}`)."]
    failures = estimate.common_mode.regional_failures_per_year
    if not evidence.interrupted:
        lines.append("No probe failed during it: clients never waited.")
    elif evidence.route_around_seconds is None:
        lines.append("Clients were not routed around during the drill: no availability follows from it until a failover is measured.")
        return lines
    else:
        lines.append(f"Clients were routed around in {evidence.route_around_seconds:g} s.")
    lines.append(
        f"At {failures:g} failures per region a year (`report/data/common_mode.yaml`), each costing that long, in series with the shared terms: "
        f"**{percent(evidence.implied)}**, next to the SLA-based **{percent(estimate.composite)}**."
    )
    return lines


def _recovery_lines(estimate: Estimate, table: SlaTable) -> list[str]:
    recovery = estimate.recovery
    lines: list[str] = []
    stated = estimate.stated_rto_seconds
    if stated is not None:
        if not recovery.automated:
            verdict = "failover is manual, so it must cover running the failover runbook"
        else:
            verdict = f"the estimate below is {'within' if recovery.rto_seconds <= stated else 'over'} it"
        lines += [f"Stated RTO (`rtoSeconds`): {stated} s ({minutes(stated)}); {verdict}. Drills are judged against it.", ""]
    if recovery.automated:
        lines += [
            "| Step | Seconds |",
            "| --- | --- |",
            f"| Detection: Route 53 health-check interval x failure threshold (slowest check) | {recovery.detection_seconds} |",
            f"| DNS TTL: resolvers drop the failed region's answer | {recovery.dns_ttl_seconds} |",
            f"| Standby scale-up ({recovery.standby_mode}) | {recovery.scale_up_seconds} |",
            f"| **RTO** | **{recovery.rto_seconds}** ({minutes(recovery.rto_seconds)}) |",
        ]
    else:
        lines.append(f"RTO: {rto_text(estimate)}.")
    if recovery.scale_up_seconds:
        lines += [
            "",
            f"Standby scale-up = instance launch ({table.assumption('instance_launch_seconds'):g} s, documented) + the autoscaling group's",
            "health-check grace period (model load, an upper bound) + target group interval x healthy threshold.",
        ]
    elif estimate.mode == "active-passive":
        lines += ["", f"The standby runs at full capacity ({recovery.standby_mode}): no scale-up."]
    if recovery.notes:
        lines += [""] + [f"- {note}" for note in recovery.notes]
    return lines


def cost_page(topology: Topology, items: list[LineItem], prices: PriceTable) -> str:
    """The Markdown cost page of one stack: every line item, then totals per region and overall."""
    assumption = prices.assumption
    lines = [
        f"# Monthly cost: {topology.stack}",
        "",
        f"On-demand list prices from `report/data/prices.yaml` (dated {prices.date}; us-east-1 prices scaled per region),",
        f"{prices.hours:g} hours a month, instances at desired capacity. Stated usage: {assumption('alb_lcu'):g} LCU per load balancer,",
        f"{assumption('nat_gb_per_month'):g} GB per NAT gateway, {assumption('lambda_requests_per_month') / 1e6:g} M requests per Lambda function",
        f"at {assumption('lambda_average_duration_ms'):g} ms. Data transfer, DNS queries and per-token model charges are not included.",
        "",
        "| Region | Item | Quantity | Monthly |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {item.region} | {item.item} | {item.quantity} | {dollars(item.monthly)} |" for item in items]
    lines += ["", "| Region | Monthly |", "| --- | --- |"]
    lines += [f"| {region} | {dollars(amount)} |" for region, amount in cost.by_region(items).items()]
    lines.append(f"| **total** | **{dollars(cost.total(items))}** |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class StackSummary:
    """One stack's topology, availability estimate and monthly cost in dollars, as the comparison shows them."""

    topology: Topology
    estimate: Estimate
    monthly: float

    def line(self) -> str:
        """The one-line summary `python -m report` prints for the stack."""
        return (
            f"{self.topology.stack}: {self.topology.mode}, {len(self.topology.regions)} region(s), "
            f"availability {percent(self.estimate.composite)}, RTO {rto_with_stated(self.estimate)}, "
            f"RPO {rpo_text(self.estimate)}, {dollars(self.monthly)}/month"
        )


def comparison_page(summaries: list[StackSummary]) -> str:
    """The Markdown page that compares the stacks (docs/report/comparison.md)."""
    return "# Stacks side by side\n\n" + comparison_table(summaries) + "\n"


def comparison_table(summaries: list[StackSummary]) -> str:
    """The stacks side by side as a Markdown table, costs relative to the first stack."""
    base = summaries[0]
    rows = [
        "| Stack | Topology | Regions x AZs | Instances | Availability | Downtime / month | RTO | RPO | Cost / month | Cost vs " + base.topology.stack + " |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for summary in summaries:
        topology = summary.topology
        zones = sorted({len(region.zones) for region in topology.regions})
        instances = ", ".join(sorted({f"{f.instance_type}" for r in topology.regions for f in r.fleets}))
        count = sum(region.desired_instances for region in topology.regions)
        rows.append(
            f"| `{topology.stack}` | {topology.mode} | {len(topology.regions)} x {'/'.join(map(str, zones))} | {count} x {instances} | "
            f"{percent(summary.estimate.composite)} | {downtime(summary.estimate.composite)} | {rto_with_stated(summary.estimate)} | "
            f"{rpo_text(summary.estimate)} | {dollars(summary.monthly)} | x{summary.monthly / base.monthly:.1f} |"
        )
    return "\n".join(rows) + "\n"
