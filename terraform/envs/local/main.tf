# The emulator's share of the platform: the whole data plane and its IAM (buckets with their
# policies, queues, S3 -> Lambda -> SQS triggers, the five workload roles and the user role),
# from the same `platform` module as envs/aws. Only the cloud's compute and network (VPC,
# ECS, ALB, API Gateway, autoscaling) are left out: locally those are processes.

terraform {
  # The state path is machine-specific: pass it with -backend-config=path=...
  # (modules/platform/versions.tf pins Terraform and the provider for both envs).
  backend "local" {}
}

provider "aws" {
  region = var.region
  # The emulator's account root: Terraform administers the stack with it, and the local
  # processes use it only to assume their roles. Every service's endpoint is the emulator's:
  # the standard AWS_ENDPOINT_URL (set by `make localstack-up`, like AWS_CA_BUNDLE for its
  # TLS certificate) points the provider there, as it does the aws CLI and boto3.
  access_key = "test"
  secret_key = "test"

  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true
}

# Only what differs from the cloud (envs/aws): the emulator's account root assumes the roles
# (target), buckets go with their objects, old versions last a week, and a job dead-letters
# after 3 receives, soon enough for the fault tests. Names, tags, outputs and the other
# defaults are the module's.
module "platform" {
  source = "../../modules/platform"

  target                             = "local"
  environment                        = "local"
  lambda_zip_path                    = var.lambda_zip_path
  force_destroy                      = true
  noncurrent_version_expiration_days = 7
  max_receive_count                  = 3
  # A queue subscribed to the job-events topic, to read events from (output notifications).
  events_queue = true
}

output "notifications" {
  description = "Where ended jobs are announced: the SNS topic and the local queue subscribed to it (aws sqs receive-message --queue-url ...)."
  value = {
    topic_arn = module.platform.events_topic_arn
    queue_url = module.platform.events_queue_url
  }
}
