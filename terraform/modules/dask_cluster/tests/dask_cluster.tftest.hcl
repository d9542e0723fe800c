mock_provider "aws" {
  source = "../../tests/mocks"
}

# The groups and Cloud Map IDs are only known after apply: these fixed values let the plan
# show which group each rule opens, and to whom.
override_resource {
  target          = module.scheduler.aws_security_group.this
  override_during = plan
  values          = { id = "sg-0000000000005c4ed" }
}

override_resource {
  target          = module.worker.aws_security_group.this
  override_during = plan
  values          = { id = "sg-000000000000000d0" }
}

override_resource {
  target          = aws_service_discovery_private_dns_namespace.this
  override_during = plan
  values          = { id = "ns-0123456789abcdef" }
}

override_resource {
  target          = aws_service_discovery_service.scheduler
  override_during = plan
  values          = { arn = "arn:aws:servicediscovery:us-east-1:111122223333:service/srv-0123456789abcdef" }
}

variables {
  name                      = "fml-test-dask"
  cluster_name              = "fml-test"
  cluster_arn               = "arn:aws:ecs:us-east-1:111122223333:cluster/fml-test"
  image                     = "111122223333.dkr.ecr.us-east-1.amazonaws.com/fml-test/trainer:abc123"
  execution_role_arn        = "arn:aws:iam::111122223333:role/fml-test-task-execution"
  task_role_arn             = "arn:aws:iam::111122223333:role/fml-test-dask"
  vpc_id                    = "vpc-00000000000000000"
  subnet_ids                = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  client_security_group_ids = ["sg-0000000000000c1e0"]
  namespace_name            = "dask.fml-test.internal"
  environment = {
    FML_TARGET = "aws"
  }
}

run "scheduler_and_workers_at_rest" {
  command = plan

  assert {
    condition = (
      output.service_names == { scheduler = "fml-test-dask-scheduler", worker = "fml-test-dask-worker" }
      && module.scheduler.name == output.service_names.scheduler && module.worker.name == output.service_names.worker
    )
    error_message = "The services must be <name>-scheduler and <name>-worker, the names service_names announces."
  }

  assert {
    condition     = output.desired_counts == { scheduler = 0, worker = 0 }
    error_message = "Both services must rest at 0 tasks (the client scales them)."
  }

  assert {
    condition     = output.assign_public_ip == { scheduler = false, worker = false }
    error_message = "No Dask task may get a public IP."
  }

  assert {
    condition     = output.commands.scheduler == ["dask", "scheduler", "--port", "8786"]
    error_message = "The scheduler must listen on 8786."
  }

  assert {
    condition     = output.commands.worker == ["dask", "worker", "tcp://scheduler.dask.fml-test.internal:8786", "--nworkers", "1", "--nthreads", "4"]
    error_message = "Each worker task must run one Dask worker with a thread per vCPU, connected to the scheduler's stable name."
  }

  assert {
    condition     = output.scheduler_dns_name == "scheduler.dask.fml-test.internal" && output.scheduler_address == "tcp://scheduler.dask.fml-test.internal:8786"
    error_message = "The scheduler must answer at scheduler.<namespace>:8786."
  }

  assert {
    condition = (
      aws_service_discovery_private_dns_namespace.this.name == var.namespace_name
      && aws_service_discovery_private_dns_namespace.this.vpc == var.vpc_id
      && aws_service_discovery_service.scheduler.name == "scheduler"
      && one(aws_service_discovery_service.scheduler.dns_config).namespace_id == "ns-0123456789abcdef"
      && [for r in one(aws_service_discovery_service.scheduler.dns_config).dns_records : r.type] == ["A"]
    )
    error_message = "The scheduler's name must be an A record in a private namespace of the VPC."
  }

  assert {
    condition     = module.scheduler.service_registry_arns == [aws_service_discovery_service.scheduler.arn] && module.worker.service_registry_arns == []
    error_message = "The scheduler's tasks, and only them, must register in Cloud Map."
  }

  assert {
    condition     = module.worker.ephemeral_storage_gib == 50 && module.scheduler.ephemeral_storage_gib == null
    error_message = "Workers get 50 GiB of ephemeral storage by default (spilled partitions); the scheduler keeps Fargate's default."
  }

  assert {
    condition     = output.log_group_names == { scheduler = "/ecs/fml-test-dask-scheduler", worker = "/ecs/fml-test-dask-worker" }
    error_message = "Each service must log to its own /ecs/<service> group."
  }

  # Every rule the module writes, by its key: "<group> <- <source>" (ingress) and
  # "<group> -> <destination>" (egress), "<protocol> <from>-<to>".
  assert {
    condition = { for k, r in aws_vpc_security_group_ingress_rule.dask : k => "${r.security_group_id} <- ${r.referenced_security_group_id} ${r.ip_protocol} ${r.from_port}-${r.to_port}" } == {
      client_0_to_scheduler = "sg-0000000000005c4ed <- sg-0000000000000c1e0 tcp 8786-8786"
      workers_to_scheduler  = "sg-0000000000005c4ed <- sg-000000000000000d0 tcp 0-65535"
      scheduler_to_workers  = "sg-000000000000000d0 <- sg-0000000000005c4ed tcp 0-65535"
      workers_to_workers    = "sg-000000000000000d0 <- sg-000000000000000d0 tcp 0-65535"
      client_0_to_workers   = "sg-000000000000000d0 <- sg-0000000000000c1e0 tcp 0-65535"
    }
    error_message = "Scheduler: 8786 from the clients, any TCP from the workers (tracker); workers: any TCP from the scheduler, each other and the clients. Nothing else."
  }

  assert {
    condition = { for k, r in aws_vpc_security_group_egress_rule.dask : k => "${r.security_group_id} -> ${r.referenced_security_group_id} ${r.ip_protocol} ${r.from_port}-${r.to_port}" } == {
      client_0_to_scheduler = "sg-0000000000000c1e0 -> sg-0000000000005c4ed tcp 8786-8786"
      client_0_to_workers   = "sg-0000000000000c1e0 -> sg-000000000000000d0 tcp 0-65535"
      scheduler_to_workers  = "sg-0000000000005c4ed -> sg-000000000000000d0 tcp 0-65535"
      workers_to_scheduler  = "sg-000000000000000d0 -> sg-0000000000005c4ed tcp 0-65535"
      workers_to_workers    = "sg-000000000000000d0 -> sg-000000000000000d0 tcp 0-65535"
    }
    error_message = "The egress must mirror the ingress: clients to the scheduler's 8786 and the workers, scheduler and workers to each other."
  }

  assert {
    condition = alltrue([
      for r in concat(values(aws_vpc_security_group_ingress_rule.dask), values(aws_vpc_security_group_egress_rule.dask)) :
      r.cidr_ipv4 == null && r.cidr_ipv6 == null && r.prefix_list_id == null && can(regex("^sg-", r.referenced_security_group_id))
    ])
    error_message = "Every Dask rule must name a security group, never a CIDR block or prefix list."
  }

  assert {
    condition = (
      { for k, r in aws_vpc_security_group_ingress_rule.dask : k => r.description } == {
        client_0_to_scheduler = "Dask scheduler (8786) from a Dask client"
        client_0_to_workers   = "Any TCP port from a Dask client"
        scheduler_to_workers  = "Any TCP port from the Dask scheduler"
        workers_to_scheduler  = "Dask scheduler (8786) and XGBoost tracker (ephemeral port) from the Dask workers"
        workers_to_workers    = "Any TCP port from the other Dask workers (transfers, XGBoost collective)"
      }
      && { for k, r in aws_vpc_security_group_egress_rule.dask : k => r.description } == {
        client_0_to_scheduler = "Dask scheduler of fml-test-dask (8786)"
        client_0_to_workers   = "Dask workers of fml-test-dask (any TCP port)"
        scheduler_to_workers  = "Dask workers and nannies (any TCP port)"
        workers_to_scheduler  = "Dask scheduler (8786) and XGBoost tracker (ephemeral port)"
        workers_to_workers    = "The other Dask workers (transfers, XGBoost collective)"
      }
    )
    error_message = "Each rule must say what it opens, and to whom."
  }
}

