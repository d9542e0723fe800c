output "name" {
  description = "Name of the dashboard (CloudWatch console, Dashboards)."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "widget_titles" {
  description = "The dashboard's widget titles, in order."
  value       = [for w in local.widgets : w.title]
}
