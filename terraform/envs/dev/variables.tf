variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, functions, Artifact Registry and the buckets (must offer Cloud Run GPUs for the GPU job)."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Firestore location (multi-region nam5/eur3 or a region)."
  type        = string
  default     = "nam5"
}

variable "gpu_image_tag" {
  description = "Tag of the worker-gpu image in Artifact Registry (Cloud Build uses the commit SHA)."
  type        = string
}

variable "cpu_image_tag" {
  description = "Tag of the worker-cpu image (Wan lane) in Artifact Registry."
  type        = string
}

variable "functions_source_zip" {
  description = "Zip made by infra/docker/functions-source.sh, relative to this directory."
  type        = string
  default     = "../../../build/functions-source.zip"
}

variable "dashscope_secret_version" {
  description = "Pinned version number of the soul-dashscope-api-key secret (add it with gcloud first)."
  type        = string
}

variable "wan_api_base_url" {
  description = "DashScope endpoint of the region your key belongs to (Beijing or Singapore)."
  type        = string
  default     = "https://dashscope-intl.aliyuncs.com/api/v1"
}

variable "max_delivery_attempts" {
  description = "Deliveries before a job message is dead-lettered (SOUL_MAX_DELIVERY_ATTEMPTS)."
  type        = number
  default     = 5
}

variable "ack_deadline_seconds" {
  description = "Pub/Sub ack deadline of the lane subscriptions (SOUL_ACK_DEADLINE_SECONDS)."
  type        = number
  default     = 60
}

variable "gpu_task_timeout" {
  description = "Longest a GPU worker execution may run (it exits when idle long before)."
  type        = string
  default     = "3600s"
}

variable "artifact_max_age_days" {
  type    = number
  default = 90
}

variable "log_level" {
  type    = string
  default = "INFO"
}

variable "deletion_protection" {
  description = "Protect Firestore and the jobs from terraform destroy."
  type        = bool
  default     = true
}

variable "reconcile_period_minutes" {
  description = "Minutes between reconcile passes; at most SOUL_LEASE_SECONDS / 60 (a lost job waits < 2 x lease)."
  type        = number
  default     = 2

  validation {
    condition     = var.reconcile_period_minutes >= 1 && var.reconcile_period_minutes <= 59
    error_message = "A cron minute step: 1 to 59."
  }
}

variable "pregen_daily_gpu_seconds" {
  description = "SOUL_PREGEN_DAILY_GPU_SECONDS: GPU seconds a day for pre-generating hot keys' next variants; 0 turns it off."
  type        = number
  default     = 0

  validation {
    condition     = var.pregen_daily_gpu_seconds >= 0
    error_message = "A budget in GPU seconds: 0 (off) or more."
  }
}

variable "gpu_max_executions" {
  description = "GPU worker executions the dispatcher runs at once (SOUL_MAX_GPU_EXECUTIONS): your L4 quota for Cloud Run jobs."
  type        = number
  default     = 4
}

variable "sign_in_domains" {
  description = "More domains Identity Platform accepts sign-in from (e.g. where you host the pages); the api's host is always one."
  type        = list(string)
  default     = []
}

variable "notification_channel" {
  description = "Cloud Monitoring notification channel id (projects/P/notificationChannels/N) for every alert and the budget; empty: console only."
  type        = string
  default     = ""
}

variable "billing_account" {
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX) for the project's budget; empty: no budget is made."
  type        = string
  default     = ""
}

variable "daily_budget_usd" {
  description = "Spend a day that alerts (Soul's estimate); the billing budget is 30 times this a month."
  type        = number
  default     = 50
}

variable "lane_age_targets" {
  description = "Seconds the oldest unacked job of each lane may wait before an alert (docs/OPERATIONS.md)."
  type        = map(number)
  default     = { image = 300, video = 900, wan = 900 }
}
