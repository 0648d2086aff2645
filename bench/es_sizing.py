"""Sizing arithmetic for firstline on Elasticsearch (see docs/elasticsearch-sizing.md).

Computes, for a number of tickets and a desk's search load, the HNSW memory (float and int8),
the disk, the shard count and the query load per shard copy and per node, and prints a table.
Every formula is the guide's; change the assumptions with the options:

    python bench/es_sizing.py                       # 10M tickets, the guide's defaults
    python bench/es_sizing.py --docs 2e6 --agents 300 --nodes 2
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

GB = 1e9


@dataclass
class Plan:
    docs: float = 10e6
    dims: int = 384  # all-MiniLM-L6-v2
    chunks_per_doc: float = 1.2  # body windows per document (StackFAQ: 1.2; short tickets: 1)
    text_bytes_per_doc: float = 1500  # raw title + body + resolution, UTF-8
    index_to_raw: float = 0.73  # Elastic's measured ratio, index size on disk / raw text
    shards: int = 4
    replicas: int = 1
    nodes: int = 3
    heap_gb: float = 8
    agents: int = 1000
    searches_per_agent_per_min: float = 2
    peak_factor: float = 3  # busiest minute / average minute
    candidates: int = 100  # per ranker, firstline's search.candidates

    # -- vectors ---------------------------------------------------------------------------
    @property
    def vectors(self) -> float:
        """Indexed vectors: title_vector + rep_vector + one per chunk (three HNSW fields)."""
        return self.docs * (2 + self.chunks_per_doc)

    @property
    def hnsw_float(self) -> float:
        """Elastic's rule of thumb for float HNSW: num_vectors * 4 * (dims + 12) bytes."""
        return self.vectors * 4 * (self.dims + 12)

    @property
    def hnsw_int8(self) -> float:
        """One byte per dimension: num_vectors * (dims + 12) bytes (Elastic's figure for byte
        vectors; its newer table gives dims + 4 for int8-quantized floats, plus the graph)."""
        return self.vectors * (self.dims + 12)

    # -- disk -------------------------------------------------------------------------------
    @property
    def raw_float_vectors(self) -> float:
        """The .vec files: 4 bytes per dimension; kept on disk beside int8 copies too."""
        return self.vectors * 4 * self.dims

    @property
    def source_vectors(self) -> float:
        """Vectors as JSON text in _source (~21 bytes a float as Python writes them), before
        the stored-field compression (LZ4 by default, roughly halves float text)."""
        return self.docs * (1 + self.chunks_per_doc) * self.dims * 21 / 2

    @property
    def text_index(self) -> float:
        return self.docs * self.text_bytes_per_doc * self.index_to_raw

    def disk_primary(self, int8: bool) -> float:
        quantized = self.hnsw_int8 if int8 else 0.0
        return self.text_index + self.source_vectors + self.hnsw_float + quantized

    # -- load -------------------------------------------------------------------------------
    @property
    def qps(self) -> float:
        return self.agents * self.searches_per_agent_per_min / 60 * self.peak_factor

    @property
    def shard_requests_per_search(self) -> int:
        """Request 1 (_msearch): BM25 and kNN each visit every shard; request 2 (fetch of the
        top k by id) visits every shard too: three shard-level searches per shard."""
        return 3

    def qps_per_shard_copy(self) -> float:
        return self.qps * self.shard_requests_per_search / (1 + self.replicas)

    def per_node(self, total: float) -> float:
        return total * (1 + self.replicas) / self.nodes

    def response_bytes(self) -> float:
        """Request 1's answer in hybrid mode: up to 2 x candidates hits with their vectors."""
        return 2 * self.candidates * (1 + self.chunks_per_doc) * self.dims * 21


def table(p: Plan) -> str:
    rows = []
    for int8 in (False, True):
        hnsw = p.hnsw_int8 if int8 else p.hnsw_float
        ram = p.per_node(hnsw) / GB + p.heap_gb
        rows.append(
            (
                "int8_hnsw" if int8 else "hnsw (float)",
                f"{hnsw / GB:,.1f}",
                f"{p.per_node(hnsw) / GB:,.1f}",
                f"{ram:,.1f}",
                f"{p.disk_primary(int8) / GB:,.0f}",
                f"{p.disk_primary(int8) / p.shards / GB:,.0f}",
                f"{p.per_node(p.disk_primary(int8)) / GB:,.0f}",
            )
        )
    head = (
        "index options",
        "HNSW GB (primaries)",
        "HNSW GB / node",
        "RAM GB / node (+heap)",
        "disk GB (primaries)",
        "GB / shard",
        "disk GB / node",
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    plan = Plan()
    for name, value in vars(plan).items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = p.parse_args()
    plan = Plan(**{k: (int(float(v)) if k == "docs" else v) for k, v in vars(args).items()})
    print(
        f"{plan.docs:,.0f} tickets, {plan.dims} dims, {plan.chunks_per_doc} chunks/ticket "
        f"-> {plan.vectors:,.0f} indexed vectors; {plan.shards} shards x {1 + plan.replicas} "
        f"copies on {plan.nodes} nodes"
    )
    print(table(plan))
    print(
        f"\nload: {plan.agents} agents x {plan.searches_per_agent_per_min}/min x peak "
        f"{plan.peak_factor} = {plan.qps:,.1f} searches/s = {2 * plan.qps:,.1f} HTTP requests/s; "
        f"{plan.qps_per_shard_copy():,.1f} shard-level searches/s per shard copy, "
        f"{plan.qps_per_shard_copy() * plan.shards * (1 + plan.replicas) / plan.nodes:,.1f} "
        f"per node"
    )
    answer = plan.response_bytes() / 1e6
    print(
        f"request 1 answer (hybrid, vectors as JSON floats): ~{answer:,.1f} MB; "
        f"at peak {plan.qps * answer:,.0f} MB/s from the cluster to the API nodes"
    )
    shards_for_50gb = math.ceil(plan.disk_primary(True) / (50 * GB))
    print(f"shards needed to stay under 50 GB each (int8): {shards_for_50gb}")


if __name__ == "__main__":
    main()
