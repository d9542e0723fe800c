output "buckets" {
  description = "Bucket names by role: datasets, models, inference, predictions."
  value       = module.platform.buckets
}

output "queues" {
  description = "Queue URLs: train, predict and their dead-letter queues train_dlq, predict_dlq."
  value       = module.platform.queues
}

output "functions" {
  description = "Enqueue Lambda function names by job kind: train, predict."
  value       = module.platform.functions
}

output "roles" {
  description = "Role ARNs by workload: trainer_api, trainer_worker, predictor_api, predictor_worker, enqueue."
  value       = module.platform.roles
}

output "user_role_arn" {
  description = "ARN of the platform's user role: what make demo, tests acting as a user and your aws s3 cp assume."
  value       = module.platform.user_role_arn
}

output "role_actions" {
  description = "Actions each role's policy grants (and the user role's, under \"user\"), for the IAM coverage report."
  value       = module.platform.role_actions
}
