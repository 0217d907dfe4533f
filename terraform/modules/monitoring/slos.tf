# The billing budget and the SLOs (docs/OPERATIONS.md, Daily spend and SLOs).

# The billed figure: Cloud Billing's budget on the project, notified through the same channel.
resource "google_billing_budget" "soul" {
  count           = var.billing_account == "" ? 0 : 1
  billing_account = var.billing_account
  display_name    = "Soul ${var.project_id}"

  budget_filter {
    projects = ["projects/${var.project_id}"]
  }
  amount {
    specified_amount {
      currency_code = "USD"
      units         = tostring(ceil(var.daily_budget_usd * 30))
    }
  }
  threshold_rules {
    threshold_percent = 0.5
  }
  threshold_rules {
    threshold_percent = 0.9
  }
  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }
  all_updates_rule {
    monitoring_notification_channels = local.channels
    disable_default_iam_recipients   = false
  }
}

# ---- SLOs -------------------------------------------------------------------------------------------

resource "google_monitoring_custom_service" "soul" {
  project      = var.project_id
  service_id   = "soul"
  display_name = "Soul"
}

resource "google_monitoring_slo" "hit_latency" {
  project             = var.project_id
  service             = google_monitoring_custom_service.soul.service_id
  slo_id              = "hit-latency"
  display_name        = "Cache hits within ${var.hit_latency_seconds} s"
  goal                = var.hit_latency_goal
  rolling_period_days = 28
  request_based_sli {
    distribution_cut {
      distribution_filter = "metric.type = \"${local.workload}/soul_request_duration\" AND metric.labels.outcome = \"hit\""
      range {
        min = 0
        max = var.hit_latency_seconds
      }
    }
  }
}

resource "google_monitoring_slo" "job_success" {
  project             = var.project_id
  service             = google_monitoring_custom_service.soul.service_id
  slo_id              = "job-success"
  display_name        = "Jobs that succeed"
  goal                = var.job_success_goal
  rolling_period_days = 28
  request_based_sli {
    good_total_ratio {
      good_service_filter = "metric.type = \"${local.workload}/soul_jobs\" AND metric.labels.outcome = \"succeeded\""
      bad_service_filter  = "metric.type = \"${local.workload}/soul_jobs\" AND metric.labels.outcome = \"failed\""
    }
  }
}
