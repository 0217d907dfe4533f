# Alerts, SLOs, a dashboard and a billing budget (docs/OPERATIONS.md is the runbook for each alert).
#
# Queue figures come from Pub/Sub's own subscription metrics and the api's 5xx ratio from Cloud Run's
# request count (Cloud Functions gen2 serve on Cloud Run); Soul's own figures are the instruments of
# shared/metrics.py, exported as workload.googleapis.com/<name> (tests/unit/test_monitoring.py checks
# every custom type named here against that catalogue).

variable "project_id" {
  type = string
}

variable "subscription_prefix" {
  type = string
}

variable "dead_letter_subscription" {
  description = "The dead-letter topic's subscription (reconcile drains it into failed jobs)."
  type        = string
}

variable "lane_age_targets" {
  description = "Per lane subscription suffix: seconds its oldest unacked job may wait before an alert."
  type        = map(number)
}

variable "api_service" {
  description = "The api function's Cloud Run service name."
  type        = string
}

variable "gpu_job" {
  description = "The GPU worker's Cloud Run job name."
  type        = string
}

variable "notification_channel" {
  description = "A Cloud Monitoring notification channel id (projects/P/notificationChannels/N); empty: alerts only show in the console."
  type        = string
}

variable "billing_account" {
  description = "The billing account id for the budget; empty: no budget is created."
  type        = string
}

variable "daily_budget_usd" {
  description = "Spend a day that is too much: the monthly budget is 30 times this; the estimate alert uses it as is."
  type        = number
}

variable "error_ratio_threshold" {
  type = number
}

variable "hit_latency_seconds" {
  description = "A hit is good when served within this many seconds (a bucket bound of soul_request_duration)."
  type        = number
}

variable "hit_latency_goal" {
  type = number
}

variable "job_success_goal" {
  type = number
}

locals {
  channels = var.notification_channel == "" ? [] : [var.notification_channel]
  workload = "workload.googleapis.com"
}

# ---- alert policies ---------------------------------------------------------------------------------

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "Soul: dead-letter backlog"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "Jobs failed every delivery attempt. Runbook: docs/OPERATIONS.md#dead-letter-backlog"
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "Messages waiting on the dead-letter subscription"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${var.dead_letter_subscription}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
  conditions {
    display_name = "Messages forwarded to the dead-letter topic"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "oldest_job_age" {
  for_each              = var.lane_age_targets
  project               = var.project_id
  display_name          = "Soul: ${each.key} jobs waiting over ${each.value} s"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "The oldest unacked job on lane ${each.key} is older than its target. Runbook: docs/OPERATIONS.md#oldest-job-age"
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "Oldest unacked message age, ${each.key}"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${var.subscription_prefix}-${each.key}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = each.value
      duration        = "120s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "api_5xx_ratio" {
  project               = var.project_id
  display_name          = "Soul: api 5xx ratio"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "More than ${var.error_ratio_threshold * 100}% of api requests answer 5xx. Runbook: docs/OPERATIONS.md#api-5xx-ratio"
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "5xx / all requests over 5 minutes"
    condition_threshold {
      filter             = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${var.api_service}\" AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${var.api_service}\" AND metric.type = \"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.error_ratio_threshold
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "launch_refusals" {
  project               = var.project_id
  display_name          = "Soul: worker launches refused"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "The dispatcher could not start a worker execution (permission, missing job, quota). Runbook: docs/OPERATIONS.md#launch-refusals"
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "soul_launches outcome=refused"
    condition_threshold {
      filter          = "metric.type = \"${local.workload}/soul_launches\" AND metric.labels.outcome = \"refused\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.labels.lane"]
      }
    }
  }
}

resource "google_monitoring_alert_policy" "gpu_job_failures" {
  project               = var.project_id
  display_name          = "Soul: GPU job failures"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "GPU generation jobs fail, or the GPU worker's executions do. Runbook: docs/OPERATIONS.md#gpu-job-failures"
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "soul_jobs outcome=failed on the GPU lanes"
    condition_threshold {
      filter          = "metric.type = \"${local.workload}/soul_jobs\" AND metric.labels.outcome = \"failed\" AND metric.labels.kind = one_of(\"image\", \"selfie\", \"svd\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 2
      duration        = "0s"
      aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.labels.code"]
      }
    }
  }
  conditions {
    display_name = "Failed executions of the GPU worker job"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_job\" AND resource.labels.job_name = \"${var.gpu_job}\" AND metric.type = \"run.googleapis.com/job/completed_execution_count\" AND metric.labels.result = \"failed\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "daily_spend" {
  project               = var.project_id
  display_name          = "Soul: estimated daily spend over budget"
  combiner              = "OR"
  notification_channels = local.channels
  documentation {
    content   = "Soul's own estimate (list prices x measured seconds) over the last day is above ${var.daily_budget_usd} USD. Runbook: docs/OPERATIONS.md#daily-spend"
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "soul_cost_usd summed over 24 h"
    condition_threshold {
      filter          = "metric.type = \"${local.workload}/soul_cost_usd\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.daily_budget_usd
      duration        = "0s"
      aggregations {
        alignment_period     = "86400s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}

output "alert_policies" {
  value = concat(
    [for p in [
      google_monitoring_alert_policy.dead_letters,
      google_monitoring_alert_policy.api_5xx_ratio,
      google_monitoring_alert_policy.launch_refusals,
      google_monitoring_alert_policy.gpu_job_failures,
      google_monitoring_alert_policy.daily_spend,
    ] : p.name],
    [for p in google_monitoring_alert_policy.oldest_job_age : p.name],
  )
}
