locals {
  # The services, their ports and the routes each one serves (README, docs/aws.md). One internal
  # ALB with a listener per service (on the service's port): API Gateway sends each route to
  # its service's listener, so no path rule is written twice. The routes are Flask's, in API
  # Gateway's form: tests/terraform/test_api_routes.py compares them with each app's url_map.
  services = {
    trainer = {
      port = 8081
      routes = [
        "POST /models/{model}/train",
        "GET /models",
        "GET /models/{model}/versions",
        "GET /models/{model}/versions/{version}",
        "GET /models/{model}/aliases",
        "PUT /models/{model}/aliases/{alias}",
        "DELETE /models/{model}/aliases/{alias}",
        "GET /models/{model}/aliases/{alias}/history",
        "POST /models/{model}/rollback",
        "GET /training-jobs/{job_id}",
      ]
    }
    predictor = {
      port = 8080
      routes = [
        "POST /models/{model}/predict",
        "GET /models/{model}/shadow-report",
        "GET /predictions/{prediction_id}",
        "GET /prediction-jobs/{job_id}",
      ]
    }
  }

  # Which queue each worker consumes.
  worker_queue = {
    trainer   = "train"
    predictor = "predict"
  }

  # What every container learns from the stack (fmlcore/core/settings.py reads these).
  stack_env = {
    FML_TARGET                    = "aws"
    AWS_REGION                    = var.region
    FML_LOG_LEVEL                 = var.log_level
    FML_DATASETS_BUCKET           = module.platform.buckets.datasets
    FML_MODELS_BUCKET             = module.platform.buckets.models
    FML_INFERENCE_BUCKET          = module.platform.buckets.inference
    FML_PREDICTIONS_BUCKET        = module.platform.buckets.predictions
    FML_TRAIN_QUEUE_URL           = module.platform.queues.train
    FML_PREDICT_QUEUE_URL         = module.platform.queues.predict
    FML_TRAIN_DLQ_URL             = module.platform.queues.train_dlq
    FML_PREDICT_DLQ_URL           = module.platform.queues.predict_dlq
    FML_WORKER_VISIBILITY_TIMEOUT = tostring(var.worker_visibility_timeout_seconds)
    FML_SYNC_TRAIN_MAX_SECONDS    = tostring(var.sync_train_max_seconds)
    FML_EVENTS_TOPIC_ARN          = module.platform.events_topic_arn
    FML_METRICS_NAMESPACE         = local.metrics_namespace
  }

  # The workers' job metrics (CloudWatch Embedded Metric Format log lines) land here; the
  # dashboard below reads them.
  metrics_namespace = "fargate-ml/${module.platform.name}"

  # The largest file a worker reads whole follows its task's size: the trainer holds a dataset
  # in memory (a frame and XGBoost's matrix take several times the file: an eighth of the
  # task's memory); the predictor copies a Parquet file to its ephemeral storage (half of it;
  # Fargate gives 20 GiB unless more is asked for).
  #
  # The trainer worker is also the Dask client of the Dask cluster (below): it scales the two
  # services named in FML_DASK_ECS_SERVICES (scheduler first) of FML_DASK_ECS_CLUSTER up for
  # a job, the workers to FML_DASK_WORKERS tasks, connects to FML_DASK_SCHEDULER, and scales
  # both back to 0 after.
  worker_env = {
    trainer = merge(local.stack_env, {
      FML_MAX_DATASET_BYTES = tostring(floor(var.workers.trainer.memory * 1048576 / 8))
      FML_DASK_SCHEDULER    = module.dask_cluster.scheduler_address
      FML_DASK_ECS_CLUSTER  = module.ecs_cluster.name
      FML_DASK_ECS_SERVICES = join(",", [module.dask_cluster.service_names.scheduler, module.dask_cluster.service_names.worker])
      FML_DASK_WORKERS      = tostring(module.dask_cluster.worker_count)
    })
    predictor = merge(local.stack_env, {
      FML_MAX_DATASET_BYTES = tostring(coalesce(var.workers.predictor.ephemeral_storage_gib, 20) * 536870912)
    })
  }

  # The trainer worker streams datasets to its disk (and may use XGBoost's external memory
  # there); the predictor copies Parquet files to it.
  worker_ephemeral_storage_gib = {
    trainer   = var.trainer_worker_ephemeral_storage_gib
    predictor = var.workers.predictor.ephemeral_storage_gib
  }

  # What the Dask scheduler and workers learn: where they run and the datasets bucket they
  # read partitions from (their role may read nothing else).
  dask_env = {
    FML_TARGET          = "aws"
    AWS_REGION          = var.region
    FML_LOG_LEVEL       = var.log_level
    FML_DATASETS_BUCKET = module.platform.buckets.datasets
  }

  api_env = {
    for name, svc in local.services : name => merge(local.stack_env, {
      FML_BIND        = "0.0.0.0:${svc.port}"
      FML_WEB_WORKERS = tostring(var.api_services[name].web_workers)
      FML_WEB_THREADS = tostring(var.api_services[name].web_threads)
    })
  }
}

