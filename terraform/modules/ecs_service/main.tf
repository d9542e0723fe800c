data "aws_region" "current" {}

locals {
  container_name = "app"
  is_api         = var.container_port != null
  scaling        = var.autoscaling
  queue          = try(var.autoscaling.queue, null)

  container = merge(
    {
      name      = local.container_name
      image     = var.image
      essential = true
      # Sorted, so the rendered definition (and the task revision) only changes with the values.
      environment = [for k in sort(keys(var.environment)) : { name = k, value = var.environment[k] }]
      # The app must finish or release its work between SIGTERM and SIGKILL.
      stopTimeout            = var.stop_timeout_seconds
      readonlyRootFilesystem = false
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = data.aws_region.current.name
          awslogs-stream-prefix = local.container_name
        }
      }
      portMappings = local.is_api ? [{ containerPort = var.container_port, protocol = "tcp" }] : []
    },
    var.command == null ? {} : { command = var.command },
  )

  # Application Auto Scaling addresses the service by cluster and service name.
  resource_id = "service/${var.cluster_name}/${var.name}"
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:Application logs carry request and job ids, no secrets; CloudWatch Logs encrypts them at rest with a service key.
  #checkov:skip=CKV_AWS_338:Retention is the caller's choice (log_retention_days); operational logs need weeks, not a year.
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days

  tags = var.tags
}

# ---------------------------------------------------------------------------- network
resource "aws_security_group" "this" {
  name        = "${var.name}-task"
  description = "Tasks of ${var.name}: ${local.is_api ? "the container port from the load balancer, " : ""}HTTPS out to AWS APIs"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-task" })
}

# Keyed by position: the group IDs may only be known after apply.
resource "aws_vpc_security_group_ingress_rule" "container_port" {
  for_each = local.is_api ? { for i, sg in var.ingress_security_group_ids : tostring(i) => sg } : {}

  security_group_id            = aws_security_group.this.id
  description                  = "Container port ${var.container_port} from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = each.value
}

# HTTPS only: the AWS APIs (through VPC endpoints, or NAT when there is one) and the S3
# gateway endpoint, whose addresses are S3's public ranges.
resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = toset(var.egress_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.key
}

# ---------------------------------------------------------------------------- task and service
resource "aws_ecs_task_definition" "this" {
  #checkov:skip=CKV_AWS_336:gunicorn keeps its control socket in the home directory and the workers spill batch files to /tmp; the image runs as the unprivileged user 10001, which owns nothing else.
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn
  container_definitions    = jsonencode([local.container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  dynamic "ephemeral_storage" {
    for_each = var.ephemeral_storage_gib == null ? [] : [var.ephemeral_storage_gib]

    content {
      size_in_gib = ephemeral_storage.value
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition = contains({
        "256"   = [512, 1024, 2048]
        "512"   = [for gb in range(1, 5) : gb * 1024]
        "1024"  = [for gb in range(2, 9) : gb * 1024]
        "2048"  = [for gb in range(4, 17) : gb * 1024]
        "4096"  = [for gb in range(8, 31) : gb * 1024]
        "8192"  = [for gb in range(16, 61, 4) : gb * 1024]
        "16384" = [for gb in range(32, 121, 8) : gb * 1024]
      }[tostring(var.cpu)], var.memory)
      error_message = "memory (MiB) is not a Fargate size for this cpu: 256 -> 512-2048, 512 -> 1-4 GiB, 1024 -> 2-8 GiB, 2048 -> 4-16 GiB, 4096 -> 8-30 GiB, 8192 -> 16-60 GiB in 4 GiB steps, 16384 -> 32-120 GiB in 8 GiB steps."
    }
  }
}

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = var.load_balancer == null ? null : var.load_balancer.health_check_grace_period_seconds
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  # A deployment whose tasks never become healthy is stopped and rolled back.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "capacity_provider_strategy" {
    for_each = var.capacity_provider_strategy

    content {
      capacity_provider = capacity_provider_strategy.value.capacity_provider
      weight            = capacity_provider_strategy.value.weight
      base              = capacity_provider_strategy.value.base
    }
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false
  }

  # awsvpc tasks register by IP: an A record per running task, removed when it stops.
  dynamic "service_registries" {
    for_each = var.service_registry_arn == null ? [] : [var.service_registry_arn]

    content {
      registry_arn = service_registries.value
    }
  }

  dynamic "load_balancer" {
    for_each = var.load_balancer == null ? [] : [var.load_balancer]

    content {
      target_group_arn = load_balancer.value.target_group_arn
      container_name   = local.container_name
      container_port   = var.container_port
    }
  }

  tags = var.tags

  lifecycle {
    # desired_count is the initial count; Application Auto Scaling owns it afterwards.
    ignore_changes = [desired_count]

    precondition {
      condition     = var.load_balancer == null || local.is_api
      error_message = "A service attached to a load balancer needs a container_port."
    }
  }
}

