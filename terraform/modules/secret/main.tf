# The DashScope API key for the Wan lane. Terraform creates the secret (no value: keys stay out of
# state); an operator adds versions with `gcloud secrets versions add` and pins one here.

variable "project_id" {
  type = string
}

variable "secret_id" {
  type = string
}

variable "accessors" {
  description = "Members allowed to read the secret (the Wan worker only)."
  type        = list(string)
}

resource "google_secret_manager_secret" "this" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption keys; a CMEK is an org-level choice.
  project   = var.project_id
  secret_id = var.secret_id

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = toset(var.accessors)
  project   = var.project_id
  secret_id = google_secret_manager_secret.this.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

output "secret_id" {
  value = google_secret_manager_secret.this.secret_id
}
