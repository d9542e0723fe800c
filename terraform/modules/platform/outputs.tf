output "name" {
  description = "Prefix of every resource name: <project>-<environment>."
  value       = local.name
}

output "tags" {
  description = "Tags of every taggable resource: Project, Environment and the extra tags."
  value       = local.tags
}

output "buckets" {
  description = "Bucket names by role: datasets, models, inference, predictions."
  value       = { for role, bucket in module.storage : role => bucket.name }
}

output "bucket_arns" {
  description = "Bucket ARNs by role."
  value       = { for role, bucket in module.storage : role => bucket.arn }
}

output "queues" {
  description = "Queue URLs: train, predict and their dead-letter queues train_dlq, predict_dlq."
  value = merge(
    { for kind, queue in module.queue : kind => queue.url },
    { for kind, queue in module.queue : "${kind}_dlq" => queue.dlq_url },
  )
}

output "queue_names" {
  description = "Job queue names by kind: train, predict."
  value       = { for kind, queue in module.queue : kind => queue.name }
}

output "enqueue_dlq_url" {
  description = "URL of the queue that keeps S3 events the enqueue functions failed on."
  value       = aws_sqs_queue.enqueue_dlq.url
}

output "functions" {
  description = "Enqueue Lambda function names by job kind: train, predict."
  value       = { for kind, trigger in module.s3_trigger : kind => trigger.function_name }
}

output "dead_letter_function" {
  description = "Name of the function that turns dead letters into job statuses."
  value       = aws_lambda_function.dead_letter.function_name
}

# The five workloads whose processes assume their role locally (fmldev.stack requires exactly
# these); the Dask tasks' role, cloud-only, is dask_role_arn.
output "roles" {
  description = "Role ARNs by workload: trainer_api, trainer_worker, predictor_api, predictor_worker, enqueue."
  value       = { for k, arn in module.iam.role_arns : k => arn if k != "dask" }
}

output "dask_role_arn" {
  description = "ARN of the Dask tasks' role (reads datasets), with dask_cluster; null without."
  value       = lookup(module.iam.role_arns, "dask", null)
}

output "role_actions" {
  description = "Actions each role's policy grants (and the user role's, under \"user\"), for the IAM coverage report."
  value       = module.iam.role_actions
}

output "user_role_arn" {
  description = "ARN of the platform's user role: what make demo, tests acting as a user and your aws s3 cp assume locally; in the cloud, grant your users sts:AssumeRole on it."
  value       = module.iam.user_role_arn
}

output "dead_letter_queue_names" {
  description = "Dead-letter queue names: train_dlq, predict_dlq (jobs), enqueue_dlq (S3 events the functions failed on)."
  value = merge(
    { for kind, queue in module.queue : "${kind}_dlq" => queue.dlq_name },
    { enqueue_dlq = aws_sqs_queue.enqueue_dlq.name },
  )
}

output "events_topic_arn" {
  description = "ARN of the SNS topic every ended job (succeeded, failed, dead_lettered) is announced on, with its status record."
  value       = aws_sns_topic.job_events.arn
}

output "events_queue_url" {
  description = "URL of the queue subscribed to the job-events topic, with events_queue; null without."
  value       = try(aws_sqs_queue.job_events[0].url, null)
}
