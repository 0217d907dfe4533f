# Example environment: one project running the whole Soul pipeline.
#
# The names below are the defaults of shared.config.Settings, and every *_env map is passed to a
# deployable as environment variables named after Settings fields (tests/unit/test_deploy_consistency.py
# reads Settings and checks both directions).

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  names = {
    database            = "(default)"
    topic               = "soul-jobs"
    subscription_prefix = "soul-jobs"
    dead_letter_topic   = "soul-jobs-dead"
    job_gpu             = "soul-worker-gpu"
    job_wan             = "soul-worker-wan"
    job_reconcile       = "soul-reconcile"
    dashscope_secret    = "soul-dashscope-api-key"
  }
  lanes     = ["image", "video", "wan"]
  gpu_lanes = ["image", "video"]
  cpu_lanes = ["wan"]
  # Pre-generation's low-priority twins of the GPU lanes (shared/domain/demand.py PREGEN_LANES).
  low_lanes = [for lane in local.gpu_lanes : "${lane}-low"]
  registry  = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"

  # Every deployable: where records, queue and blobs live.
  common_env = {
    SOUL_BACKEND               = "gcp"
    GOOGLE_CLOUD_PROJECT       = var.project_id
    FIRESTORE_DATABASE         = module.firestore.database
    GCS_BUCKET_NAME            = module.artifacts.name
    PUBSUB_TOPIC               = module.pubsub.topic_name
    PUBSUB_SUBSCRIPTION_PREFIX = local.names.subscription_prefix
    PUBSUB_DEAD_LETTER_TOPIC   = module.pubsub.dead_letter_topic_name
    SOUL_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
    SOUL_ACK_DEADLINE_SECONDS  = tostring(var.ack_deadline_seconds)
    # api: enqueues pre-generation; dispatcher: launches for it within budget; worker: pulls low lanes.
    SOUL_PREGEN_DAILY_GPU_SECONDS = tostring(var.pregen_daily_gpu_seconds)
    LOG_LEVEL                     = var.log_level
    # Metrics (shared/metrics.py) to Cloud Monitoring as workload.googleapis.com/<name> (docs/OPERATIONS.md).
    SOUL_METRICS_EXPORTER = "cloud_monitoring"
    # Spans to Cloud Trace (batched), every deployable: one trace from the request to the worker (docs/OPERATIONS.md, Traces).
    SOUL_TRACE_EXPORTER = "cloud_trace"
  }
  api_env = {
    SOUL_AUTH_MODE    = "token"
    SOUL_SIGNER_EMAIL = module.accounts.emails["soul-api"]
    # The pages sign in at Identity Platform (modules/identity); the api verifies its ID tokens with
    # Settings' defaults (issuer and audience from GOOGLE_CLOUD_PROJECT, Google's securetoken JWKS).
    SOUL_FIREBASE_API_KEY = module.identity.api_key
    # functions-framework's gunicorn threads (its default is 4 x CPUs = 4 here): at least the
    # function's request concurrency (16), so every request the instance accepts has a thread; long
    # polls (`wait=`) may hold at most SOUL_MAX_LONG_POLLS of them (docs/ARCHITECTURE.md).
    THREADS                      = "16"
    SOUL_MAX_LONG_POLLS          = "8"
    SOUL_MAX_LONG_POLLS_PER_USER = "2"
    # Content safety (docs/SAFETY.md): every miss's cue through Cloud Natural Language moderateText.
    SOUL_TEXT_MODERATION = "cloud"
  }
  dispatch_env = {
    CLOUD_RUN_REGION  = var.region
    CLOUD_RUN_JOB_GPU = module.worker_gpu.name
    CLOUD_RUN_JOB_WAN = module.worker_wan.name
    # Executions of the GPU job at once: the project's Cloud Run L4 quota in the region.
    SOUL_MAX_GPU_EXECUTIONS = tostring(var.gpu_max_executions)
  }
  gpu_worker_env = {
    SDXL_MODEL_PATH = "/models/sdxl"
    SVD_MODEL_PATH  = "/models/svd"
    # Stay up a minute after the queue drains: loading SDXL costs more than a minute of idle L4.
    SOUL_WORKER_IDLE_EXIT_SECONDS = "60"
    # Content safety: every output through Cloud Vision SafeSearch before it is uploaded.
    SOUL_OUTPUT_SCREENING = "cloud"
    # Where compiled UNets' cache artifacts persist (compile-cache/), once SOUL_TORCH_COMPILE is on.
    SOUL_MODELS_BUCKET = google_storage_bucket.models.name
  }
  wan_worker_env = {
    WAN_API_BASE_URL              = var.wan_api_base_url
    SOUL_WORKER_IDLE_EXIT_SECONDS = "30"
    SOUL_OUTPUT_SCREENING         = "cloud"
  }
  wan_secret_env = {
    DASHSCOPE_API_KEY = { secret = module.dashscope_key.secret_id, version = var.dashscope_secret_version }
  }
}