run "bigger_workers_and_two_clients" {
  command = plan

  variables {
    worker_cpu                   = 8192
    worker_memory                = 32768
    worker_count                 = 10
    worker_ephemeral_storage_gib = 200
    worker_spot                  = true
    client_security_group_ids    = ["sg-0000000000000c1e0", "sg-0000000000000c1e1"]
  }

  assert {
    condition     = output.commands.worker[5] == "--nthreads" && output.commands.worker[6] == "8" && output.worker_threads == 8
    error_message = "--nthreads must follow the worker's vCPUs."
  }

  assert {
    condition     = output.worker_count == 10 && module.worker.ephemeral_storage_gib == 200 && output.desired_counts.worker == 0
    error_message = "The worker count is the client's target; the service still rests at 0."
  }

  assert {
    condition = (
      tolist([for i in range(2) : aws_vpc_security_group_ingress_rule.dask["client_${i}_to_scheduler"].referenced_security_group_id]) == var.client_security_group_ids
      && tolist([for i in range(2) : aws_vpc_security_group_ingress_rule.dask["client_${i}_to_workers"].referenced_security_group_id]) == var.client_security_group_ids
      && tolist([for i in range(2) : aws_vpc_security_group_egress_rule.dask["client_${i}_to_scheduler"].security_group_id]) == var.client_security_group_ids
      && tolist([for i in range(2) : aws_vpc_security_group_egress_rule.dask["client_${i}_to_workers"].security_group_id]) == var.client_security_group_ids
      && length(aws_vpc_security_group_ingress_rule.dask) == 7 && length(aws_vpc_security_group_egress_rule.dask) == 7
    )
    error_message = "Each client group must reach the scheduler and the workers."
  }
}

run "rejects_a_worker_below_one_vcpu" {
  command = plan

  variables {
    worker_cpu    = 512
    worker_memory = 2048
  }

  expect_failures = [var.worker_cpu]
}

run "rejects_zero_workers" {
  command = plan

  variables {
    worker_count = 0
  }

  expect_failures = [var.worker_count]
}

run "rejects_ephemeral_storage_out_of_range" {
  command = plan

  variables {
    worker_ephemeral_storage_gib = 201
  }

  expect_failures = [var.worker_ephemeral_storage_gib]
}

run "rejects_a_cidr_as_client" {
  command = plan

  variables {
    client_security_group_ids = ["0.0.0.0/0"]
  }

  expect_failures = [var.client_security_group_ids]
}

run "rejects_a_namespace_that_is_no_dns_name" {
  command = plan

  variables {
    namespace_name = "Dask_Namespace"
  }

  expect_failures = [var.namespace_name]
}
