# A Dask cluster on Fargate for the trainer worker's large datasets (xgboost.dask): a scheduler
# service and a worker service, both at 0 tasks at rest. The trainer worker (the Dask client)
# scales them up for a job (scheduler to 1, workers to worker_count) and back to 0 after;
# docs/aws.md, "Distributed training (Dask)", says why ECS services rather than a cluster
# launched per job. The scheduler has a stable name in a Cloud Map private DNS namespace.

locals {
  scheduler_port = 8786

  # Decided here from var.name alone, not read back from the services: the caller grants the
  # client ecs:UpdateService on these names through the role the tasks run under, so they
  # must be known before the services exist (tests/dask_cluster.tftest.hcl checks they match).
  service_names = {
    scheduler = "${var.name}-scheduler"
    worker    = "${var.name}-worker"
  }

  scheduler_dns_name = "scheduler.${var.namespace_name}"
  scheduler_address  = "tcp://${local.scheduler_dns_name}:${local.scheduler_port}"

  # One worker process per task, one thread per vCPU: XGBoost's threads are the parallelism
  # inside a task, Dask's workers the parallelism across tasks.
  worker_threads = floor(var.worker_cpu / 1024)
}

# ---------------------------------------------------------------------------- service discovery
resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = var.namespace_name
  description = "Private names of ${var.name}'s Dask services, resolvable inside the VPC only"
  vpc         = var.vpc_id

  tags = var.tags
}