module "services" {
  source     = "../../modules/project_services"
  project_id = var.project_id
}

module "accounts" {
  source     = "../../modules/service_accounts"
  project_id = var.project_id
  accounts = {
    "soul-api"        = "Soul api function"
    "soul-dispatcher" = "Soul dispatcher function and its Pub/Sub trigger"
    "soul-worker-gpu" = "Soul GPU worker job (image, video)"
    "soul-worker-wan" = "Soul Wan worker job"
    "soul-reconcile"  = "Soul reconcile job (republish lost jobs, drain the dead letters, delete orphans)"
    "soul-scheduler"  = "Cloud Scheduler: starts the reconcile job"
    "soul-build"      = "Cloud Build: builds the functions' images"
  }
  project_roles = {
    # Natural Language moderateText (api) and Vision SafeSearch (workers) have no resource-level
    # permission: the caller needs serviceusage.services.use on the project whose API it calls.
    # roles/cloudtrace.agent: every deployable writes its spans to Cloud Trace (SOUL_TRACE_EXPORTER).
    # roles/monitoring.metricWriter: those that record metrics write them (SOUL_METRICS_EXPORTER).
    "soul-api" = ["roles/datastore.user", "roles/serviceusage.serviceUsageConsumer", "roles/cloudtrace.agent", "roles/monitoring.metricWriter"]
    # dispatch/* (launch slots) and dispatch_stats/* in Firestore.
    "soul-dispatcher" = ["roles/datastore.user", "roles/eventarc.eventReceiver", "roles/cloudtrace.agent", "roles/monitoring.metricWriter"]
    "soul-worker-gpu" = ["roles/datastore.user", "roles/serviceusage.serviceUsageConsumer", "roles/cloudtrace.agent", "roles/monitoring.metricWriter"]
    "soul-worker-wan" = ["roles/datastore.user", "roles/serviceusage.serviceUsageConsumer", "roles/cloudtrace.agent", "roles/monitoring.metricWriter"]
    "soul-reconcile"  = ["roles/datastore.user", "roles/cloudtrace.agent"]
    # The functions' build account (the default one may not exist or lack permissions on projects
    # created since mid-2024): Cloud Build's documented role for a custom build service account.
    "soul-build" = ["roles/cloudbuild.builds.builder"]
  }
  depends_on = [module.services]
}

# Service agents (Eventarc, Pub/Sub) exist, with time for IAM to see them, before the trigger and the
# dead-letter grants that use them.
module "service_agents" {
  source     = "../../modules/service_agents"
  project_id = var.project_id
  depends_on = [module.services]
}

# The api signs V4 URLs through IAM signBlob as itself.
resource "google_service_account_iam_member" "api_signs_as_itself" {
  service_account_id = module.accounts.ids["soul-api"]
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = module.accounts.members["soul-api"]
}

resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption keys; a CMEK is an org-level choice.
  project       = var.project_id
  location      = var.region
  repository_id = "soul"
  format        = "DOCKER"
  depends_on    = [module.services]

  # Every commit pushes a ~8 GB worker-gpu image: keep the 10 newest versions of each image (the
  # deployed one and the rollbacks), delete the rest after 30 days and untagged layers after 7.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s"
    }
  }
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "604800s"
    }
  }
}

module "firestore" {
  source              = "../../modules/firestore"
  project_id          = var.project_id
  database            = local.names.database
  location            = var.firestore_location
  deletion_protection = var.deletion_protection
  depends_on          = [module.services]
}

