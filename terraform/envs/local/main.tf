# The emulator's share of the platform: the whole data plane and its IAM (buckets with their
# policies, queues, S3 -> Lambda -> SQS triggers, the five workload roles and the user role),
# from the same `platform` module as envs/aws. Only the cloud's compute and network (VPC,
# ECS, ALB, API Gateway, autoscaling) are left out: locally those are processes.

provider "aws" {
  region = var.region
  # The emulator's account root: Terraform administers the stack with it, and the local
  # processes use it only to assume their roles. The endpoint serves TLS with a certificate
  # of its own; AWS_CA_BUNDLE (set by the Makefile) makes the provider trust it.
  access_key = "test"
  secret_key = "test"

  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {
    iam    = var.aws_endpoint
    kms    = var.aws_endpoint
    lambda = var.aws_endpoint
    logs   = var.aws_endpoint
    s3     = var.aws_endpoint
    sqs    = var.aws_endpoint
    sts    = var.aws_endpoint
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  prefix = "${var.project}-${var.environment}"

  tags = merge({
    Project     = var.project
    Environment = var.environment
  }, var.tags)
}

module "platform" {
  source = "../../modules/platform"

  name                               = local.prefix
  lambda_zip_path                    = var.lambda_zip_path
  force_destroy                      = true
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  max_receive_count                  = var.max_receive_count
  visibility_timeout_seconds         = var.visibility_timeout_seconds
  # Every local process assumes its role with the account root's credentials.
  local_operator_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"

  lambda_environment = {
    FML_TARGET = "local"
  }

  tags = local.tags
}
