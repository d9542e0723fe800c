mock_provider "aws" {}

variables {
  name              = "fml-test"
  region            = "us-east-1"
  metrics_namespace = "fargate-ml/fml-test"
  job_queues        = { train = "fml-test-train", predict = "fml-test-predict" }
  dead_letter_queues = {
    train_dlq   = "fml-test-train-dlq"
    predict_dlq = "fml-test-predict-dlq"
    enqueue_dlq = "fml-test-enqueue-dlq"
  }
  load_balancer     = "app/fml-test/1"
  api_target_groups = { trainer = "targetgroup/fml-test-trainer/2", predictor = "targetgroup/fml-test-predictor/3" }
  cluster_name      = "fml-test"
  service_names     = { "trainer-worker" = "fml-test-trainer-worker", "predictor-api" = "fml-test-predictor-api" }
}

run "job_metrics_beside_the_queues" {
  command = plan

  assert {
    condition = alltrue([
      for metric in ["JobSeconds", "QueueWaitSeconds", "Rows", "Succeeded", "Failed", "Retried"] : alltrue([
        for kind in ["predict", "train"] : anytrue([
          for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : anytrue([
            for m in w.properties.metrics : m[0] == "fargate-ml/fml-test" && m[1] == metric && m[2] == "Kind" && m[3] == kind
          ])
        ])
      ])
    ])
    error_message = "Every job metric of both kinds (the workers' EMF names, dimension Kind) must be on the dashboard."
  }

  assert {
    condition = alltrue([
      for queue in ["fml-test-train", "fml-test-predict", "fml-test-train-dlq", "fml-test-predict-dlq", "fml-test-enqueue-dlq"] : anytrue([
        for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : anytrue([
          for m in w.properties.metrics : m[0] == "AWS/SQS" && m[1] == "ApproximateNumberOfMessagesVisible" && m[3] == queue
        ])
      ])
    ])
    error_message = "Every job queue's and dead-letter queue's depth must be on the dashboard."
  }

  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.region == "us-east-1" && w.width == 12 && w.x + w.width <= 24
    ])
    error_message = "Widgets must fit the 24-column grid and name their region."
  }
}
