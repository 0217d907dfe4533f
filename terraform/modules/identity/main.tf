# Sign-in for the web pages: Identity Platform with email and password, and the browser API key the
# pages send to its REST API (accounts:signInWithPassword on identitytoolkit.googleapis.com, token
# refresh on securetoken.googleapis.com; functions/web/signin.js). The api verifies the ID tokens
# Identity Platform issues with its defaults (functions/tokens.py: issuer
# https://securetoken.google.com/<project>, audience <project>, Google's securetoken JWKS), so the api
# needs no key of its own. Nothing here is a secret: a web API key only names the project to Google and
# is restricted here to the two sign-in APIs. Users are added by an administrator (docs/DEPLOY.md).

variable "project_id" {
  type = string
}

variable "authorized_domains" {
  description = "Domains Identity Platform accepts sign-in redirects from (the api's host serves the pages)."
  type        = list(string)
}

resource "google_identity_platform_config" "this" {
  project            = var.project_id
  authorized_domains = var.authorized_domains

  sign_in {
    allow_duplicate_emails = false
    email {
      enabled           = true
      password_required = true
    }
  }
}

resource "google_apikeys_key" "web" {
  project      = var.project_id
  name         = "soul-web-sign-in"
  display_name = "Soul web pages: sign-in"

  restrictions {
    api_targets {
      service = "identitytoolkit.googleapis.com"
    }
    api_targets {
      service = "securetoken.googleapis.com"
    }
  }
}

output "api_key" {
  description = "The pages' web API key: public by design (sent by every browser), restricted to sign-in."
  value       = nonsensitive(google_apikeys_key.web.key_string)
}
