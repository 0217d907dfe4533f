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

# A queued task's place in its lane's queue (functions/tasks.py, forecast): queued jobs of the lane
# created before it, counted.
resource "google_firestore_index" "jobs_lane_status_created" {
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
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

# GET /tasks for one user: their waiter documents (one per user and job), newest first.
resource "google_firestore_index" "waiters_user_created" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "waiters"
  query_scope = "COLLECTION"

  fields {
    field_path = "user_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# Who still waits for a job (a user leaving a shared job; the fan-out after it succeeds).
resource "google_firestore_index" "waiters_job_state" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "waiters"
  query_scope = "COLLECTION"

  fields {
    field_path = "job_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
}

# The hit path: a key's oldest variants that have not expired (pk == X, expire_at > now, limit).
resource "google_firestore_index" "variants_pk_expire" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "variants"
  query_scope = "COLLECTION"

  fields {
    field_path = "pk"
    order      = "ASCENDING"
  }
  fields {
    field_path = "expire_at"
    order      = "ASCENDING"
  }
}

# A request that names a seed (shared/seeded.py): the key's variants made with that seed (pk == X,
# seed == N). Equality alone could merge single-field indexes; a composite one keeps it one index read.
resource "google_firestore_index" "variants_pk_seed" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "variants"
  query_scope = "COLLECTION"

  fields {
    field_path = "pk"
    order      = "ASCENDING"
  }
  fields {
    field_path = "seed"
    order      = "ASCENDING"
  }
}

# The reconciler: running jobs whose lease expired long ago.
resource "google_firestore_index" "jobs_status_lease" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "lease_expires_at"
    order      = "ASCENDING"
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

# TTL: Firestore deletes these documents once `expire_at` (a timestamp the code writes) has passed:
# variants with their objects (the bucket's lifecycle age), jobs and their waiters after a month,
# in-flight markers once abandoned. The hit path filters on expire_at too (deletion is not immediate).
# Scratch (shared/records.py TTL_COLLECTIONS): idempotency keys after a day, quota counters two days
# after a user's last request, dispatch slots and Wan submit permits once their interval or second is
# long past, pre-generation budget counters two days after their day, first-served claims with their
# variant (the cache counter shards in `counters` carry no expire_at and stay).
resource "google_firestore_field" "ttl" {
  for_each   = toset(["variants", "jobs", "inflight", "waiters", "idempotency", "quotas", "dispatch", "wan_submit_permits", "counters", "places", "first_served"])
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.key
  field      = "expire_at"

  ttl_config {}
}

# The semantic cache (docs/ARCHITECTURE.md, Prompt keys): nearest prompt keys within one space (soul,
# kind, style version, params) by cosine distance: shared/adapters/gcp_vectors.py's find_nearest. The
# dimension is the embedder's (the static model's 256; the Vertex option asks for 256 too).
# `__name__` is declared where the API inserts it (before the vector field, in the order of the field
# before it): without it every plan sees a difference and every apply replaces the index, and while it
# rebuilds find_nearest answers FAILED_PRECONDITION (read as "no semantic match" by the adapter).
resource "google_firestore_index" "semantic_keys_space_embedding" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "semantic_keys"
  query_scope = "COLLECTION"

  fields {
    field_path = "space"
    order      = "ASCENDING"
  }
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }
  fields {
    field_path = "embedding"
    vector_config {
      dimension = 256
      flat {}
    }
  }
}

output "database" {
  value = google_firestore_database.this.name
}
