# The data plane of fargate-ml and its IAM, one composition for every environment: the four
# buckets (versioned, encrypted, TLS-only), the job queues with their dead-letter queues, the
# S3 -> Lambda -> SQS triggers, and the five workload roles plus the user role. envs/local and
# envs/aws both call this module, so the emulator enforces the policies the cloud gets. What
# the two share is said here: the names (<project>-<environment>-...), the tags, the defaults,
# the outputs; an env passes only what differs between the emulator and the cloud.

# The emulator's account root: locally it assumes every workload role for the processes.
data "aws_caller_identity" "current" {
  count = var.target == "local" ? 1 : 0
}

data "aws_partition" "current" {
  count = var.target == "local" ? 1 : 0
}

locals {
  name = "${var.project}-${var.environment}"
  tags = merge(tomap({
    Project     = var.project
    Environment = var.environment
  }), var.tags)

  local_operator_arn = var.target == "local" ? "arn:${data.aws_partition.current[0].partition}:iam::${data.aws_caller_identity.current[0].account_id}:root" : null

  # What the functions learn of where they run and where ended jobs are announced
  # (fmlcore/core/settings.py reads it).
  lambda_environment = { FML_TARGET = var.target, FML_EVENTS_TOPIC_ARN = aws_sns_topic.job_events.arn }

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
  function_names       = { for kind in keys(local.triggers) : kind => "${local.name}-enqueue-${kind}" }
  dead_letter_function = "${local.name}-dead-letter"

  # What the dead-letter function consumes: each job queue's dead-letter queue, and the queue
  # of S3 events the enqueue functions failed on.
  dead_letter_sources = {
    train   = module.queue["train"].dlq_arn
    predict = module.queue["predict"].dlq_arn
    enqueue = aws_sqs_queue.enqueue_dlq.arn
  }
}

module "storage" {
  source   = "../storage"
  for_each = local.buckets

  name                               = "${local.name}-${each.key}"
  force_destroy                      = var.force_destroy
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  # A live alias may point at a noncurrent model version, and alias histories are the audit
  # trail: in the models bucket only job records (_jobs/) expire.
  noncurrent_version_expiration_prefix = each.key == "models" ? "_jobs/" : ""
  kms_key_arn                          = var.kms_key_arn

  tags = local.tags
}

module "queue" {
  source   = "../queue"
  for_each = local.job_queues

  name                       = "${local.name}-${each.key}"
  max_receive_count          = var.max_receive_count
  visibility_timeout_seconds = var.visibility_timeout_seconds

  tags = local.tags
}

# S3 invokes the enqueue functions asynchronously; events they still fail on after Lambda's
# retries come here (their on-failure destination); the dead-letter function marks each file's
# job failed (copy the object again to replay).
resource "aws_sqs_queue" "enqueue_dlq" {
  name                      = "${local.name}-enqueue-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true

  tags = local.tags
}

# ---------------------------------------------------------------------------- completion events
# Every job that ends (succeeded, failed, dead-lettered) publishes its status record here
# (fmlcore.jobs.events; docs/contracts.md, "Completion events"). Subscribe queues, functions or
# addresses; the message attributes kind, model and state serve filter policies.
resource "aws_sns_topic" "job_events" {
  name = "${local.name}-job-events"
  # The platform's KMS key when there is one (the roles that publish may use it), else SNS's own.
  kms_master_key_id = coalesce(var.kms_key_arn, "alias/aws/sns")

  tags = local.tags
}

