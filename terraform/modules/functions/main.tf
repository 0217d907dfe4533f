# The two Cloud Functions (gen 2, python311) built from one source zip of the repository:
# `api` (HTTP) and `dispatch` (CloudEvent, Pub/Sub trigger on the jobs topic). The zip is made by
# infra/docker/functions-source.sh and carries a requirements.txt installing `.[functions]` (no torch).

variable "project_id" {
  type = string
}

variable "region" {
  type = string
}

variable "source_zip" {
  description = "Path of the zip made by infra/docker/functions-source.sh."
  type        = string
}

variable "api_service_account" {
  type = string
}

variable "dispatch_service_account" {
  type = string
}

variable "dispatch_service_account_member" {
  type = string
}

variable "api_env" {
  type = map(string)
}

variable "dispatch_env" {
  type = map(string)
}

variable "jobs_topic_id" {
  type = string
}

variable "build_service_account" {
  description = "projects/<project>/serviceAccounts/<email> Cloud Build builds both functions as (not the project's default)."
  type        = string
}

variable "api_public" {
  description = "Let anyone reach the api; it verifies the caller's ID token itself (SOUL_AUTH_MODE=token)."
  type        = bool
  default     = true
}

variable "api_max_instances" {
  type    = number
  default = 20
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Build inputs only; Cloud Audit Logs cover access.
  #checkov:skip=CKV_GCP_78:Objects are content-addressed (md5 in the name); old ones expire by lifecycle.
  project                     = var.project_id
  name                        = "${var.project_id}-soul-functions-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_object" "source" {
  name   = "soul-functions-${filemd5(var.source_zip)}.zip"
  bucket = google_storage_bucket.source.name
  source = var.source_zip
}

locals {
  # functions/main.py holds the entry points; the buildpack installs requirements.txt from the root.
  build_env = { GOOGLE_FUNCTION_SOURCE = "functions/main.py" }
}

resource "google_cloudfunctions2_function" "api" {
  #checkov:skip=CKV_GCP_124:The api is the app's public HTTPS endpoint; it verifies ID tokens itself.
  project  = var.project_id
  name     = "api"
  location = var.region

  build_config {
    runtime               = "python311"
    entry_point           = "api"
    environment_variables = local.build_env
    service_account       = var.build_service_account
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = var.api_service_account
    environment_variables            = var.api_env
    available_memory                 = "1Gi"
    available_cpu                    = "1"
    timeout_seconds                  = 120
    max_instance_count               = var.api_max_instances
    max_instance_request_concurrency = 16
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
  }
}

resource "google_cloudfunctions2_function" "dispatch" {
  project  = var.project_id
  name     = "dispatch"
  location = var.region

  build_config {
    runtime               = "python311"
    entry_point           = "dispatch"
    environment_variables = local.build_env
    service_account       = var.build_service_account
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email          = var.dispatch_service_account
    environment_variables          = var.dispatch_env
    available_memory               = "512Mi"
    timeout_seconds                = 60
    max_instance_count             = 3
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = var.jobs_topic_id
    retry_policy          = "RETRY_POLICY_RETRY" # the dispatcher raises to be retried
    service_account_email = var.dispatch_service_account
  }
}

# The Eventarc trigger pushes as the dispatcher's account: it may invoke only its own function.
resource "google_cloud_run_service_iam_member" "dispatch_invoker" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.dispatch.name
  role     = "roles/run.invoker"
  member   = var.dispatch_service_account_member
}

resource "google_cloud_run_service_iam_member" "api_public" {
  #checkov:skip=CKV_GCP_102:The api is the public endpoint of a consumer app; it authenticates ID tokens itself.
  count    = var.api_public ? 1 : 0
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.api.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

output "api_url" {
  value = google_cloudfunctions2_function.api.url
}
