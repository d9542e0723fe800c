# Plans the whole cloud stack with a mocked AWS provider: no credentials, no account.
mock_provider "aws" {
  source = "../../tests/mocks"

  mock_data "aws_availability_zones" {
    defaults = {
      names = ["us-east-1c", "us-east-1a", "us-east-1b"]
    }
  }

  mock_resource "aws_ecr_repository" {
    override_during = plan
    defaults = {
      repository_url = "111122223333.dkr.ecr.us-east-1.amazonaws.com/fargate-ml-dev/image"
    }
  }
}

variables {
  image_tags = {
    trainer   = "0123abc"
    predictor = "0123abc"
  }
  # Any existing file will do: filebase64sha256 only hashes its bytes.
  lambda_zip_path = "tests/fixtures/dummy.zip"
}

run "whole_stack_plans" {
  command = plan

  assert {
    condition     = keys(output.buckets) == ["datasets", "inference", "models", "predictions"] && output.buckets.models == "fargate-ml-dev-models"
    error_message = "output.buckets must map the four bucket roles to <project>-<environment>-<role>."
  }

  assert {
    condition     = keys(output.queues) == ["predict", "predict_dlq", "train", "train_dlq"]
    error_message = "output.queues must map train, predict and their dead-letter queues (the shape fmldev.stack reads)."
  }

  assert {
    condition     = output.functions == { train = "fargate-ml-dev-enqueue-train", predict = "fargate-ml-dev-enqueue-predict" }
    error_message = "Function names must be \"<project>-<environment>-enqueue-<kind>\"."
  }

  assert {
    condition = alltrue([
      for env in concat(values(local.api_env), values(local.worker_env)) :
      contains(keys(env), "FML_EVENTS_TOPIC_ARN") && env.FML_METRICS_NAMESPACE == "fargate-ml/fargate-ml-dev"
    ])
    error_message = "Every API and worker must learn the job-events topic and the metrics namespace the dashboard reads."
  }

  assert {
    condition     = length(module.dashboard.widget_titles) >= 8 && output.dashboard_name == "fargate-ml-dev"
    error_message = "envs/aws must have the stack's dashboard."
  }

  assert {
    condition     = local.azs == tolist(["us-east-1a", "us-east-1b"])
    error_message = "The stack must span the first az_count (2) availability zones."
  }

  assert {
    condition = alltrue([
      for kind in ["train", "predict"] :
      var.worker_visibility_timeout_seconds >= tonumber(local.stack_env.FML_WORKER_VISIBILITY_TIMEOUT)
    ])
    error_message = "Each queue's visibility timeout must cover the workers' heartbeat window (FML_WORKER_VISIBILITY_TIMEOUT)."
  }

  assert {
    condition     = alltrue([for w in module.worker : w.autoscaling_capacity.min == 0 && contains(keys(w.scaling_policies), "backlog") && contains(keys(w.scaling_policies), "scale_from_zero")])
    error_message = "Workers must scale from 0 on their queue's backlog per task, with the scale-from-zero step policy."
  }

  assert {
    condition     = alltrue([for a in module.api : a.autoscaling_capacity.min >= 1 && keys(a.scaling_policies) == ["cpu"]])
    error_message = "API services must track CPU by default and never scale to zero."
  }

  assert {
    condition     = alltrue([for s in concat(values(module.api), values(module.worker)) : s.assign_public_ip == false]) && alltrue([for v in values(module.dask_cluster.assign_public_ip) : v == false])
    error_message = "No task may get a public IP."
  }

  assert {
    condition = output.ecs_services == {
      trainer_api      = "fargate-ml-dev-trainer-api"
      predictor_api    = "fargate-ml-dev-predictor-api"
      trainer_worker   = "fargate-ml-dev-trainer-worker"
      predictor_worker = "fargate-ml-dev-predictor-worker"
      dask_scheduler   = "fargate-ml-dev-dask-scheduler"
      dask_worker      = "fargate-ml-dev-dask-worker"
    }
    error_message = "There must be an API service and a worker per image, and the Dask scheduler and worker services."
  }

  assert {
    condition     = keys(output.log_groups) == ["api_access", "dask_scheduler", "dask_worker", "predictor_api", "predictor_worker", "trainer_api", "trainer_worker"]
    error_message = "Every service, the Dask ones included, must have its log group."
  }

  assert {
    condition     = module.dask_cluster.desired_counts == { scheduler = 0, worker = 0 }
    error_message = "The Dask services must rest at 0 tasks: the trainer worker scales them for a job."
  }

  assert {
    condition = (
      output.dask_scheduler_address == "tcp://scheduler.dask.fargate-ml-dev.internal:8786"
      && local.worker_env.trainer.FML_DASK_SCHEDULER == output.dask_scheduler_address
      && local.worker_env.trainer.FML_DASK_ECS_CLUSTER == "fargate-ml-dev"
      && local.worker_env.trainer.FML_DASK_ECS_SERVICES == "fargate-ml-dev-dask-scheduler,fargate-ml-dev-dask-worker"
      && local.worker_env.trainer.FML_DASK_WORKERS == "4"
    )
    error_message = "The trainer worker must learn the scheduler's stable address, the cluster, the two Dask services (scheduler first) and the worker count."
  }

  assert {
    condition     = !anytrue([for name in keys(local.worker_env.predictor) : startswith(name, "FML_DASK_")]) && !anytrue([for env in values(local.api_env) : anytrue([for name in keys(env) : startswith(name, "FML_DASK_")])])
    error_message = "Only the trainer worker drives the Dask cluster."
  }

  assert {
    condition     = module.dask_cluster.commands.worker == ["dask", "worker", "tcp://scheduler.dask.fargate-ml-dev.internal:8786", "--nworkers", "1", "--nthreads", "4"]
    error_message = "The Dask workers must connect to the scheduler's stable name, one worker of 4 threads per 4-vCPU task."
  }

  assert {
    condition = (
      keys(output.roles) == ["enqueue", "predictor_api", "predictor_worker", "trainer_api", "trainer_worker"]
      && jsonencode(output.role_actions.dask) == jsonencode(["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"])
      && contains(output.role_actions.trainer_worker, "ecs:UpdateService") && contains(output.role_actions.trainer_worker, "ecs:DescribeServices")
      && !anytrue([for role, actions in output.role_actions : anytrue([for a in actions : startswith(a, "ecs:")]) if role != "trainer_worker"])
    )
    error_message = "The Dask tasks get a read-only datasets role (outside output.roles, which fmldev.stack reads); only the trainer worker may scale ECS services."
  }

  assert {
    condition     = module.worker["trainer"].ephemeral_storage_gib == 100 && module.worker["predictor"].ephemeral_storage_gib == null
    error_message = "The trainer worker gets 100 GiB of ephemeral storage by default (datasets streamed to disk); the predictor keeps Fargate's default."
  }

  assert {
    condition     = contains(keys(module.network.interface_endpoint_ids), "ecs")
    error_message = "Without NAT the trainer worker reaches the ECS API (scaling the Dask services) through an interface endpoint."
  }

  assert {
    condition     = module.api_gateway.authorization_type == "AWS_IAM"
    error_message = "API routes must use IAM authorization by default."
  }

  assert {
    condition     = output.api_routes == merge([for name, svc in local.services : { for route in svc.routes : route => name }]...) && length(output.api_routes) == length(flatten(values(local.services)[*].routes))
    error_message = "Every route of local.services must go to the service that declares it (tests/terraform/test_api_routes.py checks those routes against the Flask apps)."
  }

  assert {
    condition     = module.alb.internal
    error_message = "The ALB must be internal."
  }

  assert {
    condition     = module.alb.idle_timeout_seconds >= var.sync_train_max_seconds && module.alb.idle_timeout_seconds < 75
    error_message = "The ALB idle timeout must exceed the synchronous training budget and stay below gunicorn's 75 s keep-alive."
  }

  assert {
    condition     = local.api_env.trainer.FML_BIND == "0.0.0.0:8081" && local.api_env.predictor.FML_BIND == "0.0.0.0:8080"
    error_message = "Each API must listen on all interfaces on its service's port."
  }

  assert {
    condition = alltrue([
      for name in ["FML_TARGET", "AWS_REGION", "FML_DATASETS_BUCKET", "FML_MODELS_BUCKET", "FML_INFERENCE_BUCKET", "FML_PREDICTIONS_BUCKET", "FML_TRAIN_QUEUE_URL", "FML_PREDICT_QUEUE_URL", "FML_TRAIN_DLQ_URL", "FML_PREDICT_DLQ_URL", "FML_WORKER_VISIBILITY_TIMEOUT"] :
      contains(keys(local.stack_env), name)
    ]) && local.stack_env.FML_TARGET == "aws" && local.stack_env.FML_MODELS_BUCKET == "fargate-ml-dev-models"
    error_message = "Every container must learn the stack's buckets and queues from the environment."
  }

  assert {
    condition = (
      local.worker_env.trainer.FML_MAX_DATASET_BYTES == tostring(8192 * 1048576 / 8)
      && local.worker_env.predictor.FML_MAX_DATASET_BYTES == tostring(10 * 1073741824)
    )
    error_message = "A worker's file limit must follow its task: an eighth of the trainer's memory, half the predictor's disk."
  }

  assert {
    condition = (
      keys(module.alarms.alarm_names) == ["api_5xx", "dead_letters", "function_errors"]
      && length(module.alarms.alarm_names.dead_letters) == 4
      && length(module.alarms.alarm_names.function_errors) == 3
      && length(module.alarms.alarm_names.api_5xx) == 2
    )
    error_message = "The stack must alarm on its three dead-letter queues and dead letters recorded, its three functions and both APIs."
  }

  assert {
    condition     = output.ecr_registry == "111122223333.dkr.ecr.us-east-1.amazonaws.com"
    error_message = "ecr_registry must be the registry host of the repositories."
  }
}

