terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.40, < 8.0"
    }
    # google_project_service_identity (the service agents, modules/service_agents) is beta-only.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.40, < 8.0"
    }
    # time_sleep: IAM sees a new service agent only after a while.
    time = {
      source  = "hashicorp/time"
      version = ">= 0.11, < 1.0"
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

provider "google-beta" {
  project = var.project_id
  region  = var.region
}
