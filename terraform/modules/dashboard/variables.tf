variable "name" {
  description = "Dashboard name (the stack's <project>-<environment>)."
  type        = string
}

variable "region" {
  description = "Region whose metrics the widgets show."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the workers' job metrics (FML_METRICS_NAMESPACE; Embedded Metric Format log lines, dimension Kind)."
  type        = string
}

variable "job_queues" {
  description = "Job queue names by kind (train, predict): depth and age of the oldest message."
  type        = map(string)
}

variable "dead_letter_queues" {
  description = "Dead-letter queue names by label (train_dlq, predict_dlq, enqueue_dlq)."
  type        = map(string)
}

variable "load_balancer" {
  description = "ARN suffix of the APIs' load balancer (the CloudWatch dimension LoadBalancer)."
  type        = string
}

variable "api_target_groups" {
  description = "Per API service, the ARN suffix of its target group (the CloudWatch dimension TargetGroup)."
  type        = map(string)
}

variable "cluster_name" {
  description = "ECS cluster of the services."
  type        = string
}

variable "service_names" {
  description = "ECS service names by label (trainer-api, predictor-worker, ...): CPU and memory utilisation."
  type        = map(string)
}
