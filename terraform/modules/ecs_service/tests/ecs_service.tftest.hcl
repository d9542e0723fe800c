mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name               = "fml-test-trainer-api"
  cluster_name       = "fml-test"
  cluster_arn        = "arn:aws:ecs:us-east-1:111122223333:cluster/fml-test"
  image              = "111122223333.dkr.ecr.us-east-1.amazonaws.com/fml-test/trainer:abc123"
  execution_role_arn = "arn:aws:iam::111122223333:role/fml-test-execution"
  task_role_arn      = "arn:aws:iam::111122223333:role/fml-test-trainer-api"
  vpc_id             = "vpc-00000000000000000"
  subnet_ids         = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  cpu                = 1024
  memory             = 2048
  environment = {
    FML_TARGET = "aws"
    FML_BIND   = "0.0.0.0:8081"
  }
}

run "api_service_behind_the_load_balancer" {
  command = plan

  variables {
    container_port             = 8081
    ingress_security_group_ids = ["sg-0000000000000000a"]
    load_balancer = {
      target_group_arn = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/fml-test-trainer/0123456789abcdef"
    }
    autoscaling = {
      min_capacity = 1
      max_capacity = 4
      cpu_target   = 60
    }
  }

  assert {
    condition = (
      aws_ecs_task_definition.this.requires_compatibilities == toset(["FARGATE"])
      && aws_ecs_task_definition.this.network_mode == "awsvpc"
      && aws_ecs_task_definition.this.cpu == "1024" && aws_ecs_task_definition.this.memory == "2048"
    )
    error_message = "The task must be a Fargate awsvpc task of the given size."
  }

  assert {
    condition     = aws_ecs_task_definition.this.execution_role_arn == var.execution_role_arn && aws_ecs_task_definition.this.task_role_arn == var.task_role_arn
    error_message = "The task must use the given execution and task roles."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].portMappings == [{ containerPort = 8081, protocol = "tcp" }]
    error_message = "The API container must expose its port."
  }

  assert {
    condition = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment == [
      { name = "FML_BIND", value = "0.0.0.0:8081" },
      { name = "FML_TARGET", value = "aws" },
    ]
    error_message = "The container environment must be the given variables, sorted by name."
  }

  assert {
    condition = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].logConfiguration == {
      logDriver = "awslogs"
      options = {
        awslogs-group         = "/ecs/fml-test-trainer-api"
        awslogs-region        = "us-east-1"
        awslogs-stream-prefix = "app"
      }
    }
    error_message = "The container must log to the service's log group."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout == 30 && !can(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command)
    error_message = "The API keeps the image's command and the default 30 s stop timeout."
  }

  assert {
    condition     = one(aws_ecs_service.this.network_configuration).assign_public_ip == false && output.assign_public_ip == false
    error_message = "Tasks must not get a public IP."
  }

  assert {
    condition     = one(aws_ecs_service.this.network_configuration).subnets == toset(var.subnet_ids)
    error_message = "Tasks must run in the given (private) subnets."
  }

  assert {
    condition     = one(aws_ecs_service.this.deployment_circuit_breaker).enable && one(aws_ecs_service.this.deployment_circuit_breaker).rollback
    error_message = "The deployment circuit breaker must be on, with rollback."
  }

  assert {
    condition = (
      one(aws_ecs_service.this.load_balancer).target_group_arn == var.load_balancer.target_group_arn
      && one(aws_ecs_service.this.load_balancer).container_port == 8081
      && aws_ecs_service.this.health_check_grace_period_seconds == 60
    )
    error_message = "The service must register its container port in the target group, with a health check grace period."
  }

  assert {
    condition     = one(aws_ecs_service.this.capacity_provider_strategy).capacity_provider == "FARGATE"
    error_message = "The service must run on FARGATE by default."
  }

  assert {
    condition     = [for r in aws_vpc_security_group_ingress_rule.container_port : [r.referenced_security_group_id, r.from_port]] == [["sg-0000000000000000a", 8081]]
    error_message = "Only the load balancer's security group may reach the container port."
  }

  assert {
    condition     = alltrue([for r in aws_vpc_security_group_egress_rule.https : r.from_port == 443 && r.to_port == 443 && r.ip_protocol == "tcp"])
    error_message = "Tasks may only leave over HTTPS."
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].min_capacity == 1 && aws_appautoscaling_target.this[0].max_capacity == 4 && aws_appautoscaling_target.this[0].resource_id == "service/fml-test/fml-test-trainer-api"
    error_message = "Autoscaling must target the service between min and max."
  }

  assert {
    condition     = one(one(aws_appautoscaling_policy.cpu[0].target_tracking_scaling_policy_configuration).predefined_metric_specification).predefined_metric_type == "ECSServiceAverageCPUUtilization"
    error_message = "cpu_target must track the service's average CPU."
  }

  assert {
    condition     = keys(output.scaling_policies) == ["cpu"] && length(aws_cloudwatch_metric_alarm.scale_from_zero) == 0
    error_message = "An API service tracks one metric and never scales from zero."
  }

  assert {
    condition     = length(aws_ecs_service.this.service_registries) == 0 && output.service_registry_arns == [] && output.command == null
    error_message = "Without service_registry_arn the tasks register nowhere; the API keeps the image's command."
  }

  assert {
    condition     = length(aws_ecs_task_definition.this.ephemeral_storage) == 0 && output.ephemeral_storage_gib == null
    error_message = "Without ephemeral_storage_gib the task keeps Fargate's default."
  }
}

