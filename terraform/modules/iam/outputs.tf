# Known once the roles have their policies, so no task starts with a role that can do nothing.
output "execution_role_arn" {
  description = "ARN of the task execution role."
  value       = aws_iam_role.execution.arn

  depends_on = [aws_iam_role_policy.execution]
}

output "task_role_arns" {
  description = "Task role ARNs by workload: trainer_api, trainer_worker, predictor_api, predictor_worker."
  value       = { for k, r in aws_iam_role.task : k => r.arn }

  depends_on = [aws_iam_role_policy.task]
}

output "task_role_names" {
  description = "Task role names by workload."
  value       = { for k, r in aws_iam_role.task : k => r.name }
}

output "task_actions" {
  description = "Actions granted to each task role (for review and tests)."
  value       = { for k, stmts in local.task_statements : k => sort(distinct(flatten([for s in stmts : s.actions]))) }
}
