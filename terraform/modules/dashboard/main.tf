# One CloudWatch dashboard of the platform: the workers' job metrics (Embedded Metric Format
# log lines that CloudWatch turns into metrics, no agent: fmlcore.jobs.metrics), beside the
# queue depths, the APIs' load balancer figures and the services' CPU and memory. The APIs'
# own Prometheus metrics (/metrics) are scraped inside the VPC, not sent here (docs/aws.md).

locals {
  kinds = sort(keys(var.job_queues))

  # One line per job kind of a worker metric, with this statistic.
  job_metric = {
    for metric in ["JobSeconds", "QueueWaitSeconds", "Rows", "Succeeded", "Failed", "Retried", "Attempts"] : metric => [
      for kind in local.kinds : [var.metrics_namespace, metric, "Kind", kind, { label = "${kind} ${metric}" }]
    ]
  }

  widgets = [
    {
      title   = "Jobs ended, by outcome (sum per 5 min)"
      stat    = "Sum"
      metrics = concat(local.job_metric.Succeeded, local.job_metric.Failed, local.job_metric.Retried)
    },
    {
      title   = "Job duration, seconds (p50, p90)"
      stat    = "p90"
      metrics = concat([for m in local.job_metric.JobSeconds : concat(slice(m, 0, 4), [{ stat = "p50", label = "${m[3]} p50" }])], [for m in local.job_metric.JobSeconds : concat(slice(m, 0, 4), [{ stat = "p90", label = "${m[3]} p90" }])])
    },
    {
      title   = "Queue wait before an attempt starts, seconds (p90), and the oldest waiting message"
      stat    = "p90"
      metrics = concat(local.job_metric.QueueWaitSeconds, [for kind, queue in var.job_queues : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue, { stat = "Maximum", label = "${kind} oldest message" }]])
    },
    {
      title   = "Rows read or scored by jobs (sum per 5 min)"
      stat    = "Sum"
      metrics = local.job_metric.Rows
    },
    {
      title   = "Queue depths: waiting and in flight"
      stat    = "Maximum"
      metrics = concat([for kind, queue in var.job_queues : [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, { label = "${kind} waiting" }], ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", queue, { label = "${kind} in flight" }]]]...)
    },
    {
      title   = "Dead-letter queues (anything here is an alarm)"
      stat    = "Maximum"
      metrics = [for label, queue in var.dead_letter_queues : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, { label = label }]]
    },
    {
      title   = "API requests and 5xx answers (sum per 5 min)"
      stat    = "Sum"
      metrics = concat([for svc, tg in var.api_target_groups : [["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.load_balancer, "TargetGroup", tg, { label = "${svc} requests" }], ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.load_balancer, "TargetGroup", tg, { label = "${svc} 5xx" }]]]...)
    },
    {
      title   = "API response time, seconds (p90)"
      stat    = "p90"
      metrics = [for svc, tg in var.api_target_groups : ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.load_balancer, "TargetGroup", tg, { label = svc }]]
    },
    {
      title   = "Service CPU and memory utilisation, % (average)"
      stat    = "Average"
      metrics = concat([for label, svc in var.service_names : [["AWS/ECS", "CPUUtilization", "ClusterName", var.cluster_name, "ServiceName", svc, { label = "${label} CPU" }], ["AWS/ECS", "MemoryUtilization", "ClusterName", var.cluster_name, "ServiceName", svc, { label = "${label} memory" }]]]...)
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      for i, w in local.widgets : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = floor(i / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = w.title
          region  = var.region
          view    = "timeSeries"
          stacked = false
          period  = 300
          stat    = w.stat
          metrics = w.metrics
        }
      }
    ]
  })
}
