"""Benchmarks: `requests` (cache-hit path vs bare backend operations) and `trace` (GPU generations a
request trace needs under each matching tier). Entry points: `infra.bench.requests.main(argv)` and
`infra.bench.trace.main(argv)`; `python -m infra.bench requests|trace …` runs them."""
