# One service account per deployable and the project-level roles that have no narrower scope.
# Resource-scoped grants (bucket, topic, subscriptions, secret, jobs) live beside their resources.

variable "project_id" {
  type = string
}

variable "accounts" {
  description = "account id => display name"
  type        = map(string)
}

variable "project_roles" {
  description = "account id => project roles (Firestore IAM is project-wide only)."
  type        = map(list(string))
}

locals {
  grants = {
    for pair in flatten([
      for account, roles in var.project_roles : [for r in roles : { account = account, role = r }]
    ]) : "${pair.account} ${pair.role}" => pair
  }
}

resource "google_service_account" "this" {
  for_each     = var.accounts
  project      = var.project_id
  account_id   = each.key
  display_name = each.value
}

resource "google_project_iam_member" "this" {
  for_each = local.grants
  project  = var.project_id
  role     = each.value.role
  member   = google_service_account.this[each.value.account].member
}

output "emails" {
  value = { for k, sa in google_service_account.this : k => sa.email }
}

output "members" {
  value = { for k, sa in google_service_account.this : k => sa.member }
}

output "ids" {
  value = { for k, sa in google_service_account.this : k => sa.name }
}
