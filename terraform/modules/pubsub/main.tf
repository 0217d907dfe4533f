# Jobs topic, one filtered pull subscription per lane, and the dead-letter topic + subscription.
#
# The gcp JobQueue adapter publishes every job to one topic with the message attribute `lane`; each
# lane's subscription keeps only its lane (filter). Messages that fail max_delivery_attempts times
# land on the dead-letter topic, whose subscription keeps them for inspection and replay.

variable "project_id" {
  type = string
}

variable "project_number" {
  description = "Used to name the Pub/Sub service agent, which forwards messages to the dead-letter topic."
  type        = string
}

variable "topic" {
  description = "PUBSUB_TOPIC"
  type        = string
}

variable "subscription_prefix" {
  description = "PUBSUB_SUBSCRIPTION_PREFIX; a lane's subscription is \"<prefix>-<lane>\"."
  type        = string
}

variable "dead_letter_topic" {
  description = "PUBSUB_DEAD_LETTER_TOPIC"
  type        = string
}

variable "lanes" {
  type = list(string)
}

variable "max_delivery_attempts" {
  description = "SOUL_MAX_DELIVERY_ATTEMPTS (Pub/Sub accepts 5..100)."
  type        = number

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub dead-letter policies accept 5 to 100 delivery attempts."
  }
}

variable "ack_deadline_seconds" {
  description = "SOUL_ACK_DEADLINE_SECONDS (10..600); the worker extends it while a job runs."
  type        = number
}

variable "publishers" {
  description = "Members that publish jobs (the api)."
  type        = list(string)
}

variable "lane_subscribers" {
  description = "Members that pull each lane's subscription, keyed by lane."
  type        = map(list(string))
}

variable "low_priority_lanes" {
  description = "Pre-generation (SOUL_PREGEN_DAILY_GPU_SECONDS): each GPU lane's low-priority twin \"<lane>-low\", which workers pull only when the lane itself has nothing waiting."
  type        = list(string)
  default     = []
}

variable "low_priority_subscribers" {
  description = "Members that pull the low-priority lanes (the GPU worker)."
  type        = list(string)
  default     = []
}

variable "dead_letter_subscribers" {
  description = "Members that drain the dead-letter subscription (the reconcile job marks those jobs failed)."
  type        = list(string)
  default     = []
}

locals {
  lane_subscriber_pairs = {
    for pair in flatten([
      for lane, members in var.lane_subscribers : [for m in members : { lane = lane, member = m }]
    ]) : "${pair.lane} ${pair.member}" => pair
  }
  pubsub_agent = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "jobs" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; job messages carry ids and prompts, no secrets.
  project                    = var.project_id
  name                       = var.topic
  message_retention_duration = "86400s"
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; job messages carry ids and prompts, no secrets.
  project = var.project_id
  name    = var.dead_letter_topic
}

resource "google_pubsub_subscription" "lane" {
  for_each = toset(var.lanes)
  project  = var.project_id
  name     = "${var.subscription_prefix}-${each.key}"
  topic    = google_pubsub_topic.jobs.id
  filter   = "attributes.lane = \"${each.key}\""

  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = "604800s"
  # A redelivery costs a Firestore claim check, a duplicate costs GPU minutes or a paid Wan call:
  # exactly-once keeps redeliveries to real failures (the claim transaction stays the real guard).
  enable_exactly_once_delivery = true

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expire: the lanes may be idle for weeks
  }
}

# Pre-generated variants (shared/pregen.py): same delivery guarantees as a lane, but only a day of
# retention: a variant made for yesterday's demand is not worth a GPU run today.
resource "google_pubsub_subscription" "low" {
  for_each = toset(var.low_priority_lanes)
  project  = var.project_id
  name     = "${var.subscription_prefix}-${each.key}"
  topic    = google_pubsub_topic.jobs.id
  filter   = "attributes.lane = \"${each.key}\""

  ack_deadline_seconds         = var.ack_deadline_seconds
  message_retention_duration   = "86400s"
  enable_exactly_once_delivery = true

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription_iam_member" "low_subscriber" {
  for_each     = { for pair in setproduct(var.low_priority_lanes, var.low_priority_subscribers) : "${pair[0]} ${pair[1]}" => pair }
  project      = var.project_id
  subscription = google_pubsub_subscription.low[each.value[0]].name
  role         = "roles/pubsub.subscriber"
  member       = each.value[1]
}

resource "google_pubsub_subscription_iam_member" "agent_low_subscriber" {
  for_each     = google_pubsub_subscription.low
  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.dead_letter_topic}-sub"
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = toset(var.publishers)
  project  = var.project_id
  topic    = google_pubsub_topic.jobs.name
  role     = "roles/pubsub.publisher"
  member   = each.value
}

resource "google_pubsub_subscription_iam_member" "lane_subscriber" {
  for_each     = local.lane_subscriber_pairs
  project      = var.project_id
  subscription = google_pubsub_subscription.lane[each.value.lane].name
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = toset(var.dead_letter_subscribers)
  project      = var.project_id
  subscription = google_pubsub_subscription.dead_letter.name
  role         = "roles/pubsub.subscriber"
  member       = each.value
}

# Dead-lettering: the Pub/Sub service agent publishes to the DLQ and acks on the source subscription.
resource "google_pubsub_topic_iam_member" "agent_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_source_subscriber" {
  for_each     = google_pubsub_subscription.lane
  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

output "topic_id" {
  value = google_pubsub_topic.jobs.id
}

output "topic_name" {
  value = google_pubsub_topic.jobs.name
}

output "dead_letter_topic_name" {
  value = google_pubsub_topic.dead_letter.name
}

output "subscriptions" {
  value = { for lane, s in google_pubsub_subscription.lane : lane => s.name }
}

output "low_priority_subscriptions" {
  value = { for lane, s in google_pubsub_subscription.low : lane => s.name }
}
