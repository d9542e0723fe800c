mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  # Any existing file will do: filebase64sha256 only hashes its bytes.
  lambda_zip_path = "tests/fixtures/dummy.zip"
}

run "outputs_name_every_bucket_and_queue" {
  command = plan

  assert {
    condition     = keys(output.buckets) == ["datasets", "inference", "models", "predictions"]
    error_message = "output.buckets must map exactly datasets, models, inference and predictions."
  }

  assert {
    condition     = keys(output.queues) == ["predict", "predict_dlq", "train", "train_dlq"]
    error_message = "output.queues must map exactly train, predict, train_dlq and predict_dlq."
  }

  assert {
    condition     = output.buckets == { for role in ["datasets", "models", "inference", "predictions"] : role => "fargate-ml-local-${role}" }
    error_message = "Bucket names must be \"<project>-<environment>-<role>\"."
  }

  assert {
    condition     = output.functions == { train = "fargate-ml-local-enqueue-train", predict = "fargate-ml-local-enqueue-predict" }
    error_message = "Function names must be \"<project>-<environment>-enqueue-<kind>\"."
  }
}

run "roles_for_every_workload" {
  command = plan

  assert {
    condition     = keys(output.roles) == ["enqueue", "predictor_api", "predictor_worker", "trainer_api", "trainer_worker"]
    error_message = "output.roles must map exactly the five workloads."
  }
}

run "queue_names" {
  command = plan

  assert {
    condition     = module.platform.queue_names["train"] == "fargate-ml-local-train"
    error_message = "Queue names must be \"<project>-<environment>-<kind>\" with a \"-dlq\" dead-letter queue."
  }
}

run "only_the_local_differences" {
  command = plan

  assert {
    condition     = module.platform.name == "fargate-ml-local" && module.platform.tags == tomap({ Project = "fargate-ml", Environment = "local" })
    error_message = "The emulator stack is fargate-ml-local, tagged with its project and environment."
  }

  assert {
    condition     = keys(output.role_actions) == ["enqueue", "predictor_api", "predictor_worker", "trainer_api", "trainer_worker", "user"]
    error_message = "output.role_actions must carry every role's actions and the user role's (the IAM coverage report reads them)."
  }
}

run "notifications_reach_a_local_queue" {
  command = plan

  assert {
    condition     = keys(output.notifications) == ["queue_url", "topic_arn"]
    error_message = "The local stack must subscribe a queue to the job-events topic (output notifications)."
  }

}