run "service_registered_in_cloud_map_with_more_disk" {
  command = plan

  variables {
    name                  = "fml-test-dask-scheduler"
    command               = ["dask", "scheduler", "--port", "8786"]
    desired_count         = 0
    ephemeral_storage_gib = 100
    service_registry_arn  = "arn:aws:servicediscovery:us-east-1:111122223333:service/srv-0123456789abcdef"
  }

  assert {
    condition     = one(aws_ecs_service.this.service_registries).registry_arn == var.service_registry_arn && output.service_registry_arns == [var.service_registry_arn]
    error_message = "The tasks must register in the given Cloud Map service."
  }

  assert {
    condition     = one(aws_ecs_task_definition.this.ephemeral_storage).size_in_gib == 100 && output.ephemeral_storage_gib == 100
    error_message = "ephemeral_storage_gib must size the task's ephemeral storage."
  }

  assert {
    condition     = output.desired_count == 0 && output.command == ["dask", "scheduler", "--port", "8786"] && output.autoscaling_capacity == null
    error_message = "The outputs must report the initial count and the command; no autoscaling without the variable."
  }
}

run "rejects_ephemeral_storage_below_fargate_extra" {
  command = plan

  variables {
    ephemeral_storage_gib = 20
  }

  expect_failures = [var.ephemeral_storage_gib]
}

run "api_service_on_requests_per_target" {
  command = plan

  variables {
    container_port = 8081
    load_balancer = {
      target_group_arn = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/fml-test-trainer/0123456789abcdef"
    }
    autoscaling = {
      min_capacity                 = 2
      max_capacity                 = 6
      requests_per_target          = 200
      request_count_resource_label = "app/fml-test/0123456789abcdef/targetgroup/fml-test-trainer/0123456789abcdef"
    }
  }

  assert {
    condition = (
      one(one(aws_appautoscaling_policy.requests[0].target_tracking_scaling_policy_configuration).predefined_metric_specification).predefined_metric_type == "ALBRequestCountPerTarget"
      && one(one(aws_appautoscaling_policy.requests[0].target_tracking_scaling_policy_configuration).predefined_metric_specification).resource_label == var.autoscaling.request_count_resource_label
      && one(aws_appautoscaling_policy.requests[0].target_tracking_scaling_policy_configuration).target_value == 200
    )
    error_message = "requests_per_target must track ALBRequestCountPerTarget of the service's target group."
  }

  assert {
    condition     = keys(output.scaling_policies) == ["requests"]
    error_message = "Only the requests policy must exist."
  }
}

