# The Google-managed service agents the deploy relies on, created before anything that needs them.
#
# Enabling an API does not create its service agent: Google creates it lazily, and on a fresh project
# the Eventarc trigger ("Permission denied while using the Eventarc Service Agent") and the Pub/Sub
# service agent's dead-letter grants race that creation (terraform-provider-google issues #25294 and
# #14584). google_project_service_identity (google-beta only) creates each agent up front; IAM is
# eventually consistent, so the members are output only after a wait. Modules that use an agent
# depend on this module (terraform/envs/dev/main.tf).

terraform {
  required_providers {
    google-beta = {
      source = "hashicorp/google-beta"
    }
    time = {
      source = "hashicorp/time"
    }
  }
}

variable "project_id" {
  type = string
}

variable "services" {
  description = "APIs whose service agent Soul grants roles to or relies on."
  type        = list(string)
  default     = ["eventarc.googleapis.com", "pubsub.googleapis.com"]
}

variable "propagation" {
  description = "Wait after creating the agents, for IAM to see them."
  type        = string
  default     = "60s"
}

resource "google_project_service_identity" "this" {
  provider = google-beta
  for_each = toset(var.services)
  project  = var.project_id
  service  = each.value
}

# The Eventarc agent's own role: granted by Google when it creates the agent lazily, not always when
# the agent is created through the API. Adding a member that is already there changes nothing.
resource "google_project_iam_member" "eventarc_agent" {
  #checkov:skip=CKV_GCP_49:Google's own Eventarc service agent role, on Google's agent; no user account gains it.
  project = var.project_id
  role    = "roles/eventarc.serviceAgent"
  member  = google_project_service_identity.this["eventarc.googleapis.com"].member
}

resource "time_sleep" "propagation" {
  create_duration = var.propagation
  depends_on      = [google_project_service_identity.this, google_project_iam_member.eventarc_agent]
}

output "members" {
  description = "API => its service agent's IAM member, once IAM has had time to see it."
  value       = { for service, agent in google_project_service_identity.this : service => agent.member }
  depends_on  = [time_sleep.propagation]
}
