terraform {
  required_version = ">= 1.7"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100.0"
    }
  }

  # The state path is machine-specific: pass it with -backend-config=path=...
  backend "local" {}
}
