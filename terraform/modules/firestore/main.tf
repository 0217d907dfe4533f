# Firestore (native mode) and the composite indexes Soul's queries need.
# Keep in step with infra/firestore.indexes.json (tests/unit/test_terraform.py checks they agree).

variable "project_id" {
  type = string
}

variable "database" {
  description = "Database id; the code reads it as FIRESTORE_DATABASE."
  type        = string
}

variable "location" {
  description = "Firestore location, e.g. nam5 or us-central1."
  type        = string
}

variable "deletion_protection" {
  type    = bool
  default = true
}

resource "google_firestore_database" "this" {
  project                           = var.project_id
  name                              = var.database
  location_id                       = var.location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"
}

# GET /tasks?status=… : jobs where status == X order by created_at desc.
resource "google_firestore_index" "jobs_status_created" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# GET /tasks for one user: jobs where user_ids array_contains U order by created_at desc.
resource "google_firestore_index" "jobs_user_created" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path   = "user_ids"
    array_config = "CONTAINS"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# Stats and stuck-job sweeps: jobs where lane == L and status == S.
resource "google_firestore_index" "jobs_lane_status" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "lane"
    order      = "ASCENDING"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
}

# GET /tasks?status=… for one user: both filters of Records.jobs at once.
resource "google_firestore_index" "jobs_user_status_created" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path   = "user_ids"
    array_config = "CONTAINS"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# The reconciler: queued jobs whose message was never published.
resource "google_firestore_index" "jobs_status_published" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "published"
    order      = "ASCENDING"
  }
}

output "database" {
  value = google_firestore_database.this.name
}
