mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name = "fml-test"
  bucket_arns = {
    datasets    = "arn:aws:s3:::fml-test-datasets"
    models      = "arn:aws:s3:::fml-test-models"
    inference   = "arn:aws:s3:::fml-test-inference"
    predictions = "arn:aws:s3:::fml-test-predictions"
  }
  train_queue_arn        = "arn:aws:sqs:us-east-1:111122223333:fml-test-train"
  predict_queue_arn      = "arn:aws:sqs:us-east-1:111122223333:fml-test-predict"
  enqueue_dlq_arn        = "arn:aws:sqs:us-east-1:111122223333:fml-test-enqueue-dlq"
  events_topic_arn       = "arn:aws:sns:us-east-1:111122223333:fml-test-job-events"
  function_names         = ["fml-test-enqueue-train", "fml-test-enqueue-predict"]
  dead_letter_queue_arns = ["arn:aws:sqs:us-east-1:111122223333:fml-test-train-dlq", "arn:aws:sqs:us-east-1:111122223333:fml-test-predict-dlq"]
}

run "one_least_privilege_role_per_workload" {
  command = plan

  assert {
    condition     = keys(aws_iam_role.this) == ["enqueue", "predictor_api", "predictor_worker", "trainer_api", "trainer_worker"]
    error_message = "There must be one role per service, worker and the enqueue function."
  }

  assert {
    condition     = !anytrue(flatten([for stmts in values(local.statements) : [for s in stmts : [for a in s.actions : startswith(a, "ecs:")]]]))
    error_message = "Without dask_cluster (envs/local) there is no Dask role and no role may call ECS."
  }

  assert {
    condition     = aws_iam_role.this["trainer_worker"].name == "fml-test-trainer-worker" && aws_iam_role.user.name == "fml-test-user"
    error_message = "Roles must be named <name>-<workload>."
  }

  assert {
    condition     = alltrue(flatten([for stmts in values(local.statements) : [for s in stmts : [for a in s.actions : !strcontains(a, "*")]]]))
    error_message = "No task role may use a wildcard action."
  }

  assert {
    condition     = alltrue(flatten([for stmts in values(local.statements) : [for s in stmts : [for r in s.resources : r != "*" && !endswith(r, ":::*")]]]))
    error_message = "No task role may act on every resource."
  }

  assert {
    condition = jsonencode(output.role_actions) == jsonencode({
      enqueue          = ["logs:CreateLogStream", "logs:PutLogEvents", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:PutObject", "sns:Publish", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage"]
      predictor_api    = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:PutObject"]
      predictor_worker = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "sns:Publish", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage"]
      trainer_api      = ["s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "sns:Publish", "sqs:SendMessage"]
      trainer_worker   = ["s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "sns:Publish", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
      user             = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject"]
    })
    error_message = "Each role must get exactly the actions of its flow."
  }

  assert {
    condition     = flatten([for s in local.statements.trainer_api : s.resources if contains(s.actions, "sqs:SendMessage")]) == [var.train_queue_arn]
    error_message = "The trainer API may send to the train queue only."
  }

  assert {
    condition = (
      toset([for role, stmts in local.statements : role if anytrue([for s in stmts : contains(s.actions, "sns:Publish")])]) == toset(["enqueue", "predictor_worker", "trainer_api", "trainer_worker"])
      && toset(flatten([for stmts in values(local.statements) : [for s in stmts : s.resources if contains(s.actions, "sns:Publish")]])) == toset([var.events_topic_arn])
    )
    error_message = "Exactly the roles that end jobs (trainer API, both workers, the functions) may publish, and only to the events topic."
  }

  assert {
    condition = (
      flatten([for s in local.statements.trainer_worker : s.resources if contains(s.actions, "sqs:ReceiveMessage")]) == [var.train_queue_arn]
      && flatten([for s in local.statements.predictor_worker : s.resources if contains(s.actions, "sqs:ReceiveMessage")]) == [var.predict_queue_arn]
    )
    error_message = "Each worker may consume its own queue only."
  }

  assert {
    condition = (
      flatten([for s in local.statements.trainer_worker : s.resources if contains(s.actions, "s3:DeleteObject")]) == ["arn:aws:s3:::fml-test-models/_jobs/*"]
      && flatten([for s in local.statements.predictor_worker : s.resources if contains(s.actions, "s3:DeleteObject")]) == ["arn:aws:s3:::fml-test-predictions/_jobs/*"]
    )
    error_message = "Workers may delete their job leases (_jobs/ of their status bucket) and nothing else."
  }

  assert {
    condition = toset(flatten([for s in local.statements.trainer_api : s.resources if contains(s.actions, "s3:PutObject")])) == toset([
      "arn:aws:s3:::fml-test-datasets/_api/*", "arn:aws:s3:::fml-test-models/*/model.ubj", "arn:aws:s3:::fml-test-models/*/aliases/*",
      "arn:aws:s3:::fml-test-models/*/reference/*", "arn:aws:s3:::fml-test-models/_jobs/*",
    ])
    error_message = "The trainer API may write API uploads, models, aliases, reference sets and job records only."
  }

  assert {
    condition     = toset(flatten([for s in local.statements.trainer_api : s.resources if contains(s.actions, "s3:DeleteObject")])) == toset(["arn:aws:s3:::fml-test-models/*/aliases/*"])
    error_message = "The trainer API deletes alias objects only (DELETE /models/<m>/aliases/<a>); model versions are never deleted."
  }

  assert {
    condition     = toset(flatten([for s in local.statements.predictor_api : s.resources if contains(s.actions, "s3:GetObject")])) == toset(["arn:aws:s3:::fml-test-models/*/model.ubj", "arn:aws:s3:::fml-test-models/*/aliases/*", "arn:aws:s3:::fml-test-predictions/online/*", "arn:aws:s3:::fml-test-predictions/_jobs/*"])
    error_message = "The predictor reads model versions, the aliases that choose them, online predictions (and the shadow report) and job records."
  }

  assert {
    condition = toset(flatten([for s in local.statements.predictor_worker : s.resources if contains(s.actions, "s3:PutObject")])) == toset([
      "arn:aws:s3:::fml-test-predictions/batch/*", "arn:aws:s3:::fml-test-predictions/_jobs/*",
    ])
    error_message = "The predictor worker may write batch outputs and job records only."
  }

  assert {
    condition = toset(flatten([for s in local.statements.predictor_api : s.resources if contains(s.actions, "s3:PutObject")])) == toset([
      "arn:aws:s3:::fml-test-predictions/online/*",
    ])
    error_message = "The predictor API may write online predictions only."
  }

  assert {
    condition = alltrue([
      for role in ["predictor_api", "predictor_worker"] : alltrue(flatten([
        for s in local.statements[role] : [for r in s.resources : !startswith(r, var.bucket_arns.datasets) && !(contains(s.actions, "s3:PutObject") && startswith(r, var.bucket_arns.models))]
      ]))
    ])
    error_message = "The predictor must not touch datasets nor write models."
  }

  assert {
    condition     = !anytrue(flatten([for s in local.statements.predictor_api : [for r in s.resources : startswith(r, var.bucket_arns.inference)]]))
    error_message = "The predictor API does not read the inference bucket."
  }

  assert {
    condition     = !anytrue(flatten([for stmts in values(local.statements) : [for s in stmts : startswith(s.actions[0], "kms:")]]))
    error_message = "Without a KMS key no role gets KMS permissions."
  }

  assert {
    condition = toset(flatten([for s in local.statements.predictor_worker : s.resources if contains(s.actions, "s3:ListBucketVersions") || contains(s.actions, "s3:GetObjectVersion")])) == toset([
      "arn:aws:s3:::fml-test-models/*/model.ubj", "arn:aws:s3:::fml-test-inference/*",
      "arn:aws:s3:::fml-test-predictions/batch/*", "arn:aws:s3:::fml-test-predictions/_jobs/*", "arn:aws:s3:::fml-test-predictions",
    ])
    error_message = "The predictor worker reads model, input, its own earlier batch output versions (a retried job finds its upload) and the versions of a split file's part objects."
  }

  assert {
    condition     = flatten([for s in local.statements.predictor_worker : s.resources if contains(s.actions, "sqs:SendMessage")]) == [var.predict_queue_arn]
    error_message = "The predictor worker sends only the parts of a split file, to its own queue."
  }

  assert {
    condition = toset(flatten([for s in local.statements.enqueue : s.resources if contains(s.actions, "sqs:SendMessage")])) == toset([
      var.train_queue_arn, var.predict_queue_arn, var.enqueue_dlq_arn,
    ])
    error_message = "The enqueue role may send to the job queues and its dead-letter queue only."
  }

  assert {
    condition     = toset(flatten([for s in local.statements.enqueue : s.resources if contains(s.actions, "sqs:ReceiveMessage")])) == toset(var.dead_letter_queue_arns)
    error_message = "The functions' role consumes the dead-letter queues and no other queue."
  }

  assert {
    condition = toset(flatten([for s in local.statements.enqueue : s.resources if contains(s.actions, "logs:PutLogEvents")])) == toset([
      "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/fml-test-enqueue-train:*",
      "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/fml-test-enqueue-predict:*",
    ])
    error_message = "The enqueue role may write its functions' log groups only."
  }

  assert {
    condition = toset(flatten([for s in local.statements.enqueue : s.resources if contains(s.actions, "s3:PutObject")])) == toset([
      "arn:aws:s3:::fml-test-models/_jobs/*", "arn:aws:s3:::fml-test-predictions/_jobs/*",
    ])
    error_message = "The enqueue role may write job status records only."
  }

  assert {
    condition = toset(flatten([for s in local.user_statements : s.resources if contains(s.actions, "s3:PutObject")])) == toset([
      "arn:aws:s3:::fml-test-datasets/*", "arn:aws:s3:::fml-test-inference/*",
    ])
    error_message = "The user may put datasets and files to score, and write nothing else."
  }

  assert {
    condition     = !anytrue(flatten([for s in local.user_statements : [for a in s.actions : startswith(a, "sqs:") || a == "s3:DeleteObject"]]))
    error_message = "The user has no queue access and deletes nothing."
  }

  assert {
    condition = alltrue([
      for role, doc in data.aws_iam_policy_document.trust : anytrue([
        for s in doc.statement : anytrue([for p in s.principals : p.type == "Service" && contains(p.identifiers, role == "enqueue" ? "lambda.amazonaws.com" : "ecs-tasks.amazonaws.com")])
      ])
    ])
    error_message = "On AWS, ECS tasks assume the task roles and Lambda the enqueue role."
  }

  assert {
    condition = alltrue([
      for role, doc in data.aws_iam_policy_document.trust : role == "enqueue" || anytrue([
        for s in doc.statement : anytrue([for c in s.condition : c.variable == "aws:SourceAccount" && contains(c.values, "111122223333")])
      ])
    ])
    error_message = "Only this account's ECS tasks may assume the task roles."
  }
}

run "dask_cluster_role_and_scaling" {
  command = plan

  # As envs/aws calls it: the Dask cluster's services in the stack's ECS cluster.
  variables {
    dask_cluster = {
      cluster_name  = "fml-test"
      service_names = ["fml-test-dask-scheduler", "fml-test-dask-worker"]
    }
  }

  assert {
    condition     = keys(aws_iam_role.this) == ["dask", "enqueue", "predictor_api", "predictor_worker", "trainer_api", "trainer_worker"] && aws_iam_role.this["dask"].name == "fml-test-dask"
    error_message = "dask_cluster must add one role, <name>-dask, for the Dask tasks."
  }

  assert {
    condition = jsonencode(output.role_actions) == jsonencode({
      dask             = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"]
      enqueue          = ["logs:CreateLogStream", "logs:PutLogEvents", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:PutObject", "sns:Publish", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage"]
      predictor_api    = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:PutObject"]
      predictor_worker = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "sns:Publish", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage"]
      trainer_api      = ["s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "sns:Publish", "sqs:SendMessage"]
      trainer_worker   = ["ecs:DescribeServices", "ecs:UpdateService", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "sns:Publish", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
      user             = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject"]
    })
    error_message = "The Dask role reads datasets only; the trainer worker gains ecs:UpdateService and ecs:DescribeServices; no other role changes."
  }

  assert {
    condition = jsonencode(local.statements.dask) == jsonencode([
      { sid = "ReadDatasets", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["arn:aws:s3:::fml-test-datasets/*"] },
      { sid = "ListDatasets", actions = ["s3:ListBucket"], resources = ["arn:aws:s3:::fml-test-datasets"] },
    ])
    error_message = "The Dask tasks may read the datasets bucket and nothing else (no write, no other bucket)."
  }

  assert {
    condition = jsonencode([for s in local.statements.trainer_worker : s if anytrue([for a in s.actions : startswith(a, "ecs:")])]) == jsonencode([{
      sid     = "ScaleDaskCluster"
      actions = ["ecs:DescribeServices", "ecs:UpdateService"]
      resources = [
        "arn:aws:ecs:us-east-1:111122223333:service/fml-test/fml-test-dask-scheduler",
        "arn:aws:ecs:us-east-1:111122223333:service/fml-test/fml-test-dask-worker",
      ]
    }])
    error_message = "The trainer worker may describe and update exactly the two Dask services."
  }

  assert {
    condition     = !anytrue(flatten([for role, stmts in local.statements : [for s in stmts : [for a in s.actions : startswith(a, "ecs:")]] if role != "trainer_worker"]))
    error_message = "Only the trainer worker may call ECS."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.trust["dask"].statement : anytrue([for p in s.principals : p.type == "Service" && contains(p.identifiers, "ecs-tasks.amazonaws.com")])
      && anytrue([for c in s.condition : c.variable == "aws:SourceAccount" && contains(c.values, "111122223333")])
    ])
    error_message = "Only this account's ECS tasks may assume the Dask role."
  }
}

run "rejects_a_dask_service_wildcard" {
  command = plan

  variables {
    dask_cluster = {
      cluster_name  = "fml-test"
      service_names = ["fml-test-dask-*"]
    }
  }

  expect_failures = [var.dask_cluster]
}

run "local_operator_assumes_every_role" {
  command = plan

  variables {
    local_operator_arn = "arn:aws:iam::111122223333:root"
  }

  assert {
    condition = alltrue([
      for doc in values(data.aws_iam_policy_document.trust) : alltrue([
        for s in doc.statement : alltrue([for p in s.principals : p.type == "AWS" && p.identifiers == toset([var.local_operator_arn])])
      ])
    ])
    error_message = "Locally the operator, and no service, assumes every role."
  }

  assert {
    condition     = jsonencode(output.role_actions) == jsonencode(run.one_least_privilege_role_per_workload.role_actions)
    error_message = "The local stack's roles must carry the same permissions as the cloud's."
  }
}

run "kms_key_grants_encrypt_and_decrypt" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition = alltrue([
      for stmts in concat(values(local.statements), [local.user_statements]) :
      flatten([for s in stmts : s.actions if s.resources == [var.kms_key_arn]]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    ])
    error_message = "With a KMS key every task role may decrypt and generate data keys with it, and only it."
  }
}

run "rejects_a_local_operator_that_is_no_arn" {
  command = plan

  variables {
    local_operator_arn = "root"
  }

  expect_failures = [var.local_operator_arn]
}
