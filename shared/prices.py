"""List prices behind the estimated spend (docs/OPERATIONS.md, Cost): one table, each price with its source.

None of these figures was checked against a price page from this machine (no page was reachable and
FACTS.md records none): each is marked an assumption with the date it was written down. Before a
budget decision rests on them, check each against its provider's current price page for the region and
replace its source string with what was checked and when. The estimate multiplies them by what Soul
measures (generation seconds, seconds of Wan video); it is not a bill.
"""

from __future__ import annotations

from dataclasses import dataclass

ASSUMED = "assumption 2026-12-03, list price as remembered for us-central1, not checked against the price page"


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str


PRICES: dict[str, Price] = {
    "cloud_run_l4_gpu_second": Price(0.0001867, "L4 GPU-second, Cloud Run, no zonal redundancy", ASSUMED),
    "cloud_run_vcpu_second": Price(0.000018, "vCPU-second, Cloud Run instance-based billing", ASSUMED),
    "cloud_run_gib_second": Price(0.000002, "GiB-second of memory, Cloud Run instance-based billing", ASSUMED),
    "firestore_read": Price(0.03 / 100_000, "Firestore document read", ASSUMED),
    "firestore_write": Price(0.09 / 100_000, "Firestore document write", ASSUMED),
    "pubsub_tib": Price(40.0, "TiB of Pub/Sub throughput (1 KB minimum per message)", ASSUMED),
    "gcs_class_a_operation": Price(0.005 / 1000, "Cloud Storage class A operation (an upload)", ASSUMED),
    "gcs_gib_month": Price(0.020, "GiB-month of Cloud Storage standard storage", ASSUMED),
    "wan_video_second": Price(0.05, "second of wan2.5-t2v-preview video at 480p (DashScope)", ASSUMED),
    "vision_safesearch_image": Price(1.5 / 1000, "Cloud Vision SafeSearch, one image", ASSUMED),
    "language_moderation_unit": Price(0.0005, "Natural Language moderateText, 1,000-character unit", ASSUMED),
}

# Worker instance shapes as terraform/envs/dev/main.tf declares them (tests/unit/test_monitoring.py checks).
GPU_WORKER = {"vcpu": 4.0, "gib": 16.0}
WAN_WORKER = {"vcpu": 1.0, "gib": 1.0}


def usd(item: str, amount: float) -> float:
    return PRICES[item].usd * amount


def instance_second(shape: dict[str, float], gpu: bool) -> float:
    """USD for one second of a Cloud Run job instance of `shape`."""
    cost = shape["vcpu"] * usd("cloud_run_vcpu_second", 1) + shape["gib"] * usd("cloud_run_gib_second", 1)
    return cost + (usd("cloud_run_l4_gpu_second", 1) if gpu else 0.0)


def generation(lane: str, seconds: float, video_seconds: float) -> dict[str, float]:
    """Estimated USD of one generator call, by what is billed: instance seconds on the lane's job, and for
    Wan the provider's per-second price of the video made."""
    if lane.startswith("wan"):
        return {"cloud_run_wan_instance": seconds * instance_second(WAN_WORKER, gpu=False)} | {
            "wan_video": usd("wan_video_second", video_seconds)
        }
    return {"cloud_run_l4_instance": seconds * instance_second(GPU_WORKER, gpu=True)}
