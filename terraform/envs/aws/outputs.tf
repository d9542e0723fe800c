output "api_url" {
  description = "Base URL of the HTTP API (routes need SigV4-signed requests, service execute-api)."
  value       = module.api_gateway.api_endpoint
}

output "api_execution_arn" {
  description = "Execution ARN of the API: grant callers execute-api:Invoke on \"<arn>/*\" (or narrower routes)."
  value       = module.api_gateway.execution_arn
}

output "api_routes" {
  description = "Service serving each API route."
  value       = module.api_gateway.routes
}

output "alb_dns_name" {
  description = "DNS name of the internal ALB (one listener per service; resolvable inside the VPC only)."
  value       = module.alb.dns_name
}

output "service_urls" {
  description = "Internal base URLs of the services on the ALB, by service (inside the VPC only)."
  value       = module.alb.urls
}

output "ecr_repository_urls" {
  description = "ECR repository URLs by image: trainer, predictor (docker push <url>:<tag>)."
  value       = { for name, repo in module.ecr : name => repo.url }
}

output "ecr_registry" {
  description = "ECR registry host of the repositories (for docker login)."
  value       = split("/", module.ecr["trainer"].url)[0]
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = module.ecs_cluster.name
}

output "ecs_services" {
  description = "ECS service names: trainer_api, predictor_api, trainer_worker, predictor_worker, dask_scheduler, dask_worker."
  value = merge(
    { for name, svc in module.api : "${name}_api" => svc.name },
    { for name, svc in module.worker : "${name}_worker" => svc.name },
    { for name, svc in module.dask_cluster.service_names : "dask_${name}" => svc },
  )
}

output "log_groups" {
  description = "CloudWatch log groups of the services and workers, of the Dask cluster, and of the API's access logs."
  value = merge(
    { for name, svc in module.api : "${name}_api" => svc.log_group_name },
    { for name, svc in module.worker : "${name}_worker" => svc.log_group_name },
    { for name, group in module.dask_cluster.log_group_names : "dask_${name}" => group },
    { api_access = module.api_gateway.access_log_group_name },
  )
}

output "dask_scheduler_address" {
  description = "Address of the Dask scheduler inside the VPC (tcp://scheduler.<namespace>:8786), the trainer worker's FML_DASK_SCHEDULER; it answers only while the trainer worker has scaled the cluster up."
  value       = module.dask_cluster.scheduler_address
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms: subscribe to it (aws sns subscribe --protocol email ...)."
  value       = module.alarms.topic_arn
}

# The data plane's outputs (buckets, queues, roles, ...) are the platform module's, exposed
# as envs/local exposes them: platform_outputs.tf is a link to envs/local/outputs.tf.

output "dashboard_name" {
  description = "CloudWatch dashboard of the stack: job outcomes, durations, queue waits and rows (the workers' EMF metrics), queue depths, API requests and latency, service CPU and memory."
  value       = module.dashboard.name
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the workers' job metrics (dimension Kind: train, predict)."
  value       = local.metrics_namespace
}
