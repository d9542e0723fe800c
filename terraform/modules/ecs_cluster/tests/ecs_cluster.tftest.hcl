mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                  = "fml-test"
  ecr_repository_arns   = ["arn:aws:ecr:us-east-1:111122223333:repository/fml-test/trainer", "arn:aws:ecr:us-east-1:111122223333:repository/fml-test/predictor"]
  log_group_name_prefix = "/ecs/fml-test-"
}

run "fargate_and_spot_with_container_insights" {
  command = plan

  assert {
    condition     = aws_ecs_cluster.this.name == "fml-test"
    error_message = "The cluster name must come from var.name."
  }

  assert {
    condition     = anytrue([for s in aws_ecs_cluster.this.setting : s.name == "containerInsights" && s.value == "enabled"])
    error_message = "Container Insights must be enabled by default (the workers' scaling reads RunningTaskCount)."
  }

  assert {
    condition     = aws_ecs_cluster_capacity_providers.this.capacity_providers == toset(["FARGATE", "FARGATE_SPOT"])
    error_message = "Both FARGATE and FARGATE_SPOT must be available."
  }

  assert {
    condition     = one(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy).capacity_provider == "FARGATE"
    error_message = "The default strategy must be on-demand FARGATE."
  }
}

run "custom_strategy" {
  command = plan

  variables {
    container_insights = "enhanced"
    default_capacity_provider_strategy = [
      { capacity_provider = "FARGATE", base = 1, weight = 1 },
      { capacity_provider = "FARGATE_SPOT", weight = 3 },
    ]
  }

  assert {
    condition     = length(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy) == 2
    error_message = "Both strategy entries must be set."
  }

  assert {
    condition     = anytrue([for s in aws_ecs_cluster.this.setting : s.value == "enhanced"])
    error_message = "Container Insights must follow the variable."
  }
}

run "rejects_ec2_capacity_provider" {
  command = plan

  variables {
    default_capacity_provider_strategy = [{ capacity_provider = "EC2" }]
  }

  expect_failures = [var.default_capacity_provider_strategy]
}

run "execution_role_pulls_images_and_writes_logs_only" {
  command = plan

  assert {
    condition     = aws_iam_role.execution.name == "fml-test-task-execution"
    error_message = "The execution role must be named <name>-task-execution."
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
    ]) == toset(["arn:aws:logs:us-east-1:111122223333:log-group:/ecs/fml-test-*:*"])
    error_message = "The execution role may write the services' log groups only."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.execution_trust.statement : anytrue([
        for c in s.condition : c.variable == "aws:SourceAccount" && contains(c.values, "111122223333")
      ])
    ])
    error_message = "Only this account's ECS tasks may assume the execution role."
  }
}

run "rejects_wildcard_repository" {
  command = plan

  variables {
    ecr_repository_arns = ["*"]
  }

  expect_failures = [var.ecr_repository_arns]
}
