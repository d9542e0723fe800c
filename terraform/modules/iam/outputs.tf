# Known once the roles have their policies, so no task starts with a role that can do nothing.
output "role_arns" {
  description = "Role ARNs by workload: trainer_api, trainer_worker, predictor_api, predictor_worker, enqueue, and dask with dask_cluster."
  value       = { for k, r in aws_iam_role.this : k => r.arn }

  depends_on = [aws_iam_role_policy.this]
}

output "role_names" {
  description = "Role names by workload."
  value       = { for k, r in aws_iam_role.this : k => r.name }
}

output "role_actions" {
  description = "Actions granted to each role, and to the user role under key \"user\" (for review, tests and the IAM coverage report)."
  value = merge(
    { for k, stmts in local.statements : k => sort(distinct(flatten([for s in stmts : s.actions]))) },
    { user = sort(distinct(flatten([for s in local.user_statements : s.actions]))) },
  )
}

output "user_role_arn" {
  description = "ARN of the platform's user role (put datasets and files to score, read predictions and job status)."
  value       = aws_iam_role.user.arn

  depends_on = [aws_iam_role_policy.user]
}
