output "api_url" {
  description = "Base URL of the Soul API."
  value       = module.functions.api_url
}

output "artifacts_bucket" {
  value = module.artifacts.name
}

output "models_bucket" {
  description = "Upload the SDXL and SVD diffusers folders here (sdxl/, svd/)."
  value       = google_storage_bucket.models.name
}

output "image_repository" {
  value = local.registry
}
