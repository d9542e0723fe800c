# The whole cloud stack: the data plane and IAM of envs/local (the same `platform` module) plus the network, the ECS services and workers, the
# internal load balancer and the HTTP API in front of it. docs/aws.md draws it.

# No backend block: state is local (terraform.tfstate, git-ignored) unless you add one, e.g. a
# backend.tf with `terraform { backend "s3" {} }` and `terraform init -backend-config=bucket=...
# -backend-config=key=... -backend-config=region=...` (docs/aws.md). Kept out so that
# `terraform init -backend=false` validates offline. modules/platform/versions.tf pins
# Terraform and the provider for both envs.

provider "aws" {
  region = var.region
}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:The stack takes the first az_count names in sorted order, not the whole set: a zone AWS adds later gets a later letter and does not move the subnets.
  state = "available"
}

locals {
  azs = slice(sort(data.aws_availability_zones.available.names), 0, var.az_count)
}

# ---------------------------------------------------------------------------- data plane and IAM
# The same composition as envs/local: buckets, job queues, S3 -> Lambda -> SQS triggers and
# the workload roles (assumed here by ECS tasks and Lambda). The cloud passes its own knobs;
# what the two envs share is the module's.
module "platform" {
  source = "../../modules/platform"

  target                             = "aws"
  project                            = var.project
  environment                        = var.environment
  lambda_zip_path                    = var.lambda_zip_path
  force_destroy                      = var.force_destroy
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  kms_key_arn                        = var.kms_key_arn
  max_receive_count                  = var.max_receive_count
  # A worker renews its message every third of FML_WORKER_VISIBILITY_TIMEOUT: the queue's
  # own timeout (which covers the first receive) must be at least that long.
  visibility_timeout_seconds = var.worker_visibility_timeout_seconds
  log_retention_days         = var.log_retention_days
  user_principal_arns        = var.user_principal_arns
  # The Dask cluster (services.tf): a role for its tasks, and the trainer worker may scale
  # exactly its two services. Their names come from the module's var.name alone, so the
  # roles do not wait for (nor depend on) the services.
  dask_cluster = {
    cluster_name  = module.ecs_cluster.name
    service_names = [module.dask_cluster.service_names.scheduler, module.dask_cluster.service_names.worker]
  }
  tags = var.tags
}