run "requests_scaling_https_and_jwt" {
  command = plan

  variables {
    project     = "acme"
    environment = "prod"
    az_count    = 3
    nat_gateway = "single"
    api_services = {
      predictor = { scale_on = "requests", target_value = 300, min_count = 2 }
    }
    alb_tls = {
      certificate_arn = "arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
      server_name     = "api.internal.example.com"
    }
    jwt_authorizer = {
      issuer   = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example"
      audience = ["fargate-ml"]
    }
  }

  assert {
    condition     = keys(module.api["predictor"].scaling_policies) == ["requests"] && module.api["predictor"].autoscaling_capacity.min == 2
    error_message = "The predictor API must track requests per target from 2 tasks."
  }

  assert {
    condition     = keys(module.api["trainer"].scaling_policies) == ["cpu"]
    error_message = "The trainer API keeps its CPU default."
  }

  assert {
    condition     = module.api_gateway.authorization_type == "JWT"
    error_message = "jwt_authorizer must switch the routes to JWT."
  }

  assert {
    condition     = module.alb.listener_protocol == "HTTPS"
    error_message = "With a certificate the listeners must use HTTPS."
  }

  assert {
    condition     = length(local.azs) == 3 && output.buckets.datasets == "acme-prod-datasets"
    error_message = "az_count and the name prefix must follow the variables."
  }
}