# ---------------------------------------------------------------------------- network and cluster
module "network" {
  source = "../../modules/network"

  name                    = module.platform.name
  cidr_block              = var.vpc_cidr
  azs                     = local.azs
  nat_gateway             = var.nat_gateway
  flow_log_retention_days = var.log_retention_days
  # The AWS APIs the tasks call without NAT (S3 has its gateway endpoint): the network
  # module's defaults, plus ecs for the trainer worker scaling the Dask services.
  interface_endpoints = ["sqs", "ecr.api", "ecr.dkr", "logs", "sts", "ecs"]

  tags = module.platform.tags
}

module "ecs_cluster" {
  source = "../../modules/ecs_cluster"

  name                  = module.platform.name
  ecr_repository_arns   = [for repo in module.ecr : repo.arn]
  log_group_name_prefix = "/ecs/${module.platform.name}-"

  tags = module.platform.tags
}

module "ecr" {
  source   = "../../modules/ecr"
  for_each = local.services

  name         = "${module.platform.name}/${each.key}"
  force_delete = var.force_destroy

  tags = module.platform.tags
}

# ---------------------------------------------------------------------------- online path
module "alb" {
  source = "../../modules/alb"

  name                       = module.platform.name
  vpc_id                     = module.network.vpc_id
  vpc_cidr_block             = module.network.cidr_block
  subnet_ids                 = module.network.private_subnet_ids
  services                   = { for name, svc in local.services : name => { port = svc.port } }
  ingress_security_group_ids = [module.api_gateway.vpc_link_security_group_id]
  idle_timeout_seconds       = var.alb_idle_timeout_seconds
  certificate_arn            = try(var.alb_tls.certificate_arn, null)

  tags = module.platform.tags
}

module "api_gateway" {
  source = "../../modules/api_gateway"

  name                      = module.platform.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  target_security_group_id  = module.alb.security_group_id
  tls_server_name           = try(var.alb_tls.server_name, null)
  jwt_authorizer            = var.jwt_authorizer
  throttling_rate_limit     = var.api_throttling.rate_limit
  throttling_burst_limit    = var.api_throttling.burst_limit
  access_log_retention_days = var.log_retention_days

  integrations = {
    for name, svc in local.services : name => {
      listener_arn = module.alb.listener_arns[name]
      port         = svc.port
      routes       = svc.routes
    }
  }

  tags = module.platform.tags
}

module "api" {
  source   = "../../modules/ecs_service"
  for_each = local.services

  name               = "${module.platform.name}-${each.key}-api"
  cluster_name       = module.ecs_cluster.name
  cluster_arn        = module.ecs_cluster.arn
  image              = "${module.ecr[each.key].url}:${var.image_tags[each.key]}"
  cpu                = var.api_services[each.key].cpu
  memory             = var.api_services[each.key].memory
  environment        = local.api_env[each.key]
  container_port     = each.value.port
  execution_role_arn = module.ecs_cluster.execution_role_arn
  task_role_arn      = module.platform.roles["${each.key}_api"]
  log_retention_days = var.log_retention_days
  # ALB deregistration (30 s) happens before SIGTERM; then gunicorn's 30 s graceful timeout.
  stop_timeout_seconds = 40

  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  ingress_security_group_ids = [module.alb.security_group_id]
  capacity_provider_strategy = [{ capacity_provider = "FARGATE" }]
  desired_count              = var.api_services[each.key].min_count

  load_balancer = {
    target_group_arn = module.alb.target_group_arns[each.key]
  }

  autoscaling = {
    min_capacity                 = var.api_services[each.key].min_count
    max_capacity                 = var.api_services[each.key].max_count
    cpu_target                   = var.api_services[each.key].scale_on == "cpu" ? var.api_services[each.key].target_value : null
    requests_per_target          = var.api_services[each.key].scale_on == "requests" ? var.api_services[each.key].target_value : null
    request_count_resource_label = module.alb.request_count_resource_labels[each.key]
  }

