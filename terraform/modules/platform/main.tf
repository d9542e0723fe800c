# The data plane of fargate-ml and its IAM, one composition for every environment: the four
# buckets (versioned, encrypted, TLS-only), the job queues with their dead-letter queues, the
# S3 -> Lambda -> SQS triggers, and the five workload roles plus the user role. envs/local and
# envs/aws both call this module, so the emulator enforces the policies the cloud gets.

locals {
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
  function_names = { for kind in keys(local.triggers) : kind => "${var.name}-enqueue-${kind}" }
}

module "storage" {
  source   = "../storage"
  for_each = local.buckets

  name                               = "${var.name}-${each.key}"
  force_destroy                      = var.force_destroy
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  kms_key_arn                        = var.kms_key_arn

  tags = var.tags
}

module "queue" {
  source   = "../queue"
  for_each = local.job_queues

  name                       = "${var.name}-${each.key}"
  max_receive_count          = var.max_receive_count
  visibility_timeout_seconds = var.visibility_timeout_seconds

  tags = var.tags
}

# S3 invokes the enqueue functions asynchronously; events they still fail on after Lambda's
# retries are kept here (inspect, then re-copy the object to replay).
resource "aws_sqs_queue" "enqueue_dlq" {
  name                      = "${var.name}-enqueue-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true

  tags = var.tags
}

module "iam" {
  source = "../iam"

  name                   = var.name
  bucket_arns            = { for role in local.buckets : role => module.storage[role].arn }
  train_queue_arn        = module.queue["train"].arn
  predict_queue_arn      = module.queue["predict"].arn
  enqueue_dlq_arn        = aws_sqs_queue.enqueue_dlq.arn
  enqueue_function_names = values(local.function_names)
  kms_key_arn            = var.kms_key_arn
  local_operator_arn     = var.local_operator_arn
  user_principal_arns    = var.user_principal_arns

  tags = var.tags
}

module "s3_trigger" {
  source   = "../s3_trigger"
  for_each = local.triggers

  function_name         = local.function_names[each.key]
  job_kind              = each.key
  role_arn              = module.iam.role_arns["enqueue"]
  source_bucket_name    = module.storage[each.value.source_bucket].name
  source_bucket_arn     = module.storage[each.value.source_bucket].arn
  status_bucket_name    = module.storage[each.value.status_bucket].name
  queue_url             = module.queue[each.key].url
  lambda_zip_path       = var.lambda_zip_path
  dead_letter_queue_arn = aws_sqs_queue.enqueue_dlq.arn
  log_retention_days    = var.log_retention_days
  environment           = var.lambda_environment

  tags = var.tags
}
