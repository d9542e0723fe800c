terraform {
  required_version = ">= 1.7"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100.0"
    }
  }

  # No backend block: state is local (terraform.tfstate, git-ignored) unless you add one,
  # e.g. a backend.tf with `terraform { backend "s3" {} }` and `terraform init
  # -backend-config=bucket=... -backend-config=key=... -backend-config=region=...`
  # (docs/aws.md). Kept out so that `terraform init -backend=false` validates offline.
}