module "artifacts" {
  source                = "../../modules/storage"
  project_id            = var.project_id
  name                  = "${var.project_id}-soul-artifacts"
  location              = var.region
  artifact_max_age_days = var.artifact_max_age_days
  viewers = [
    module.accounts.members["soul-api"],
    module.accounts.members["soul-worker-gpu"],
    module.accounts.members["soul-worker-wan"],
  ]
  creators = [
    module.accounts.members["soul-worker-gpu"],
    module.accounts.members["soul-worker-wan"],
  ]
  deleters   = [module.accounts.members["soul-reconcile"]]
  depends_on = [module.services]
}

# Model weights (diffusers folders sdxl/ and svd/), mounted read-only into the GPU job at /models.
resource "google_storage_bucket" "models" {
  #checkov:skip=CKV_GCP_62:Weights only; Cloud Audit Logs cover access.
  #checkov:skip=CKV_GCP_78:Weights are replaced by uploading a new folder; no history is needed.
  project                     = var.project_id
  name                        = "${var.project_id}-soul-models"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  depends_on                  = [module.services]
}

resource "google_storage_bucket_iam_member" "gpu_worker_reads_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = module.accounts.members["soul-worker-gpu"]
}

# The GPU worker saves its compiled UNets' cache artifacts (gpu_jobs/compile_cache.py): create-only, and only
# under compile-cache/, so it can neither replace nor add weights.
resource "google_storage_bucket_iam_member" "gpu_worker_saves_compile_cache" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectCreator"
  member = module.accounts.members["soul-worker-gpu"]
  condition {
    title      = "compile-cache-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.models.name}/objects/compile-cache/\")"
  }
}

module "pubsub" {
  source                   = "../../modules/pubsub"
  project_id               = var.project_id
  project_number           = data.google_project.this.number
  topic                    = local.names.topic
  subscription_prefix      = local.names.subscription_prefix
  dead_letter_topic        = local.names.dead_letter_topic
  lanes                    = local.lanes
  max_delivery_attempts    = var.max_delivery_attempts
  ack_deadline_seconds     = var.ack_deadline_seconds
  publishers               = [module.accounts.members["soul-api"], module.accounts.members["soul-reconcile"]]
  dead_letter_subscribers  = [module.accounts.members["soul-reconcile"]]
  low_priority_lanes       = local.low_lanes
  low_priority_subscribers = [module.accounts.members["soul-worker-gpu"]]
  lane_subscribers = {
    image = [module.accounts.members["soul-worker-gpu"]]
    video = [module.accounts.members["soul-worker-gpu"]]
    wan   = [module.accounts.members["soul-worker-wan"]]
  }
  depends_on = [module.services, module.service_agents]
}

module "dashscope_key" {
  source     = "../../modules/secret"
  project_id = var.project_id
  secret_id  = local.names.dashscope_secret
  accessors  = [module.accounts.members["soul-worker-wan"]]
  depends_on = [module.services]
}

# Exactly what the dispatcher needs to start a worker execution with overrides and see running ones.
resource "google_project_iam_custom_role" "job_launcher" {
  project     = var.project_id
  role_id     = "soulJobLauncher"
  title       = "Soul job launcher"
  description = "Start Soul worker executions with overrides and list them (granted per job)."
  permissions = [
    "run.executions.get",
    "run.executions.list",
    "run.jobs.get",
    "run.jobs.run",
    "run.jobs.runWithOverrides",
    # operation.done() on run_job's long-running operation is GetOperation: without it every launch
    # is logged "refused", its slot released and never counted.
    "run.operations.get",
  ]
}

module "worker_gpu" {
  source              = "../../modules/worker_jobs"
  project_id          = var.project_id
  region              = var.region
  name                = local.names.job_gpu
  image               = "${local.registry}/worker-gpu:${var.gpu_image_tag}"
  service_account     = module.accounts.emails["soul-worker-gpu"]
  args                = ["worker", "--lanes", join(",", local.gpu_lanes), "--exit-when-idle"]
  env                 = merge(local.common_env, local.gpu_worker_env)
  gpu                 = true
  cpu                 = "4"
  memory              = "16Gi"
  task_timeout        = var.gpu_task_timeout
  max_retries         = 3
  models_bucket       = google_storage_bucket.models.name
  launchers           = [module.accounts.members["soul-dispatcher"], module.accounts.members["soul-reconcile"]] # reconcile: queued work nobody takes
  launcher_role       = google_project_iam_custom_role.job_launcher.id
  deletion_protection = var.deletion_protection
}

