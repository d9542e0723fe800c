# The whole cloud stack: the data layer of envs/local (buckets, job queues, S3 -> Lambda ->
# SQS triggers, from the same modules) plus the network, the ECS services and workers, the
# internal load balancer and the HTTP API in front of it. docs/aws.md draws it.

provider "aws" {
  region = var.region
}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:The stack takes the first az_count names in sorted order, not the whole set: a zone AWS adds later gets a later letter and does not move the subnets.
  state = "available"
}

locals {
  prefix = "${var.project}-${var.environment}"

  tags = merge({
    Project     = var.project
    Environment = var.environment
  }, var.tags)

  azs = slice(sort(data.aws_availability_zones.available.names), 0, var.az_count)

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

# ---------------------------------------------------------------------------- data layer
module "storage" {
  source   = "../../modules/storage"
  for_each = local.buckets

  name                               = "${local.prefix}-${each.key}"
  force_destroy                      = var.force_destroy
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  kms_key_arn                        = var.kms_key_arn

  tags = local.tags
}

module "queue" {
  source   = "../../modules/queue"
  for_each = local.job_queues

  name              = "${local.prefix}-${each.key}"
  max_receive_count = var.max_receive_count
  # A worker renews its message every third of FML_WORKER_VISIBILITY_TIMEOUT: the queue's
  # own timeout (which covers the first receive) must be at least that long.
  visibility_timeout_seconds = var.worker_visibility_timeout_seconds

  tags = local.tags
}

# S3 invokes the enqueue functions asynchronously; events they still fail on after Lambda's
# retries are kept here (inspect, then re-copy the object to replay).
resource "aws_sqs_queue" "enqueue_dlq" {
  name                      = "${local.prefix}-enqueue-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true

  tags = local.tags
}

module "s3_trigger" {
  source   = "../../modules/s3_trigger"
  for_each = local.triggers

  function_name         = "${local.prefix}-enqueue-${each.key}"
  job_kind              = each.key
  source_bucket_name    = module.storage[each.value.source_bucket].name
  source_bucket_arn     = module.storage[each.value.source_bucket].arn
  status_bucket_name    = module.storage[each.value.status_bucket].name
  status_bucket_arn     = module.storage[each.value.status_bucket].arn
  queue_arn             = module.queue[each.key].arn
  queue_url             = module.queue[each.key].url
  lambda_zip_path       = var.lambda_zip_path
  dead_letter_queue_arn = aws_sqs_queue.enqueue_dlq.arn
  kms_key_arn           = var.kms_key_arn
  log_retention_days    = var.log_retention_days

  environment = {
    FML_TARGET = "aws"
  }

  tags = local.tags
}