# ---------------------------------------------------------------------------- autoscaling
resource "aws_appautoscaling_target" "this" {
  count = local.scaling == null ? 0 : 1

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = local.resource_id
  min_capacity       = local.scaling.min_capacity
  max_capacity       = local.scaling.max_capacity

  tags = var.tags

  depends_on = [aws_ecs_service.this]
}

# API services: average CPU of the service's tasks ...
resource "aws_appautoscaling_policy" "cpu" {
  count = try(local.scaling.cpu_target, null) == null ? 0 : 1

  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = local.scaling.cpu_target
    scale_in_cooldown  = local.scaling.scale_in_cooldown_seconds
    scale_out_cooldown = local.scaling.scale_out_cooldown_seconds

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# ... or requests per task counted by the load balancer's target group.
resource "aws_appautoscaling_policy" "requests" {
  count = try(local.scaling.requests_per_target, null) == null ? 0 : 1

  name               = "${var.name}-requests-per-target"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = local.scaling.requests_per_target
    scale_in_cooldown  = local.scaling.scale_in_cooldown_seconds
    scale_out_cooldown = local.scaling.scale_out_cooldown_seconds

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = local.scaling.request_count_resource_label
    }
  }
}

# Queue workers: jobs per running task. Jobs are the visible messages plus those in flight
# (a job being worked on is invisible): counting only visible ones would scale a busy
# worker in, mid-job. Running tasks come from Container Insights; with none running the
# denominator is 1, so the metric is the backlog itself.
resource "aws_appautoscaling_policy" "backlog" {
  count = local.queue == null ? 0 : 1

  name               = "${var.name}-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = local.queue.backlog_per_task
    scale_in_cooldown  = local.scaling.scale_in_cooldown_seconds
    scale_out_cooldown = local.scaling.scale_out_cooldown_seconds

    customized_metric_specification {
      metrics {
        id          = "visible"
        label       = "Messages waiting"
        return_data = false

        metric_stat {
          stat = "Sum"

          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"

            dimensions {
              name  = "QueueName"
              value = local.queue.name
            }
          }
        }
      }

      metrics {
        id          = "in_flight"
        label       = "Messages being worked on"
        return_data = false

        metric_stat {
          stat = "Sum"

          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesNotVisible"

            dimensions {
              name  = "QueueName"
              value = local.queue.name
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "Running tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"

            dimensions {
              name  = "ClusterName"
              value = var.cluster_name
            }

            dimensions {
              name  = "ServiceName"
              value = var.name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_task"
        label       = "Jobs per running task"
        expression  = "(visible + in_flight) / IF(FILL(tasks, 0) >= 1, FILL(tasks, 0), 1)"
        return_data = true
      }
    }
  }
}

# Target tracking cannot scale out from zero tasks (there is no capacity to multiply): this
# step policy adds one task whenever messages are waiting. Auto Scaling alarm actions repeat
# every minute while the alarm lasts, so it also keeps adding tasks (up to max_capacity)
# while every worker is busy and work still waits; target tracking scales back in.
resource "aws_appautoscaling_policy" "scale_from_zero" {
  count = local.queue == null ? 0 : 1

  name               = "${var.name}-scale-from-zero"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = local.scaling.scale_out_cooldown_seconds
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = 1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "scale_from_zero" {
  count = local.queue == null ? 0 : 1

  alarm_name          = "${var.name}-messages-waiting"
  alarm_description   = "Messages wait on ${local.queue.name}: add a ${var.name} task (scales the workers out from zero)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = local.queue.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.scale_from_zero[0].arn]

  tags = var.tags
}
