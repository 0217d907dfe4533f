# The artifacts bucket: private, uniform access, create-only writes from the workers, old artifacts
# deleted by lifecycle. Readers get short-lived V4 signed URLs from the api, never public access.

variable "project_id" {
  type = string
}

variable "name" {
  description = "Globally unique bucket name; the code reads it as GCS_BUCKET_NAME."
  type        = string
}

variable "location" {
  type = string
}

variable "artifact_max_age_days" {
  description = "Artifacts older than this are deleted (cached variants are regenerated on demand)."
  type        = number
  default     = 90
}

variable "viewers" {
  description = "Members that read objects (api, workers)."
  type        = list(string)
}

variable "creators" {
  description = "Members that create objects (workers). No delete or overwrite: uploads are create-only."
  type        = list(string)
}

variable "deleters" {
  description = "Members that delete orphan objects (the reconcile job); objectUser adds delete to read/create."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  type    = bool
  default = false
}

resource "google_storage_bucket" "artifacts" {
  #checkov:skip=CKV_GCP_62:Access logging to a second bucket is an operator choice; Cloud Audit Logs cover data access.
  #checkov:skip=CKV_GCP_78:Versioning is off on purpose: objects are immutable (create-only) and lifecycle deletes them.
  project                     = var.project_id
  name                        = var.name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  versioning {
    enabled = false
  }

  lifecycle_rule {
    condition {
      age = var.artifact_max_age_days
    }
    action {
      type = "Delete"
    }
  }

  # Uploads that never completed (a worker died mid-upload).
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}

resource "google_storage_bucket_iam_member" "viewer" {
  for_each = toset(var.viewers)
  bucket   = google_storage_bucket.artifacts.name
  role     = "roles/storage.objectViewer"
  member   = each.value
}

resource "google_storage_bucket_iam_member" "creator" {
  for_each = toset(var.creators)
  bucket   = google_storage_bucket.artifacts.name
  role     = "roles/storage.objectCreator"
  member   = each.value
}

resource "google_storage_bucket_iam_member" "deleter" {
  for_each = toset(var.deleters)
  bucket   = google_storage_bucket.artifacts.name
  role     = "roles/storage.objectUser"
  member   = each.value
}

output "name" {
  value = google_storage_bucket.artifacts.name
}
