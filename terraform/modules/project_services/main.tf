# The Google APIs Soul uses. Disabling on destroy is off: other workloads in the project may use them.

variable "project_id" {
  type = string
}

variable "services" {
  type = list(string)
  default = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtrace.googleapis.com", # spans from every deployable (SOUL_TRACE_EXPORTER=cloud_trace)
    # Cloud Build's default accounts, and projects created since mid-2024 build with the Compute
    # Engine default account unless a build service account is set (the functions set soul-build).
    "compute.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    # Sign-in (modules/identity): Identity Platform, its token refresh, and the pages' web API key.
    "identitytoolkit.googleapis.com",
    "securetoken.googleapis.com",
    "apikeys.googleapis.com",
    "language.googleapis.com", # content safety: moderateText on prompts (api)
    "pubsub.googleapis.com",
    "monitoring.googleapis.com",     # metrics, alerts, SLOs, the dashboard (modules/monitoring)
    "billingbudgets.googleapis.com", # the project's budget (modules/monitoring)
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "vision.googleapis.com", # content safety: SafeSearch on outputs (workers)
  ]
}

resource "google_project_service" "this" {
  for_each                   = toset(var.services)
  project                    = var.project_id
  service                    = each.value
  disable_on_destroy         = false
  disable_dependent_services = false
}

output "enabled" {
  description = "The enabled services; depend on this before creating resources."
  value       = [for s in google_project_service.this : s.service]
}