module "worker_wan" {
  source              = "../../modules/worker_jobs"
  project_id          = var.project_id
  region              = var.region
  name                = local.names.job_wan
  image               = "${local.registry}/worker-cpu:${var.cpu_image_tag}"
  service_account     = module.accounts.emails["soul-worker-wan"]
  args                = ["worker", "--lanes", join(",", local.cpu_lanes), "--exit-when-idle"]
  env                 = merge(local.common_env, local.wan_worker_env)
  secret_env          = local.wan_secret_env
  cpu                 = "1"
  memory              = "1Gi"
  task_timeout        = "3600s"
  max_retries         = 3
  launchers           = [module.accounts.members["soul-dispatcher"], module.accounts.members["soul-reconcile"]] # reconcile: queued work nobody takes
  launcher_role       = google_project_iam_custom_role.job_launcher.id
  deletion_protection = var.deletion_protection
}

module "identity" {
  source     = "../../modules/identity"
  project_id = var.project_id
  # The api serves the pages, so its host (a gen2 function's cloudfunctions.net URL, known before the
  # function exists) is where users sign in; the Firebase ones are Identity Platform's defaults.
  authorized_domains = concat(
    ["${var.project_id}.firebaseapp.com", "${var.project_id}.web.app", "${var.region}-${var.project_id}.cloudfunctions.net"],
    var.sign_in_domains,
  )
  depends_on = [module.services]
}

module "functions" {
  source                          = "../../modules/functions"
  project_id                      = var.project_id
  region                          = var.region
  source_zip                      = var.functions_source_zip
  api_service_account             = module.accounts.emails["soul-api"]
  dispatch_service_account        = module.accounts.emails["soul-dispatcher"]
  dispatch_service_account_member = module.accounts.members["soul-dispatcher"]
  api_env                         = merge(local.common_env, local.api_env)
  dispatch_env                    = merge(local.common_env, local.dispatch_env)
  jobs_topic_id                   = module.pubsub.topic_id
  build_service_account           = module.accounts.ids["soul-build"]
  depends_on                      = [module.services, module.service_agents]
}

# The reconcile pass (`soul reconcile`): republishes jobs whose message was lost (created but never
# published, or running with a long-expired lease), drains the dead-letter subscription into failed
# jobs and deletes orphan objects. Cloud Scheduler starts it every reconcile_period_minutes, which
# must not exceed the lease (SOUL_LEASE_SECONDS): a lost publish is republished within 2 x lease.
module "reconciler" {
  source              = "../../modules/worker_jobs"
  project_id          = var.project_id
  region              = var.region
  name                = local.names.job_reconcile
  image               = "${local.registry}/worker-cpu:${var.cpu_image_tag}"
  service_account     = module.accounts.emails["soul-reconcile"]
  args                = ["reconcile"]
  env                 = merge(local.common_env, local.dispatch_env) # it asks the launcher for queued lanes
  cpu                 = "1"
  memory              = "512Mi"
  task_timeout        = "600s"
  max_retries         = 0
  launchers           = [module.accounts.members["soul-scheduler"]]
  launcher_role       = "roles/run.invoker"
  deletion_protection = var.deletion_protection
}

resource "google_cloud_scheduler_job" "reconcile" {
  project          = var.project_id
  region           = var.region
  name             = "soul-reconcile"
  description      = "Runs the soul-reconcile Cloud Run job."
  schedule         = "*/${var.reconcile_period_minutes} * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${module.reconciler.name}:run"

    oauth_token {
      service_account_email = module.accounts.emails["soul-scheduler"]
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [module.services]
}

# Alerts, SLOs, the dashboard and the billing budget (docs/OPERATIONS.md is the runbook).
module "monitoring" {
  source                   = "../../modules/monitoring"
  project_id               = var.project_id
  subscription_prefix      = local.names.subscription_prefix
  dead_letter_subscription = "${local.names.dead_letter_topic}-sub"
  lane_age_targets         = var.lane_age_targets
  api_service              = "api"
  gpu_job                  = module.worker_gpu.name
  notification_channel     = var.notification_channel
  billing_account          = var.billing_account
  daily_budget_usd         = var.daily_budget_usd
  error_ratio_threshold    = 0.02
  hit_latency_seconds      = 0.25
  hit_latency_goal         = 0.99
  job_success_goal         = 0.98
  depends_on               = [module.services]
}
