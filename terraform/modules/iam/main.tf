data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  datasets    = var.bucket_arns.datasets
  models      = var.bucket_arns.models
  inference   = var.bucket_arns.inference
  predictions = var.bucket_arns.predictions

  # Statements shared by several roles. Object ARNs follow the bucket layout of
  # ARCHITECTURE.md: <model>/model.ubj, _jobs/ (status records and leases), _api/ uploads,
  # online/ and batch/ predictions. ListBucket turns a missing key into 404 instead of 403
  # (the code tells "not found" from "forbidden") and answers /ready's HeadBucket.
  read_models_for_training = [
    { sid = "ReadModelsAndJobs", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.models}/*"] },
    { sid = "WriteModelsAndJobs", actions = ["s3:PutObject"], resources = ["${local.models}/*/model.ubj", "${local.models}/_jobs/*"] },
    { sid = "ListModelVersions", actions = ["s3:ListBucket", "s3:ListBucketVersions"], resources = [local.models] },
  ]
  read_datasets = [
    { sid = "ReadDatasets", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.datasets}/*"] },
    { sid = "ListDatasets", actions = ["s3:ListBucket"], resources = [local.datasets] },
  ]
  read_models_for_scoring = [
    { sid = "ReadModels", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.models}/*/model.ubj"] },
    { sid = "ListModelVersions", actions = ["s3:ListBucket", "s3:ListBucketVersions"], resources = [local.models] },
  ]
  consume = {
    for kind, arn in { train = var.train_queue_arn, predict = var.predict_queue_arn } : kind => {
      sid                    = "Consume${title(kind)}Queue"
      actions                = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
      resources              = [arn]
    }
  }
  kms = var.kms_key_arn == null ? [] : [
    { sid = "UseBucketKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
  ]

  # One role per service and worker, each with what its flow needs and nothing more.
  task_statements = {
    # Trains within the request or enqueues (202); lists, describes and rolls back models.
    trainer_api = concat(local.read_datasets, local.read_models_for_training, [
      { sid = "UploadDatasets", actions = ["s3:PutObject"], resources = ["${local.datasets}/_api/*"] },
      { sid = "EnqueueTraining", actions = ["sqs:SendMessage"], resources = [var.train_queue_arn] },
    ], local.kms)

    # Trains queued jobs; holds a lease per job (_jobs/<id>.lease, deleted on release).
    trainer_worker = concat(local.read_datasets, local.read_models_for_training, [
      local.consume.train,
      { sid = "ReleaseLeases", actions = ["s3:DeleteObject"], resources = ["${local.models}/_jobs/*"] },
    ], local.kms)

    # Scores request bodies and stores each prediction; reads batch job status records.
    predictor_api = concat(local.read_models_for_scoring, [
      { sid = "WriteOnlinePredictions", actions = ["s3:PutObject"], resources = ["${local.predictions}/online/*"] },
      { sid = "ReadPredictionsAndJobs", actions = ["s3:GetObject"], resources = ["${local.predictions}/online/*", "${local.predictions}/_jobs/*"] },
      { sid = "ListPredictions", actions = ["s3:ListBucket"], resources = [local.predictions] },
    ], local.kms)

    # Streams inference files into batch outputs (multipart for large ones); leases as above.
    predictor_worker = concat(local.read_models_for_scoring, [
      local.consume.predict,
      { sid = "ReadInference", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.inference}/*"] },
      { sid = "ListInference", actions = ["s3:ListBucket"], resources = [local.inference] },
      { sid = "WriteBatchPredictionsAndJobs", actions = ["s3:PutObject"], resources = ["${local.predictions}/batch/*", "${local.predictions}/_jobs/*"] },
      { sid = "AbortBatchUploads", actions = ["s3:AbortMultipartUpload"], resources = ["${local.predictions}/batch/*"] },
      { sid = "ReadBatchPredictionsAndJobs", actions = ["s3:GetObject"], resources = ["${local.predictions}/batch/*", "${local.predictions}/_jobs/*"] },
      { sid = "ReleaseLeases", actions = ["s3:DeleteObject"], resources = ["${local.predictions}/_jobs/*"] },
      { sid = "ListPredictions", actions = ["s3:ListBucket"], resources = [local.predictions] },
    ], local.kms)
  }
}

# ECS assumes the roles on behalf of this account's tasks only (confused-deputy guard).
data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "EcsTasksAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    # aws:SourceAccount only: ECS documents it for task roles and execution roles alike.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

# ---------------------------------------------------------------------------- execution role
resource "aws_iam_role" "execution" {
  name               = "${var.name}-task-execution"
  description        = "ECS task execution role of ${var.name}: pulls the images, writes the container logs"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json

  tags = var.tags
}

data "aws_iam_policy_document" "execution" {
  # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = var.ecr_repository_arns
  }

  statement {
    sid       = "WriteContainerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${var.log_group_name_prefix}*:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "${var.name}-task-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# ---------------------------------------------------------------------------- task roles
resource "aws_iam_role" "task" {
  for_each = local.task_statements

  name               = "${var.name}-${replace(each.key, "_", "-")}"
  description        = "Task role of the ${replace(each.key, "_", " ")} of ${var.name}"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json

  tags = var.tags
}

data "aws_iam_policy_document" "task" {
  for_each = local.task_statements

  dynamic "statement" {
    for_each = each.value

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "task" {
  for_each = local.task_statements

  name   = aws_iam_role.task[each.key].name
  role   = aws_iam_role.task[each.key].id
  policy = data.aws_iam_policy_document.task[each.key].json
}
