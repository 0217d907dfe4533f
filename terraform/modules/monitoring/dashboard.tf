# The Soul dashboard: the figures of docs/OPERATIONS.md, one tile each.

locals {
  # [title, filter, aligner, reducer, group by] per tile; custom types are shared/metrics.py's instruments.
  tiles = [
    ["Requests by outcome (/s)", "metric.type = \"${local.workload}/soul_requests\"", "ALIGN_RATE", "REDUCE_SUM", ["metric.labels.outcome"]],
    ["Hit latency p99 (s)", "metric.type = \"${local.workload}/soul_request_duration\" AND metric.labels.outcome = \"hit\"", "ALIGN_DELTA", "REDUCE_PERCENTILE_99", []],
    ["api 5xx (/s)", "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${var.api_service}\" AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\"", "ALIGN_RATE", "REDUCE_SUM", []],
    ["Queue depth by subscription", "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\"", "ALIGN_MAX", "REDUCE_MAX", ["resource.labels.subscription_id"]],
    ["Oldest unacked job (s)", "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\"", "ALIGN_MAX", "REDUCE_MAX", ["resource.labels.subscription_id"]],
    ["Jobs by outcome (/s)", "metric.type = \"${local.workload}/soul_jobs\"", "ALIGN_RATE", "REDUCE_SUM", ["metric.labels.outcome"]],
    ["Generation seconds per variant, p50", "metric.type = \"${local.workload}/soul_generation_seconds\"", "ALIGN_DELTA", "REDUCE_PERCENTILE_50", ["metric.labels.kind", "metric.labels.generator"]],
    ["Batch fill, mean", "metric.type = \"${local.workload}/soul_batch_fill\"", "ALIGN_DELTA", "REDUCE_MEAN", ["metric.labels.lane"]],
    ["Launches and refusals (/s)", "metric.type = \"${local.workload}/soul_launches\"", "ALIGN_RATE", "REDUCE_SUM", ["metric.labels.outcome"]],
    ["Dead letters (/s)", "metric.type = \"${local.workload}/soul_dead_letters\"", "ALIGN_RATE", "REDUCE_SUM", ["metric.labels.lane"]],
    ["Pre-generation seconds (/s)", "metric.type = \"${local.workload}/soul_pregen_seconds\"", "ALIGN_RATE", "REDUCE_SUM", []],
    ["Pre-generated variants made / first served (/s)", "metric.type = \"${local.workload}/soul_pregen_variants\"", "ALIGN_RATE", "REDUCE_SUM", ["metric.labels.event"]],
    ["Estimated spend (USD/s)", "metric.type = \"${local.workload}/soul_cost_usd\"", "ALIGN_RATE", "REDUCE_SUM", ["metric.labels.item"]],
  ]
  # [title, numerator filter, denominator filter]: estimated spend per generation request served.
  ratio_tiles = [
    ["Estimated spend per request (USD)", "metric.type = \"${local.workload}/soul_cost_usd\"", "metric.type = \"${local.workload}/soul_requests\" AND metric.labels.outcome = one_of(\"hit\", \"semantic_merge\", \"attach\", \"miss\")"],
  ]
  rate = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM" }
}

resource "google_monitoring_dashboard" "soul" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "Soul"
    mosaicLayout = {
      columns = 12
      tiles = concat([for i, t in local.tiles : {
        xPos   = (i % 2) * 6
        yPos   = floor(i / 2) * 4
        width  = 6
        height = 4
        widget = {
          title = t[0]
          xyChart = {
            dataSets = [{
              plotType = "LINE"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = t[1]
                  aggregation = {
                    alignmentPeriod    = "60s"
                    perSeriesAligner   = t[2]
                    crossSeriesReducer = t[3]
                    groupByFields      = t[4]
                  }
                }
              }
            }]
          }
        }
        }], [for i, t in local.ratio_tiles : {
        xPos   = ((length(local.tiles) + i) % 2) * 6
        yPos   = floor((length(local.tiles) + i) / 2) * 4
        width  = 6
        height = 4
        widget = {
          title = t[0]
          xyChart = {
            dataSets = [{
              plotType = "LINE"
              timeSeriesQuery = {
                timeSeriesFilterRatio = {
                  numerator   = { filter = t[1], aggregation = local.rate }
                  denominator = { filter = t[2], aggregation = local.rate }
                }
              }
            }]
          }
        }
      }])
    }
  })
}
