mock_provider "aws" {
  # The provider validates policy JSON and account IDs at plan; the mock's random strings
  # are neither.
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111122223333"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
}

variables {
  name = "fml-test"
  bucket_arns = {
    datasets    = "arn:aws:s3:::fml-test-datasets"
    models      = "arn:aws:s3:::fml-test-models"
    inference   = "arn:aws:s3:::fml-test-inference"
    predictions = "arn:aws:s3:::fml-test-predictions"
  }
  train_queue_arn       = "arn:aws:sqs:eu-west-1:111122223333:fml-test-train"
  predict_queue_arn     = "arn:aws:sqs:eu-west-1:111122223333:fml-test-predict"
  ecr_repository_arns   = ["arn:aws:ecr:eu-west-1:111122223333:repository/fml-test/trainer", "arn:aws:ecr:eu-west-1:111122223333:repository/fml-test/predictor"]
  log_group_name_prefix = "/ecs/fml-test-"
}

run "one_least_privilege_role_per_workload" {
  command = plan

  assert {
    condition     = keys(aws_iam_role.task) == ["predictor_api", "predictor_worker", "trainer_api", "trainer_worker"]
    error_message = "There must be one task role per service and worker."
  }

  assert {
    condition     = aws_iam_role.task["trainer_worker"].name == "fml-test-trainer-worker" && aws_iam_role.execution.name == "fml-test-task-execution"
    error_message = "Roles must be named <name>-<workload>."
  }

  assert {
    condition     = alltrue(flatten([for stmts in values(local.task_statements) : [for s in stmts : [for a in s.actions : !strcontains(a, "*")]]]))
    error_message = "No task role may use a wildcard action."
  }

  assert {
    condition     = alltrue(flatten([for stmts in values(local.task_statements) : [for s in stmts : [for r in s.resources : r != "*" && !endswith(r, ":::*")]]]))
    error_message = "No task role may act on every resource."
  }

  assert {
    condition = jsonencode(output.task_actions) == jsonencode({
      trainer_api      = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "sqs:SendMessage"]
      trainer_worker   = ["s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
      predictor_api    = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject"]
      predictor_worker = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    })
    error_message = "Each role must get exactly the actions of its flow."
  }

  assert {
    condition     = flatten([for s in local.task_statements.trainer_api : s.resources if contains(s.actions, "sqs:SendMessage")]) == [var.train_queue_arn]
    error_message = "The trainer API may send to the train queue only."
  }

  assert {
    condition = (
      flatten([for s in local.task_statements.trainer_worker : s.resources if contains(s.actions, "sqs:ReceiveMessage")]) == [var.train_queue_arn]
      && flatten([for s in local.task_statements.predictor_worker : s.resources if contains(s.actions, "sqs:ReceiveMessage")]) == [var.predict_queue_arn]
    )
    error_message = "Each worker may consume its own queue only."
  }

  assert {
    condition = (
      flatten([for s in local.task_statements.trainer_worker : s.resources if contains(s.actions, "s3:DeleteObject")]) == ["arn:aws:s3:::fml-test-models/_jobs/*"]
      && flatten([for s in local.task_statements.predictor_worker : s.resources if contains(s.actions, "s3:DeleteObject")]) == ["arn:aws:s3:::fml-test-predictions/_jobs/*"]
    )
    error_message = "Workers may delete their job leases (_jobs/ of their status bucket) and nothing else."
  }

  assert {
    condition = toset(flatten([for s in local.task_statements.trainer_api : s.resources if contains(s.actions, "s3:PutObject")])) == toset([
      "arn:aws:s3:::fml-test-datasets/_api/*", "arn:aws:s3:::fml-test-models/*/model.ubj", "arn:aws:s3:::fml-test-models/_jobs/*",
    ])
    error_message = "The trainer API may write API uploads, models and job records only."
  }

  assert {
    condition = toset(flatten([for s in local.task_statements.predictor_worker : s.resources if contains(s.actions, "s3:PutObject")])) == toset([
      "arn:aws:s3:::fml-test-predictions/batch/*", "arn:aws:s3:::fml-test-predictions/_jobs/*",
    ])
    error_message = "The predictor worker may write batch outputs and job records only."
  }

  assert {
    condition = toset(flatten([for s in local.task_statements.predictor_api : s.resources if contains(s.actions, "s3:PutObject")])) == toset([
      "arn:aws:s3:::fml-test-predictions/online/*",
    ])
    error_message = "The predictor API may write online predictions only."
  }

  assert {
    condition = alltrue([
      for role in ["predictor_api", "predictor_worker"] : alltrue(flatten([
        for s in local.task_statements[role] : [for r in s.resources : !startswith(r, var.bucket_arns.datasets) && !(contains(s.actions, "s3:PutObject") && startswith(r, var.bucket_arns.models))]
      ]))
    ])
    error_message = "The predictor must not touch datasets nor write models."
  }

  assert {
    condition     = !anytrue(flatten([for s in local.task_statements.predictor_api : [for r in s.resources : startswith(r, var.bucket_arns.inference)]]))
    error_message = "The predictor API does not read the inference bucket."
  }

  assert {
    condition     = !anytrue(flatten([for stmts in values(local.task_statements) : [for s in stmts : startswith(s.actions[0], "kms:")]]))
    error_message = "Without a KMS key no role gets KMS permissions."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.execution.statement :
      s.sid == "EcrLogin" ? s.resources == toset(["*"]) && s.actions == toset(["ecr:GetAuthorizationToken"]) : !contains(s.resources, "*")
    ])
    error_message = "Only ecr:GetAuthorizationToken (which has no resource-level permissions) may use resource \"*\"."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.execution.statement : s.resources if s.sid == "WriteContainerLogs"
    ]) == toset(["arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/fml-test-*:*"])
    error_message = "The execution role may write the services' log groups only."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.assume_role.statement : anytrue([
        for c in s.condition : c.variable == "aws:SourceAccount" && contains(c.values, "111122223333")
      ])
    ])
    error_message = "Only this account's ECS tasks may assume the roles."
  }
}

run "kms_key_grants_encrypt_and_decrypt" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition = alltrue([
      for stmts in values(local.task_statements) :
      flatten([for s in stmts : s.actions if s.resources == [var.kms_key_arn]]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    ])
    error_message = "With a KMS key every task role may decrypt and generate data keys with it, and only it."
  }
}

run "rejects_wildcard_repository" {
  command = plan

  variables {
    ecr_repository_arns = ["*"]
  }

  expect_failures = [var.ecr_repository_arns]
}
