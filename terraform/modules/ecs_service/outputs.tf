output "name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "id" {
  description = "ID (ARN) of the ECS service."
  value       = aws_ecs_service.this.id
}

output "task_definition_arn" {
  description = "ARN of the task definition revision the service runs."
  value       = aws_ecs_task_definition.this.arn
}

output "log_group_name" {
  description = "Name of the service's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "security_group_id" {
  description = "ID of the tasks' security group."
  value       = aws_security_group.this.id
}

output "assign_public_ip" {
  description = "Whether the tasks get a public IP (always false: they run in private subnets)."
  value       = one(aws_ecs_service.this.network_configuration).assign_public_ip
}

output "desired_count" {
  description = "Task count the service is created with (autoscaling or the caller owns it afterwards)."
  value       = aws_ecs_service.this.desired_count
}

output "command" {
  description = "Command of the container (exec form); null when it keeps the image's."
  value       = try(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command, null)
}

output "ephemeral_storage_gib" {
  description = "Ephemeral storage of the task in GiB; null for Fargate's default (20 GiB)."
  value       = try(one(aws_ecs_task_definition.this.ephemeral_storage).size_in_gib, null)
}

output "service_registry_arns" {
  description = "Cloud Map services the tasks register in (empty for none)."
  value       = [for r in aws_ecs_service.this.service_registries : r.registry_arn]
}

output "autoscaling_capacity" {
  description = "min and max task counts of the service's autoscaling (null without autoscaling)."
  value = local.scaling == null ? null : {
    min = aws_appautoscaling_target.this[0].min_capacity
    max = aws_appautoscaling_target.this[0].max_capacity
  }
}

output "scaling_policies" {
  description = "Names of the service's scaling policies by kind (cpu, requests, backlog, scale_from_zero)."
  value = merge(
    { for p in aws_appautoscaling_policy.cpu : "cpu" => p.name },
    { for p in aws_appautoscaling_policy.requests : "requests" => p.name },
    { for p in aws_appautoscaling_policy.backlog : "backlog" => p.name },
    { for p in aws_appautoscaling_policy.scale_from_zero : "scale_from_zero" => p.name },
  )
}
