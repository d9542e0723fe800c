output "buckets" {
  description = "Bucket names by role: datasets, models, inference, predictions."
  value       = { for role, bucket in module.storage : role => bucket.name }
}

output "queues" {
  description = "Queue URLs: train, predict and their dead-letter queues train_dlq, predict_dlq."
  value = merge(
    { for kind, queue in module.queue : kind => queue.url },
    { for kind, queue in module.queue : "${kind}_dlq" => queue.dlq_url },
  )
}

output "functions" {
  description = "Enqueue Lambda function names by job kind: train, predict."
  value       = { for kind, trigger in module.s3_trigger : kind => trigger.function_name }
}
