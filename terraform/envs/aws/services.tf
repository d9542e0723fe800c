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
  }

  # The largest file a worker reads whole follows its task's size: the trainer holds a dataset
  # in memory (a frame and XGBoost's matrix take several times the file: an eighth of the
  # task's memory); the predictor copies a Parquet file to its ephemeral storage (half of it;
  # Fargate gives 20 GiB unless more is asked for).
  worker_env = {
    trainer = merge(local.stack_env, {
      FML_MAX_DATASET_BYTES = tostring(floor(var.workers.trainer.memory * 1048576 / 8))
    })
    predictor = merge(local.stack_env, {
      FML_MAX_DATASET_BYTES = tostring(coalesce(var.workers.predictor.ephemeral_storage_gib, 20) * 536870912)
    })
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
  ephemeral_storage_gib = var.workers[each.key].ephemeral_storage_gib

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
