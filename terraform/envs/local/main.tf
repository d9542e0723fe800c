# The emulator subset of the platform: buckets, job queues and the S3 -> Lambda -> SQS
# triggers, built from the same modules as the cloud stack. Nothing here may need what the
# emulator lacks (autoscaling, VPC, VPC link).

provider "aws" {
  region     = var.region
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

locals {
  prefix = "${var.project}-${var.environment}"

  tags = merge({
    Project     = var.project
    Environment = var.environment
  }, var.tags)

  buckets    = toset(["datasets", "models", "inference", "predictions"])
  job_queues = toset(["train", "predict"])

  # Which bucket feeds which queue, and where the job's status record is written.
  triggers = {
    train = {
      source_bucket = "datasets"
      status_bucket = "models"
    }
    predict = {
      source_bucket = "inference"
      status_bucket = "predictions"
    }
  }
}

module "storage" {
  source   = "../../modules/storage"
  for_each = local.buckets

  name                               = "${local.prefix}-${each.key}"
  force_destroy                      = true
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days

  tags = local.tags
}

module "queue" {
  source   = "../../modules/queue"
  for_each = local.job_queues

  name                       = "${local.prefix}-${each.key}"
  max_receive_count          = var.max_receive_count
  visibility_timeout_seconds = var.visibility_timeout_seconds

  tags = local.tags
}

module "s3_trigger" {
  source   = "../../modules/s3_trigger"
  for_each = local.triggers

  function_name      = "${local.prefix}-enqueue-${each.key}"
  job_kind           = each.key
  source_bucket_name = module.storage[each.value.source_bucket].name
  source_bucket_arn  = module.storage[each.value.source_bucket].arn
  status_bucket_name = module.storage[each.value.status_bucket].name
  status_bucket_arn  = module.storage[each.value.status_bucket].arn
  queue_arn          = module.queue[each.key].arn
  queue_url          = module.queue[each.key].url
  lambda_zip_path    = var.lambda_zip_path

  environment = {
    FML_TARGET = "local"
  }

  tags = local.tags
}
