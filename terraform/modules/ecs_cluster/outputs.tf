# Services name FARGATE/FARGATE_SPOT in their strategies: they may only be created once the
# capacity providers are associated with the cluster.
output "name" {
  description = "Name of the cluster (known once its capacity providers are associated)."
  value       = aws_ecs_cluster_capacity_providers.this.cluster_name
}

output "arn" {
  description = "ARN of the cluster (known once its capacity providers are associated)."
  value       = aws_ecs_cluster.this.arn

  depends_on = [aws_ecs_cluster_capacity_providers.this]
}

output "capacity_providers" {
  description = "Capacity providers available to the cluster's services."
  value       = aws_ecs_cluster_capacity_providers.this.capacity_providers
}

output "execution_role_arn" {
  description = "ARN of the task execution role (known once it has its policy)."
  value       = aws_iam_role.execution.arn

  depends_on = [aws_iam_role_policy.execution]
}
