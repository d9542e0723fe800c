mock_provider "aws" {}

variables {
  name = "fml-test"
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