run "queue_worker_scales_on_backlog_from_zero" {
  command = plan

  variables {
    name                 = "fml-test-trainer-worker"
    command              = ["python", "-m", "trainer.worker"]
    stop_timeout_seconds = 120
    desired_count        = 0
    capacity_provider_strategy = [
      { capacity_provider = "FARGATE_SPOT", weight = 1 },
    ]
    autoscaling = {
      min_capacity = 0
      max_capacity = 4
      queue        = { name = "fml-test-train", backlog_per_task = 2 }
    }
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command == ["python", "-m", "trainer.worker"]
    error_message = "The worker must run the given command."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout == 120
    error_message = "The worker must get 120 s between SIGTERM and SIGKILL."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].portMappings == [] && length(aws_ecs_service.this.load_balancer) == 0
    error_message = "A worker has no port and no load balancer."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.container_port) == 0
    error_message = "Nothing may connect to a worker."
  }

  assert {
    condition     = one(aws_ecs_service.this.network_configuration).assign_public_ip == false
    error_message = "Workers must not get a public IP."
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].min_capacity == 0 && aws_appautoscaling_target.this[0].max_capacity == 4
    error_message = "Workers must scale between 0 and max."
  }

  assert {
    condition = toset(flatten([
      for m in one(one(aws_appautoscaling_policy.backlog[0].target_tracking_scaling_policy_configuration).customized_metric_specification).metrics : [
        for s in m.metric_stat : [for x in s.metric : "${x.namespace}/${x.metric_name}"]
      ]
    ])) == toset(["AWS/SQS/ApproximateNumberOfMessagesVisible", "AWS/SQS/ApproximateNumberOfMessagesNotVisible", "ECS/ContainerInsights/RunningTaskCount"])
    error_message = "The backlog policy must divide the queue's messages by the running tasks."
  }

  assert {
    condition = alltrue(flatten([
      for m in one(one(aws_appautoscaling_policy.backlog[0].target_tracking_scaling_policy_configuration).customized_metric_specification).metrics : [
        for s in m.metric_stat : [for x in s.metric : [for d in x.dimensions : d.value == "fml-test-train" if d.name == "QueueName"]]
      ]
    ]))
    error_message = "The backlog metrics must be the worker's queue."
  }

  assert {
    condition = [
      for m in one(one(aws_appautoscaling_policy.backlog[0].target_tracking_scaling_policy_configuration).customized_metric_specification).metrics : m.id if m.return_data
    ] == ["backlog_per_task"]
    error_message = "The policy must track the metric-math expression, backlog per task."
  }

  assert {
    condition     = one(aws_appautoscaling_policy.backlog[0].target_tracking_scaling_policy_configuration).target_value == 2
    error_message = "The target must be the jobs per task."
  }

  assert {
    condition = (
      one(aws_appautoscaling_policy.scale_from_zero[0].step_scaling_policy_configuration).adjustment_type == "ChangeInCapacity"
      && [for s in one(aws_appautoscaling_policy.scale_from_zero[0].step_scaling_policy_configuration).step_adjustment : s.scaling_adjustment] == [1]
    )
    error_message = "The step policy must add one task."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.scale_from_zero[0].metric_name == "ApproximateNumberOfMessagesVisible"
      && aws_cloudwatch_metric_alarm.scale_from_zero[0].dimensions["QueueName"] == "fml-test-train"
      && aws_cloudwatch_metric_alarm.scale_from_zero[0].threshold == 0
      && aws_cloudwatch_metric_alarm.scale_from_zero[0].comparison_operator == "GreaterThanThreshold"
    )
    error_message = "The step policy must fire as soon as a message waits on the queue."
  }

  assert {
    condition     = keys(output.scaling_policies) == ["backlog", "scale_from_zero"] && output.autoscaling_capacity.min == 0
    error_message = "A worker has the backlog and scale-from-zero policies, from 0 tasks."
  }
}

run "rejects_api_scaling_to_zero" {
  command = plan

  variables {
    container_port = 8081
    autoscaling = {
      min_capacity = 0
      max_capacity = 2
      cpu_target   = 60
    }
  }

  expect_failures = [var.autoscaling]
}

run "rejects_two_scaling_metrics" {
  command = plan

  variables {
    autoscaling = {
      min_capacity = 1
      max_capacity = 2
      cpu_target   = 60
      queue        = { name = "fml-test-train" }
    }
  }

  expect_failures = [var.autoscaling]
}

run "rejects_stop_timeout_over_fargate_limit" {
  command = plan

  variables {
    stop_timeout_seconds = 121
  }

  expect_failures = [var.stop_timeout_seconds]
}

run "rejects_memory_not_matching_cpu" {
  command = plan

  variables {
    cpu    = 256
    memory = 4096
  }

  expect_failures = [aws_ecs_task_definition.this]
}