data "aws_iam_policy_document" "job_events" {
  # Publishing is the workload roles' grant (modules/iam), subscribing the account's IAM
  # principals' (the same account needs no Allow here); nothing reaches the topic without TLS.
  statement {
    sid       = "DenyWithoutTls"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.job_events.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "job_events" {
  arn    = aws_sns_topic.job_events.arn
  policy = data.aws_iam_policy_document.job_events.json
}

# Optionally (envs/local), a queue subscribed to the topic, so a person or a test reads what a
# subscriber gets. Raw delivery: each message body is the event itself.
resource "aws_sqs_queue" "job_events" {
  count = var.events_queue ? 1 : 0

  name                      = "${local.name}-job-events"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true

  tags = local.tags
}

data "aws_iam_policy_document" "job_events_queue" {
  count = var.events_queue ? 1 : 0

  statement {
    sid       = "TopicDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.job_events[0].arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.job_events.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "job_events" {
  count = var.events_queue ? 1 : 0

  queue_url = aws_sqs_queue.job_events[0].id
  policy    = data.aws_iam_policy_document.job_events_queue[0].json
}

resource "aws_sns_topic_subscription" "job_events" {
  count = var.events_queue ? 1 : 0

  topic_arn            = aws_sns_topic.job_events.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.job_events[0].arn
  raw_message_delivery = true

  depends_on = [aws_sqs_queue_policy.job_events]
}

module "iam" {
  source = "../iam"

  name                   = local.name
  bucket_arns            = { for role in local.buckets : role => module.storage[role].arn }
  train_queue_arn        = module.queue["train"].arn
  predict_queue_arn      = module.queue["predict"].arn
  enqueue_dlq_arn        = aws_sqs_queue.enqueue_dlq.arn
  events_topic_arn       = aws_sns_topic.job_events.arn
  function_names         = concat(values(local.function_names), [local.dead_letter_function])
  dead_letter_queue_arns = values(local.dead_letter_sources)
  kms_key_arn            = var.kms_key_arn
  local_operator_arn     = local.local_operator_arn
  dask_cluster           = var.dask_cluster
  user_principal_arns    = var.user_principal_arns

  tags = local.tags
}

module "s3_trigger" {
  source   = "../s3_trigger"
  for_each = local.triggers

  function_name              = local.function_names[each.key]
  job_kind                   = each.key
  role_arn                   = module.iam.role_arns["enqueue"]
  source_bucket_name         = module.storage[each.value.source_bucket].name
  source_bucket_arn          = module.storage[each.value.source_bucket].arn
  status_bucket_name         = module.storage[each.value.status_bucket].name
  queue_url                  = module.queue[each.key].url
  lambda_zip_path            = var.lambda_zip_path
  on_failure_destination_arn = aws_sqs_queue.enqueue_dlq.arn
  log_retention_days         = var.log_retention_days
  environment                = local.lambda_environment

  tags = local.tags
}

# ---------------------------------------------------------------------------- dead letters
# Dead letters say so: a job whose message reaches a dead-letter queue becomes `dead_lettered`
# with its last known error (also when its worker was killed and reported nothing), and a file
# the enqueue function gave up on gets a `failed` status. docs/reliability.md.
resource "aws_cloudwatch_log_group" "dead_letter" {
  #checkov:skip=CKV_AWS_158:The logs hold job ids and error messages only; CloudWatch Logs encrypts them at rest with a service key.
  #checkov:skip=CKV_AWS_338:Retention is the caller's choice (log_retention_days), as for the enqueue functions.
  name              = "/aws/lambda/${local.dead_letter_function}"
  retention_in_days = var.log_retention_days

  tags = local.tags
}

resource "aws_lambda_function" "dead_letter" {
  #checkov:skip=CKV_AWS_117:The function only calls S3 and SQS APIs; a VPC would add NAT or endpoints for nothing (and the local emulator has no VPC).
  #checkov:skip=CKV_AWS_115:Reserved concurrency is taken from the account pool; dead letters are rare.
  #checkov:skip=CKV_AWS_116:Its source is a dead-letter queue: a message it fails on stays there (retention 14 days) and is delivered again.
  #checkov:skip=CKV_AWS_272:The zip is built and deployed by the project's own Makefile; there is no signing profile to validate against.
  #checkov:skip=CKV_AWS_173:The environment holds only bucket names, no secrets; Lambda encrypts it at rest with a service key.
  #checkov:skip=CKV_AWS_50:X-Ray tracing is not used by this platform; logs carry the job id for correlation.
  function_name    = local.dead_letter_function
  role             = module.iam.role_arns["enqueue"]
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  handler          = "lambdas.dead_letter.handler"
  runtime          = "python3.12"
  timeout          = 60
  memory_size      = 256

  environment {
    variables = merge(local.lambda_environment, {
      FML_DATASETS_BUCKET    = module.storage["datasets"].name
      FML_MODELS_BUCKET      = module.storage["models"].name
      FML_INFERENCE_BUCKET   = module.storage["inference"].name
      FML_PREDICTIONS_BUCKET = module.storage["predictions"].name
    })
  }

  tags = local.tags

  depends_on = [aws_cloudwatch_log_group.dead_letter]
}

resource "aws_lambda_event_source_mapping" "dead_letter" {
  for_each = local.dead_letter_sources

  event_source_arn        = each.value
  function_name           = aws_lambda_function.dead_letter.arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
}
