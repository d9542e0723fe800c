# The platform module's outputs, described there (modules/platform/outputs.tf), exposed under
# the same names by both envs: envs/aws/platform_outputs.tf is a link to this file. fmldev.stack
# reads buckets, queues, roles and user_role_arn; the IAM coverage report role_actions.
output "buckets" { value = module.platform.buckets }
output "queues" { value = module.platform.queues }
output "enqueue_dlq_url" { value = module.platform.enqueue_dlq_url }
output "functions" { value = module.platform.functions }
output "roles" { value = module.platform.roles }
output "user_role_arn" { value = module.platform.user_role_arn }
output "role_actions" { value = module.platform.role_actions }
output "events_topic_arn" { value = module.platform.events_topic_arn }
