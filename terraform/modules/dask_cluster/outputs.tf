output "service_names" {
  description = "ECS service names: scheduler, worker (from var.name alone, so callers may grant on them before the services exist)."
  value       = local.service_names
}

output "scheduler_dns_name" {
  description = "Stable DNS name of the scheduler inside the VPC: scheduler.<namespace_name>."
  value       = local.scheduler_dns_name
}

output "scheduler_address" {
  description = "Address a Dask client connects to: tcp://scheduler.<namespace_name>:8786."
  value       = local.scheduler_address
}

output "namespace_id" {
  description = "ID of the Cloud Map private DNS namespace."
  value       = aws_service_discovery_private_dns_namespace.this.id
}

output "scheduler_registry_arn" {
  description = "ARN of the Cloud Map service the scheduler task registers in."
  value       = aws_service_discovery_service.scheduler.arn
}

output "worker_count" {
  description = "Worker tasks a Dask job runs on (what the client scales the worker service to)."
  value       = var.worker_count
}

output "worker_threads" {
  description = "Threads of each Dask worker (--nthreads): the task's vCPUs."
  value       = local.worker_threads
}

output "security_group_ids" {
  description = "Security group IDs of the tasks: scheduler, worker."
  value = {
    scheduler = module.scheduler.security_group_id
    worker    = module.worker.security_group_id
  }
}

output "log_group_names" {
  description = "CloudWatch log groups of the services: scheduler, worker."
  value = {
    scheduler = module.scheduler.log_group_name
    worker    = module.worker.log_group_name
  }
}

output "commands" {
  description = "Container commands of the services: scheduler, worker."
  value = {
    scheduler = module.scheduler.command
    worker    = module.worker.command
  }
}

output "desired_counts" {
  description = "Task counts the services are created with (0: the client scales them): scheduler, worker."
  value = {
    scheduler = module.scheduler.desired_count
    worker    = module.worker.desired_count
  }
}

output "assign_public_ip" {
  description = "Whether the tasks get a public IP, by service (always false)."
  value = {
    scheduler = module.scheduler.assign_public_ip
    worker    = module.worker.assign_public_ip
  }
}