run "dask_and_trainer_disk_follow_the_variables" {
  command = plan

  variables {
    trainer_worker_ephemeral_storage_gib = 200
    dask = {
      worker_cpu    = 8192
      worker_memory = 32768
      worker_count  = 12
    }
  }

  assert {
    condition     = module.worker["trainer"].ephemeral_storage_gib == 200
    error_message = "trainer_worker_ephemeral_storage_gib must size the trainer worker's disk."
  }

  assert {
    condition     = local.worker_env.trainer.FML_DASK_WORKERS == "12" && module.dask_cluster.worker_threads == 8 && module.dask_cluster.desired_counts.worker == 0
    error_message = "The worker count reaches the trainer worker and --nthreads the workers' vCPUs; the service still rests at 0."
  }
}

run "rejects_trainer_disk_beyond_fargate" {
  command = plan

  variables {
    trainer_worker_ephemeral_storage_gib = 201
  }

  expect_failures = [var.trainer_worker_ephemeral_storage_gib]
}

run "rejects_sync_budget_beyond_api_gateway" {
  command = plan

  variables {
    sync_train_max_seconds = 30
  }

  expect_failures = [var.sync_train_max_seconds]
}

run "rejects_alb_idle_timeout_above_keepalive" {
  command = plan

  variables {
    alb_idle_timeout_seconds = 120
  }

  expect_failures = [var.alb_idle_timeout_seconds]
}
