terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.40, < 8.0"
    }
  }

  # State lives in a bucket you create once (see docs/DEPLOY.md):
  #   terraform init -backend-config="bucket=<PROJECT_ID>-tfstate"
  backend "gcs" {
    prefix = "soul/dev"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
