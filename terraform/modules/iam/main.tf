data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account      = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  account_root = "arn:${local.partition}:iam::${local.account}:root"
  region       = data.aws_region.current.name

  # A function's log group is /aws/lambda/<function name> (created by the s3_trigger module).
  function_log_groups = [
    for fn in var.function_names : "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${fn}:*"
  ]

  datasets    = var.bucket_arns.datasets
  models      = var.bucket_arns.models
  inference   = var.bucket_arns.inference
  predictions = var.bucket_arns.predictions

  # Statements shared by several roles. Object ARNs follow the bucket layout of
  # docs/contracts.md: <model>/model.ubj, <model>/aliases/ (which version serves),
  # <model>/reference/ (each version's holdout rows), _jobs/ (status records and leases), _api/ uploads,
  # online/ and batch/ predictions. ListBucket turns a missing key into 404 instead of 403
  # (the code tells "not found" from "forbidden") and answers /ready's HeadBucket.
  read_models_for_training = [
    { sid = "ReadModelsAndJobs", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.models}/*"] },
    { sid = "WriteModelsAndJobs", actions = ["s3:PutObject"], resources = ["${local.models}/*/model.ubj", "${local.models}/*/aliases/*", "${local.models}/*/reference/*", "${local.models}/_jobs/*"] },
    { sid = "ListModelVersions", actions = ["s3:ListBucket", "s3:ListBucketVersions"], resources = [local.models] },
  ]
  read_datasets = [
    { sid = "ReadDatasets", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.datasets}/*"] },
    { sid = "ListDatasets", actions = ["s3:ListBucket"], resources = [local.datasets] },
  ]
  # Scoring loads one version (the one an alias names, or a pinned one): it reads alias objects
  # and model versions, never lists versions (the IAM coverage report showed
  # ListBucketVersions unused here; removed).
  read_models_for_scoring = [
    { sid = "ReadModels", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.models}/*/model.ubj"] },
    { sid = "ReadAliases", actions = ["s3:GetObject"], resources = ["${local.models}/*/aliases/*"] },
    { sid = "ListModels", actions = ["s3:ListBucket"], resources = [local.models] },
  ]
  consume = {
    for kind, arn in { train = var.train_queue_arn, predict = var.predict_queue_arn } : kind => {
      sid                    = "Consume${title(kind)}Queue"
      actions                = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
      resources              = [arn]
    }
  }
  # envs/aws: the Dask cluster's two ECS services (modules/dask_cluster), by the ARN IAM
  # matches for ecs:UpdateService and ecs:DescribeServices (service/<cluster>/<service>).
  dask_service_arns = var.dask_cluster == null ? [] : [
    for svc in var.dask_cluster.service_names : "arn:${local.partition}:ecs:${local.region}:${local.account}:service/${var.dask_cluster.cluster_name}/${svc}"
  ]
  # The trainer worker scales the Dask services up for a job and back to zero after; it reads
  # their counts to wait for the tasks. Exactly these two services: no other one, no
  # RunTask, no PassRole (UpdateService with a desired count passes no role).
  scale_dask = var.dask_cluster == null ? [] : [
    { sid = "ScaleDaskCluster", actions = ["ecs:DescribeServices", "ecs:UpdateService"], resources = local.dask_service_arns },
  ]
  # Whoever ends a job announces it (fmlcore.jobs.events): trainer API (synchronous trainings,
  # jobs it could not queue), both workers, the enqueue and dead-letter functions.
  announce = { sid = "AnnounceEndedJobs", actions = ["sns:Publish"], resources = [var.events_topic_arn] }
  kms = var.kms_key_arn == null ? [] : [
    { sid = "UseBucketKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
  ]

  # One role per service, worker and function, each with what its flow needs and nothing more.
  statements = merge({
    # Trains within the request or enqueues (202); lists and describes models, moves and
    # removes aliases (rollback is moving `live`).
    trainer_api = concat(local.read_datasets, local.read_models_for_training, [
      { sid = "UploadDatasets", actions = ["s3:PutObject"], resources = ["${local.datasets}/_api/*"] },
      { sid = "RemoveAliases", actions = ["s3:DeleteObject"], resources = ["${local.models}/*/aliases/*"] },
      { sid = "EnqueueTraining", actions = ["sqs:SendMessage"], resources = [var.train_queue_arn] },
      local.announce,
    ], local.kms)

    # Trains queued jobs; holds a lease per job (_jobs/<id>.lease, deleted on release); on AWS
    # scales the Dask cluster for large datasets.
    trainer_worker = concat(local.read_datasets, local.read_models_for_training, [
      local.consume.train,
      { sid = "ReleaseLeases", actions = ["s3:DeleteObject"], resources = ["${local.models}/_jobs/*"] },
      local.announce,
    ], local.scale_dask, local.kms)

    # Scores request bodies and stores each prediction; reads batch job status records; lists
    # and reads the online predictions for the shadow report.
    predictor_api = concat(local.read_models_for_scoring, [
      { sid = "WriteOnlinePredictions", actions = ["s3:PutObject"], resources = ["${local.predictions}/online/*"] },
      { sid = "ReadPredictionsAndJobs", actions = ["s3:GetObject"], resources = ["${local.predictions}/online/*", "${local.predictions}/_jobs/*"] },
      { sid = "ListPredictions", actions = ["s3:ListBucket"], resources = [local.predictions] },
    ], local.kms)

    # Streams inference files into batch outputs (multipart for large ones); leases as above;
    # splits big files into parts on the predict queue and assembles their outputs.
    # An attempt that finds its output already uploaded (by an earlier attempt) lists the
    # output's versions and reads their metadata: ListBucketVersions and GetObjectVersion.
    predictor_worker = concat(local.read_models_for_scoring, [
      local.consume.predict,
      { sid = "ReadInference", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.inference}/*"] },
      { sid = "ListInference", actions = ["s3:ListBucket"], resources = [local.inference] },
      { sid = "WriteBatchPredictionsAndJobs", actions = ["s3:PutObject"], resources = ["${local.predictions}/batch/*", "${local.predictions}/_jobs/*"] },
      { sid = "AbortBatchUploads", actions = ["s3:AbortMultipartUpload"], resources = ["${local.predictions}/batch/*"] },
      { sid = "ReadBatchPredictionsAndJobs", actions = ["s3:GetObject"], resources = ["${local.predictions}/batch/*", "${local.predictions}/_jobs/*"] },
      { sid = "ReadBatchPredictionVersions", actions = ["s3:GetObjectVersion"], resources = ["${local.predictions}/batch/*", "${local.predictions}/_jobs/*"] },
      # A file over FML_BATCH_SPLIT_BYTES: its parts go back on the predict queue for any worker,
      # and are assembled from the part objects' versions under _jobs/ (UploadPartCopy reads them).
      { sid = "SendParts", actions = ["sqs:SendMessage"], resources = [var.predict_queue_arn] },
      { sid = "ReleaseLeases", actions = ["s3:DeleteObject"], resources = ["${local.predictions}/_jobs/*"] },
      { sid = "ListPredictions", actions = ["s3:ListBucket", "s3:ListBucketVersions"], resources = [local.predictions] },
      local.announce,
    ], local.kms)

    # The platform's functions. The S3 -> SQS enqueue functions (both kinds): read the new
    # object's metadata, record the job as queued, send the message; the record is read first
    # so a re-delivered event never rewinds a running or finished job, and ListBucket lets S3
    # answer a missing key with 404, not 403. The dead-letter function: consumes the
    # dead-letter queues and writes the jobs' statuses (and _jobs/dead/ index entries).
    enqueue = concat([
      { sid = "WriteOwnLogs", actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = local.function_log_groups },
      { sid = "SendJobMessages", actions = ["sqs:SendMessage"], resources = concat([var.train_queue_arn, var.predict_queue_arn], var.enqueue_dlq_arn == null ? [] : [var.enqueue_dlq_arn]) },
      { sid = "ReadSourceObjects", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.datasets}/*", "${local.inference}/*"] },
      { sid = "ReadWriteJobStatus", actions = ["s3:GetObject", "s3:PutObject"], resources = ["${local.models}/_jobs/*", "${local.predictions}/_jobs/*"] },
      { sid = "TellMissingFromDenied", actions = ["s3:ListBucket"], resources = [local.datasets, local.inference, local.models, local.predictions] },
      local.announce,
      ], length(var.dead_letter_queue_arns) == 0 ? [] : [
      { sid = "ConsumeDeadLetters", actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"], resources = var.dead_letter_queue_arns },
    ], local.kms)
    }, {
    # The Dask scheduler and workers (envs/aws only, with dask_cluster): the workers read
    # dataset partitions straight from S3 and write nothing; results go back to the trainer
    # worker over Dask.
    for role, stmts in { dask = concat(local.read_datasets, local.kms) } : role => stmts if var.dask_cluster != null
  })

  # The platform's user: puts datasets and files to score, reads predictions, job status
  # records and model listings (aws s3 cp / ls). Nothing else: no _api/ or _jobs/ writes, no
  # queue access, no model writes.
  user_statements = concat([
    { sid = "PutDatasetsAndInferenceFiles", actions = ["s3:PutObject"], resources = ["${local.datasets}/*", "${local.inference}/*"] },
    { sid = "ReadPredictions", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.predictions}/batch/*", "${local.predictions}/online/*"] },
    { sid = "ReadJobStatus", actions = ["s3:GetObject"], resources = ["${local.models}/_jobs/*", "${local.predictions}/_jobs/*"] },
    { sid = "ListBuckets", actions = ["s3:ListBucket", "s3:ListBucketVersions"], resources = [local.datasets, local.inference, local.models, local.predictions] },
  ], local.kms)

  # Who may assume each role. On AWS: ECS tasks of this account, the Lambda service. Locally
  # (local_operator_arn set): the local operator, whose credentials each process uses only to
  # assume its own role, as ECS does for a task.
  service_principal = { for role in keys(local.statements) : role => role == "enqueue" ? "lambda.amazonaws.com" : "ecs-tasks.amazonaws.com" }
  role_names        = { for role in keys(local.statements) : role => "${var.name}-${replace(role, "_", "-")}" }
}

data "aws_iam_policy_document" "trust" {
  for_each = local.statements

  statement {
    sid     = var.local_operator_arn == null ? "ServiceAssumeRole" : "LocalOperatorAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = var.local_operator_arn == null ? "Service" : "AWS"
      identifiers = [coalesce(var.local_operator_arn, local.service_principal[each.key])]
    }

    # ECS assumes the task roles on behalf of this account's tasks only (confused-deputy
    # guard; ECS documents aws:SourceAccount for task roles).
    dynamic "condition" {
      for_each = var.local_operator_arn == null && each.key != "enqueue" ? [local.account] : []

      content {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.statements

  name               = local.role_names[each.key]
  description        = "Role of the ${replace(each.key, "_", " ")} of ${var.name}"
  assume_role_policy = data.aws_iam_policy_document.trust[each.key].json

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  for_each = local.statements

  dynamic "statement" {
    for_each = each.value

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.statements

  name   = aws_iam_role.this[each.key].name
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.this[each.key].json
}

# ---------------------------------------------------------------------------- the platform's user
data "aws_iam_policy_document" "user_trust" {
  statement {
    sid     = "UsersAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = coalescelist(var.user_principal_arns, [local.account_root])
    }
  }
}

resource "aws_iam_role" "user" {
  name               = "${var.name}-user"
  description        = "What a user of ${var.name} may do: put datasets and files to score, read predictions and job status"
  assume_role_policy = data.aws_iam_policy_document.user_trust.json

  tags = var.tags
}

data "aws_iam_policy_document" "user" {
  dynamic "statement" {
    for_each = local.user_statements

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "user" {
  name   = aws_iam_role.user.name
  role   = aws_iam_role.user.id
  policy = data.aws_iam_policy_document.user.json
}
