variable "name" {
  description = "Name prefix of the roles (<name>-trainer-api, ..., <name>-enqueue, <name>-user)."
  type        = string
}

variable "bucket_arns" {
  description = "ARNs of the platform's buckets by role."
  type = object({
    datasets    = string
    models      = string
    inference   = string
    predictions = string
  })
}

variable "train_queue_arn" {
  description = "ARN of the train queue (the trainer API and the enqueue function send to it, the trainer worker consumes it)."
  type        = string
}

variable "predict_queue_arn" {
  description = "ARN of the predict queue (the enqueue function sends to it, the predictor worker consumes it)."
  type        = string
}

variable "enqueue_dlq_arn" {
  description = "ARN of the queue receiving the S3 events the enqueue functions failed on (their on-failure destination, sent with the function's role); null for none."
  type        = string
  default     = null
}

variable "events_topic_arn" {
  description = "ARN of the SNS topic ended jobs are announced on: the roles that end jobs (APIs, workers, functions) may publish to it."
  type        = string
}

variable "function_names" {
  description = "Names of the platform's functions (enqueue, dead-letter), which run under the enqueue role: it writes their log groups (/aws/lambda/<name>) only."
  type        = list(string)

  validation {
    condition     = length(var.function_names) > 0 && alltrue([for n in var.function_names : can(regex("^[A-Za-z0-9_-]{1,64}$", n))])
    error_message = "function_names must be Lambda function names."
  }
}

variable "dead_letter_queue_arns" {
  description = "ARNs of the dead-letter queues the dead-letter function consumes (the job queues' and the enqueue functions' failure queue)."
  type        = list(string)
  default     = []
}

variable "dask_cluster" {
  description = "envs/aws: the Dask cluster's ECS cluster and service names (scheduler, worker). Adds a `dask` role for its tasks (reads datasets, writes nothing) and lets the trainer worker scale exactly these services (ecs:UpdateService, ecs:DescribeServices). null (envs/local) for neither."
  type = object({
    cluster_name  = string
    service_names = list(string)
  })
  default = null

  validation {
    condition = var.dask_cluster == null || try(
      length(var.dask_cluster.service_names) > 0 && alltrue([for n in concat([var.dask_cluster.cluster_name], var.dask_cluster.service_names) : can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$", n))]),
      false,
    )
    error_message = "dask_cluster must name an ECS cluster and at least one service, literally (letters, digits, hyphens, underscores; no wildcards)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the buckets' KMS key, if they use SSE-KMS: every role may then encrypt and decrypt with it."
  type        = string
  default     = null
}

variable "local_operator_arn" {
  description = "Local stack only: the principal that assumes every role for the local processes (the emulator's account root). null on AWS, where ECS tasks and Lambda assume them."
  type        = string
  default     = null

  validation {
    condition     = var.local_operator_arn == null || can(regex("^arn:[a-z-]+:iam::[0-9]{12}:", var.local_operator_arn))
    error_message = "local_operator_arn must be an IAM principal ARN."
  }
}

variable "user_principal_arns" {
  description = "Principals that may assume the platform's user role; empty trusts the account (whoever it grants sts:AssumeRole on the role)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