# scheduler.<namespace>: an A record for the running scheduler task (none at rest). A short
# TTL, since the address changes with every scale-up.
resource "aws_service_discovery_service" "scheduler" {
  name          = "scheduler"
  description   = "The Dask scheduler of ${var.name} (port ${local.scheduler_port})"
  force_destroy = true

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  # ECS reports the task's health: the record exists while the task runs.
  health_check_custom_config {
    failure_threshold = 1
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------- services
module "scheduler" {
  source = "../ecs_service"

  name               = local.service_names.scheduler
  cluster_name       = var.cluster_name
  cluster_arn        = var.cluster_arn
  image              = var.image
  command            = ["dask", "scheduler", "--port", tostring(local.scheduler_port)]
  cpu                = var.scheduler_cpu
  memory             = var.scheduler_memory
  environment        = var.environment
  execution_role_arn = var.execution_role_arn
  task_role_arn      = var.task_role_arn
  log_retention_days = var.log_retention_days

  vpc_id               = var.vpc_id
  subnet_ids           = var.subnet_ids
  service_registry_arn = aws_service_discovery_service.scheduler.arn
  # Losing the scheduler loses the job: on-demand capacity only.
  capacity_provider_strategy = [{ capacity_provider = "FARGATE" }]
  # The client sets the count (ecs_service ignores later changes to it).
  desired_count = 0

  tags = var.tags
}

module "worker" {
  source = "../ecs_service"

  name         = local.service_names.worker
  cluster_name = var.cluster_name
  cluster_arn  = var.cluster_arn
  image        = var.image
  # Retries the scheduler's name until it resolves and answers: the two services may start in
  # any order.
  command = [
    "dask", "worker", local.scheduler_address,
    "--nworkers", "1",
    "--nthreads", tostring(local.worker_threads),
  ]
  cpu                   = var.worker_cpu
  memory                = var.worker_memory
  ephemeral_storage_gib = var.worker_ephemeral_storage_gib
  environment           = var.environment
  execution_role_arn    = var.execution_role_arn
  task_role_arn         = var.task_role_arn
  log_retention_days    = var.log_retention_days

  vpc_id                     = var.vpc_id
  subnet_ids                 = var.subnet_ids
  capacity_provider_strategy = [{ capacity_provider = var.worker_spot ? "FARGATE_SPOT" : "FARGATE" }]
  desired_count              = 0

  tags = var.tags
}

# ---------------------------------------------------------------------------- who reaches whom
# Every source is a security group, never a CIDR. ecs_service gives each group HTTPS out to
# the AWS APIs (S3 through its gateway endpoint, ECR, Logs); the rules below add the Dask
# traffic, ingress and egress alike.
#
#   client (trainer worker) ──8786──► scheduler          Dask comm
#   client (trainer worker) ──any───► workers            direct gather/scatter
#   workers ──any──► scheduler    8786, and XGBoost's tracker: xgboost.dask (3.x) starts it
#                                 in the scheduler's process (client.run_on_scheduler) on an
#                                 ephemeral port (coll_cfg tracker_port=0 by default)
#   scheduler ──any──► workers    the scheduler connects to each worker and its nanny
#   workers ──any──► workers      Dask transfers and XGBoost's collective (peer to peer)
#
# Nothing connects back into the clients' group: a Dask client listens on no port, and the
# tracker runs in the scheduler, not in the client.

locals {
  any_tcp       = { from_port = 0, to_port = 65535 }
  scheduler_tcp = { from_port = local.scheduler_port, to_port = local.scheduler_port }

  # The arrows above, one entry each: the connecting group (from), the group it connects to
  # (to), the TCP ports, and the description of either half. Each flow is an ingress rule on
  # `to` and the matching egress rule on `from` (the resources below). The workers listen on
  # ports Dask and XGBoost pick at start, hence any TCP port to them; the scheduler takes any
  # TCP port from the workers for 8786 and the tracker's ephemeral port. The clients' flows are
  # one per client group, keyed by position: the group IDs may only be known after apply.
  dask_flows = merge(
    {
      scheduler_to_workers = {
        from    = module.scheduler.security_group_id
        to      = module.worker.security_group_id
        ports   = local.any_tcp
        ingress = "Any TCP port from the Dask scheduler"
        egress  = "Dask workers and nannies (any TCP port)"
      }
      workers_to_scheduler = {
        from    = module.worker.security_group_id
        to      = module.scheduler.security_group_id
        ports   = local.any_tcp
        ingress = "Dask scheduler (${local.scheduler_port}) and XGBoost tracker (ephemeral port) from the Dask workers"
        egress  = "Dask scheduler (${local.scheduler_port}) and XGBoost tracker (ephemeral port)"
      }
      workers_to_workers = {
        from    = module.worker.security_group_id
        to      = module.worker.security_group_id
        ports   = local.any_tcp
        ingress = "Any TCP port from the other Dask workers (transfers, XGBoost collective)"
        egress  = "The other Dask workers (transfers, XGBoost collective)"
      }
    },
    # The clients' way in to the cluster, and out (their groups only allow HTTPS out otherwise).
    merge([for i, client in var.client_security_group_ids : {
      "client_${i}_to_scheduler" = {
        from    = client
        to      = module.scheduler.security_group_id
        ports   = local.scheduler_tcp
        ingress = "Dask scheduler (${local.scheduler_port}) from a Dask client"
        egress  = "Dask scheduler of ${var.name} (${local.scheduler_port})"
      }
      "client_${i}_to_workers" = {
        from    = client
        to      = module.worker.security_group_id
        ports   = local.any_tcp
        ingress = "Any TCP port from a Dask client"
        egress  = "Dask workers of ${var.name} (any TCP port)"
      }
    }]...),
  )
}

resource "aws_vpc_security_group_ingress_rule" "dask" {
  #checkov:skip=CKV_AWS_24:The source is a security group (referenced_security_group_id), never 0.0.0.0/0; the check reads only CIDRs and source_security_group_id on this resource type.
  #checkov:skip=CKV_AWS_25:As CKV_AWS_24: the only source is a security group of the stack.
  #checkov:skip=CKV_AWS_260:As CKV_AWS_24: the only source is a security group of the stack.
  for_each = local.dask_flows

  security_group_id            = each.value.to
  referenced_security_group_id = each.value.from
  description                  = each.value.ingress
  ip_protocol                  = "tcp"
  from_port                    = each.value.ports.from_port
  to_port                      = each.value.ports.to_port
}

resource "aws_vpc_security_group_egress_rule" "dask" {
  for_each = local.dask_flows

  security_group_id            = each.value.from
  referenced_security_group_id = each.value.to
  description                  = each.value.egress
  ip_protocol                  = "tcp"
  from_port                    = each.value.ports.from_port
  to_port                      = each.value.ports.to_port
}
