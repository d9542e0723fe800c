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
      account_id = "000000000000"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_region" {
    defaults = {
      name = "us-east-1"
    }
  }
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

run "prefix_follows_variables" {
  command = plan

  variables {
    project     = "acme"
    environment = "dev"
  }

  assert {
    condition     = alltrue([for name in values(output.buckets) : startswith(name, "acme-dev-")])
    error_message = "Every bucket name must carry the <project>-<environment>- prefix."
  }

  assert {
    condition     = module.platform.queue_names["predict"] == "acme-dev-predict"
    error_message = "Queue names must carry the <project>-<environment>- prefix."
  }
}
