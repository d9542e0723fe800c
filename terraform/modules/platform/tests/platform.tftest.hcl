mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  target      = "aws"
  project     = "fml"
  environment = "test"
  # Any existing file will do: filebase64sha256 only hashes its bytes.
  lambda_zip_path = "../../envs/local/tests/fixtures/dummy.zip"
}

run "one_data_plane_with_its_roles" {
  command = plan

  assert {
    condition     = output.buckets == { for role in ["datasets", "inference", "models", "predictions"] : role => "fml-test-${role}" }
    error_message = "Buckets must be named <name>-<role>."
  }

  assert {
    condition     = output.queue_names == { train = "fml-test-train", predict = "fml-test-predict" }
    error_message = "Job queues must be named <name>-<kind>."
  }

  assert {
    condition     = keys(output.roles) == ["enqueue", "predictor_api", "predictor_worker", "trainer_api", "trainer_worker"]
    error_message = "output.roles must map exactly the five workloads."
  }

  assert {
    condition     = output.dask_role_arn == null && !contains(keys(output.role_actions), "dask")
    error_message = "Without dask_cluster there is no Dask role."
  }

  assert {
    condition     = alltrue([for kind, fn in module.s3_trigger : fn.function_name == "fml-test-enqueue-${kind}"])
    error_message = "Each kind of job gets its enqueue function."
  }

  assert {
    condition     = module.s3_trigger["train"].function_name == "fml-test-enqueue-train" && module.s3_trigger["predict"].function_name == "fml-test-enqueue-predict"
    error_message = "Function names must be <name>-enqueue-<kind>."
  }

  assert {
    condition     = aws_sqs_queue.enqueue_dlq.sqs_managed_sse_enabled && aws_sqs_queue.enqueue_dlq.message_retention_seconds == 1209600
    error_message = "The enqueue functions' dead-letter queue must be encrypted and keep events 14 days."
  }
}

run "dead_letters_reach_the_dead_letter_function" {
  command = plan

  assert {
    condition     = keys(aws_lambda_event_source_mapping.dead_letter) == ["enqueue", "predict", "train"] && alltrue([for m in aws_lambda_event_source_mapping.dead_letter : m.function_response_types == toset(["ReportBatchItemFailures"])])
    error_message = "The dead-letter function must consume both job dead-letter queues and the enqueue failures, reporting item failures."
  }

  assert {
    condition     = aws_lambda_function.dead_letter.handler == "lambdas.dead_letter.handler" && aws_lambda_function.dead_letter.function_name == "fml-test-dead-letter" && aws_lambda_function.dead_letter.environment[0].variables.FML_TARGET == "aws"
    error_message = "The dead-letter function runs lambdas.dead_letter.handler as <name>-dead-letter, told its target (FML_TARGET)."
  }
}

run "dask_cluster_adds_its_role_outside_roles" {
  command = plan

  variables {
    dask_cluster = {
      cluster_name  = "fml-test"
      service_names = ["fml-test-dask-scheduler", "fml-test-dask-worker"]
    }
  }

  assert {
    condition     = keys(output.roles) == ["enqueue", "predictor_api", "predictor_worker", "trainer_api", "trainer_worker"]
    error_message = "output.roles must keep exactly the five workloads (fmldev.stack requires them): the Dask role is dask_role_arn."
  }

  assert {
    condition     = module.iam.role_names["dask"] == "fml-test-dask" && contains(keys(output.role_actions), "dask")
    error_message = "dask_cluster must give the Dask tasks their role, <name>-dask, listed in role_actions."
  }

  assert {
    condition     = contains(output.role_actions.trainer_worker, "ecs:UpdateService") && contains(output.role_actions.trainer_worker, "ecs:DescribeServices")
    error_message = "With dask_cluster the trainer worker may scale the Dask services."
  }
}

run "local_operator_reaches_the_roles" {
  command = plan

  variables {
    target = "local"
  }

  assert {
    condition     = jsonencode(output.role_actions) == jsonencode(run.one_data_plane_with_its_roles.role_actions)
    error_message = "The local composition must grant exactly what the cloud one does."
  }

  assert {
    condition     = aws_lambda_function.dead_letter.environment[0].variables.FML_TARGET == "local"
    error_message = "The functions must learn the target (FML_TARGET)."
  }
}

run "names_and_tags_follow_project_and_environment" {
  command = plan

  variables {
    project     = "acme"
    environment = "dev"
    tags        = { Team = "ml" }
  }

  assert {
    condition     = output.name == "acme-dev" && alltrue([for name in values(output.buckets) : startswith(name, "acme-dev-")]) && output.queue_names["predict"] == "acme-dev-predict"
    error_message = "Every name must carry the <project>-<environment>- prefix."
  }

  assert {
    condition     = output.tags == tomap({ Project = "acme", Environment = "dev", Team = "ml" }) && aws_sqs_queue.enqueue_dlq.tags == output.tags
    error_message = "Every resource must be tagged with its project, environment and the extra tags."
  }
}

run "project_defaults_when_null" {
  command = plan

  variables {
    project = null
  }

  assert {
    condition     = output.name == "fargate-ml-test"
    error_message = "A null project must keep the default, fargate-ml."
  }
}

run "rejects_names_that_do_not_fit" {
  command = plan

  variables {
    project     = "Not_A_Name"
    environment = "much-too-long"
    target      = "gcp"
  }

  expect_failures = [var.project, var.environment, var.target]
}

run "ended_jobs_are_announced" {
  command = plan

  assert {
    condition     = aws_sns_topic.job_events.name == "fml-test-job-events" && aws_sns_topic.job_events.kms_master_key_id == "alias/aws/sns"
    error_message = "The job-events topic is <name>-job-events, encrypted (SNS's key without kms_key_arn)."
  }

  assert {
    condition     = contains(keys(aws_lambda_function.dead_letter.environment[0].variables), "FML_EVENTS_TOPIC_ARN") && contains(keys(local.lambda_environment), "FML_EVENTS_TOPIC_ARN")
    error_message = "The functions (enqueue and dead-letter) must learn the events topic: they end jobs too."
  }

  assert {
    condition     = length(aws_sqs_queue.job_events) == 0 && output.events_queue_url == null
    error_message = "Without events_queue no queue is subscribed (the cloud stack's subscribers are its operator's choice)."
  }
}

run "a_queue_subscribed_to_the_events" {
  command = plan

  variables {
    events_queue = true
  }

  assert {
    condition = (
      aws_sns_topic_subscription.job_events[0].protocol == "sqs" && aws_sns_topic_subscription.job_events[0].raw_message_delivery
      && aws_sqs_queue.job_events[0].name == "fml-test-job-events" && aws_sqs_queue.job_events[0].sqs_managed_sse_enabled
    )
    error_message = "events_queue subscribes <name>-job-events (encrypted) to the topic with raw delivery: each message body is the event."
  }
}

run "the_platform_key_encrypts_the_events_too" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/abcd"
  }

  assert {
    condition     = aws_sns_topic.job_events.kms_master_key_id == var.kms_key_arn
    error_message = "With kms_key_arn the topic uses the platform's key (the publishing roles may use it)."
  }
}