  tags = module.platform.tags
}

# ---------------------------------------------------------------------------- batch path
module "worker" {
  source   = "../../modules/ecs_service"
  for_each = local.services

  name               = "${module.platform.name}-${each.key}-worker"
  cluster_name       = module.ecs_cluster.name
  cluster_arn        = module.ecs_cluster.arn
  image              = "${module.ecr[each.key].url}:${var.image_tags[each.key]}"
  command            = ["python", "-m", "${each.key}.worker"]
  cpu                = var.workers[each.key].cpu
  memory             = var.workers[each.key].memory
  environment        = local.worker_env[each.key]
  execution_role_arn = module.ecs_cluster.execution_role_arn
  task_role_arn      = module.platform.roles["${each.key}_worker"]
  log_retention_days = var.log_retention_days
  # On SIGTERM (scale-in, deployment, Spot reclaim) a worker finishes or releases its job.
  stop_timeout_seconds  = 120
  ephemeral_storage_gib = local.worker_ephemeral_storage_gib[each.key]

  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  capacity_provider_strategy = [{ capacity_provider = var.workers[each.key].spot ? "FARGATE_SPOT" : "FARGATE" }]
  desired_count              = 0

  autoscaling = {
    min_capacity = 0
    max_capacity = var.workers[each.key].max_count
    queue = {
      name             = module.platform.queue_names[local.worker_queue[each.key]]
      backlog_per_task = var.workers[each.key].backlog_per_task
    }
  }

  tags = module.platform.tags
}

# ---------------------------------------------------------------------------- distributed training
# A Dask cluster for the trainer worker's large datasets (xgboost.dask): a scheduler and
# worker service at 0 tasks at rest, which the trainer worker scales up for a job and back
# to 0 after (docs/aws.md, "Distributed training (Dask)"). The trainer's image runs both.
module "dask_cluster" {
  source = "../../modules/dask_cluster"

  name               = "${module.platform.name}-dask"
  cluster_name       = module.ecs_cluster.name
  cluster_arn        = module.ecs_cluster.arn
  image              = "${module.ecr["trainer"].url}:${var.image_tags.trainer}"
  execution_role_arn = module.ecs_cluster.execution_role_arn
  task_role_arn      = module.platform.dask_role_arn
  environment        = local.dask_env
  log_retention_days = var.log_retention_days

  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  namespace_name            = "dask.${module.platform.name}.internal"
  client_security_group_ids = [module.worker["trainer"].security_group_id]

  scheduler_cpu                = var.dask.scheduler_cpu
  scheduler_memory             = var.dask.scheduler_memory
  worker_cpu                   = var.dask.worker_cpu
  worker_memory                = var.dask.worker_memory
  worker_count                 = var.dask.worker_count
  worker_ephemeral_storage_gib = var.dask.worker_ephemeral_storage_gib
  worker_spot                  = var.dask.worker_spot

  tags = module.platform.tags
}

# ---------------------------------------------------------------------------- alarms
module "alarms" {
  source = "../../modules/alarms"

  name                 = module.platform.name
  dead_letter_queues   = module.platform.dead_letter_queue_names
  dead_letter_function = module.platform.dead_letter_function
  function_names       = merge(module.platform.functions, { dead_letter = module.platform.dead_letter_function })
  api_target_groups = {
    for name in keys(local.services) : name => {
      load_balancer = module.alb.arn_suffix
      target_group  = module.alb.target_group_arn_suffixes[name]
    }
  }
  alarm_topic_arn = var.alarm_topic_arn

  tags = module.platform.tags
}

# ---------------------------------------------------------------------------- dashboard
module "dashboard" {
  source = "../../modules/dashboard"

  name               = module.platform.name
  region             = var.region
  metrics_namespace  = local.metrics_namespace
  job_queues         = module.platform.queue_names
  dead_letter_queues = module.platform.dead_letter_queue_names
  load_balancer      = module.alb.arn_suffix
  api_target_groups  = module.alb.target_group_arn_suffixes
  cluster_name       = module.ecs_cluster.name
  service_names = merge(
    { for name, svc in module.api : "${name}-api" => svc.name },
    { for name, svc in module.worker : "${name}-worker" => svc.name },
  )
}
