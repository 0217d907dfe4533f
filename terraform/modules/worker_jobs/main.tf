# One Cloud Run job running `soul worker` for some lanes. The dispatcher starts executions with
# JobsClient.run_job(overrides); the worker pulls its lanes' subscriptions and exits when idle.
# Instantiated twice: the GPU job (image, video) and the CPU job (wan).

variable "project_id" {
  type = string
}

variable "region" {
  type = string
}

variable "name" {
  description = "CLOUD_RUN_JOB_GPU or CLOUD_RUN_JOB_WAN"
  type        = string
}

variable "image" {
  type = string
}

variable "service_account" {
  type = string
}

variable "args" {
  description = "Arguments to the `soul` entry point."
  type        = list(string)
}

variable "env" {
  type = map(string)
}

variable "secret_env" {
  description = "env name => { secret, version }; versions are pinned numbers, never \"latest\"."
  type        = map(object({ secret = string, version = string }))
  default     = {}

  validation {
    condition     = alltrue([for s in values(var.secret_env) : can(regex("^[0-9]+$", s.version))])
    error_message = "Pin secret versions to a number."
  }
}

variable "cpu" {
  type = string
}

variable "memory" {
  type = string
}

variable "gpu" {
  description = "Attach one NVIDIA L4 (needs at least 4 CPU and 16Gi)."
  type        = bool
  default     = false
}

variable "task_timeout" {
  type = string
}

variable "max_retries" {
  type = number
}

variable "models_bucket" {
  description = "Bucket with model weights, mounted read-only at /models; null for none."
  type        = string
  default     = null
}

variable "launchers" {
  description = "Members allowed to start executions with overrides (the dispatcher)."
  type        = list(string)
}

variable "launcher_role" {
  description = "Role granting run.jobs.run/runWithOverrides and run.executions.get/list."
  type        = string
}

variable "deletion_protection" {
  type    = bool
  default = true
}

resource "google_cloud_run_v2_job" "this" {
  project             = var.project_id
  name                = var.name
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account       = var.service_account
      timeout               = var.task_timeout
      max_retries           = var.max_retries
      execution_environment = "EXECUTION_ENVIRONMENT_GEN2"
      # GPU capacity without zonal redundancy is the one Cloud Run offers for jobs.
      gpu_zonal_redundancy_disabled = var.gpu ? true : null

      dynamic "node_selector" {
        for_each = var.gpu ? ["nvidia-l4"] : []
        content {
          accelerator = node_selector.value
        }
      }

      containers {
        image   = var.image
        command = ["soul"]
        args    = var.args

        resources {
          limits = merge(
            { cpu = var.cpu, memory = var.memory },
            var.gpu ? { "nvidia.com/gpu" = "1" } : {},
          )
        }

        dynamic "env" {
          for_each = var.env
          content {
            name  = env.key
            value = env.value
          }
        }

        dynamic "env" {
          for_each = var.secret_env
          content {
            name = env.key
            value_source {
              secret_key_ref {
                secret  = env.value.secret
                version = env.value.version
              }
            }
          }
        }

        dynamic "volume_mounts" {
          for_each = var.models_bucket == null ? [] : ["models"]
          content {
            name       = volume_mounts.value
            mount_path = "/models"
          }
        }
      }

      dynamic "volumes" {
        for_each = var.models_bucket == null ? [] : ["models"]
        content {
          name = volumes.value
          gcs {
            bucket    = var.models_bucket
            read_only = true
          }
        }
      }
    }
  }
}

resource "google_cloud_run_v2_job_iam_member" "launcher" {
  for_each = toset(var.launchers)
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.this.name
  role     = var.launcher_role
  member   = each.value
}

output "name" {
  value = google_cloud_run_v2_job.this.name
}
